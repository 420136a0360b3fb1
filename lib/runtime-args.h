/* Understanding an OCI runtime command line (runc and crun syntax) just well
 * enough to find the subcommand, the container id and the bundle, without
 * changing a byte of it. */
#pragma once

#include <stddef.h>

struct nsfd_runtime_args
{
  int cmd_index;          /* argv index of the subcommand, -1 when none */
  const char *cmd;        /* "create", "run", "delete", ... or NULL */
  const char *id;         /* first positional argument after the subcommand */
  const char *bundle;     /* --bundle/-b value, NULL when absent (default: cwd) */
  const char *pid_file;   /* --pid-file value */
  const char *root;       /* global --root value */
  const char *log;        /* global --log value (the engine reads errors from it) */
  const char *log_format; /* global --log-format value ("text", "json") */
  const char *image_path; /* checkpoint/restore --image-path (default: ./checkpoint) */
  const char *work_path;  /* checkpoint/restore --work-path */
  int detach;             /* run -d / --detach */
  int leave_running;      /* checkpoint --leave-running */
};

/* Never fails: anything it does not understand is left for the runtime. */
void nsfd_runtime_args_parse (int argc, char *const *argv, struct nsfd_runtime_args *out);
