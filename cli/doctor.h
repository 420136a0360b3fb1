/* `nsfdsuds doctor`: can this node run persistent roots, and which way in
 * works here?  cmd-doctor.c runs a table of steps (doctor-*.c, one concern
 * each); each step adds checks (ok / warn / fail, one line of evidence, a fix
 * for warn and fail) to the report, which is printed as a table or as JSON
 * (docs/install.md, "Checking a node"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "error.h"

/* Evidence lines and paths are cut at their (generous) buffers on purpose: a
 * report line is never worth an error. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define NSFD_DOCTOR_MAX_LIST 16      /* --hooks-dir, --runtime, runtimes found */
#define NSFD_DOCTOR_MAX_CHECKS 256
#define NSFD_DOCTOR_MAX_HANDLERS 32  /* containerd runtime handlers read */
#define NSFD_DOCTOR_PROBE_DIR "/run/nsfdsuds-doctor"
#define NSFD_DOCTOR_ID_PREFIX "nsfdsuds-doctor-"

enum nsfd_doctor_status
{
  NSFD_DOCTOR_OK = 0,
  NSFD_DOCTOR_WARN = 1,
  NSFD_DOCTOR_FAIL = 2,
};

enum nsfd_doctor_pivot
{
  NSFD_PIVOT_UNKNOWN = 0,  /* not probed, or the probe failed */
  NSFD_PIVOT_PATH,         /* pivots into the rootfs path: hook mode works */
  NSFD_PIVOT_PREOPENED,    /* pivots into a root opened before the hooks: use the wrapper */
};

struct nsfd_doctor_check
{
  char name[32];
  char *subject;    /* the path or thing checked, or NULL */
  enum nsfd_doctor_status status;
  char *evidence;
  char *fix;        /* NULL for ok */
};

struct nsfd_doctor_runtime
{
  char path[4096];
  char from[32];        /* where it was found: "--runtime", "config", "PATH", "containerd", "CRI-O" */
  dev_t dev;
  ino_t ino;
  char name[16];        /* "runc", "crun" or the basename */
  char version[64];
  enum nsfd_doctor_pivot pivot;
  char reason[512];     /* why the probe failed, when it did */
  bool usable;          /* it ran --version */
};

/* A containerd runtime handler that names nsfdsuds (doctor-containerd.c). */
struct nsfd_doctor_handler
{
  char name[128];
  char file[4096];          /* the config file it came from */
  char binary[4096];        /* options.BinaryName, "" when unset */
  char base_spec[4096];     /* base_runtime_spec, "" when unset */
  bool has_pod_ann, has_cont_ann;
  bool pod_ann_ok, cont_ann_ok;   /* a glob passes nsfdsuds.io/<key> */
};

struct nsfd_doctor
{
  /* options */
  const char *config_path;
  bool config_explicit;
  const char *hooks_dirs[NSFD_DOCTOR_MAX_LIST];
  size_t n_hooks_dirs;
  const char *containerd_config;
  bool containerd_explicit;
  const char *crio_config_dir;
  const char *runtime_opts[NSFD_DOCTOR_MAX_LIST];
  size_t n_runtime_opts;
  const char *probe_dir;
  const char *busybox;
  unsigned probe_timeout_ms;
  bool json;

  /* what the steps learn */
  struct nsfd_config cfg;      /* the file's, or the defaults when it failed */
  bool cfg_ok;
  char cfg_error[1024];        /* why it did not load */
  struct nsfd_doctor_runtime runtimes[NSFD_DOCTOR_MAX_LIST];
  size_t n_runtimes;
  struct nsfd_doctor_handler handlers[NSFD_DOCTOR_MAX_HANDLERS];
  size_t n_handlers;
  char crio_runtimes[NSFD_DOCTOR_MAX_LIST][4096];  /* runtime_path values */
  size_t n_crio_runtimes;
  bool hooksd_registered;      /* our hooks.d files found (CRI-O / Podman hook mode) */
  bool crio_wrapper;           /* a CRI-O runtime whose runtime_path is our wrapper */
  size_t containerd_ours;      /* containerd handlers that name nsfdsuds */

  struct nsfd_doctor_check checks[NSFD_DOCTOR_MAX_CHECKS];
  size_t n_checks;
};

/* Adds a check; the evidence is formatted.  Returns it, so the caller can add
 * the fix.  Past NSFD_DOCTOR_MAX_CHECKS the last slot is reused (never NULL). */
struct nsfd_doctor_check *nsfd_doctor_add (struct nsfd_doctor *d, const char *name, const char *subject,
                                           enum nsfd_doctor_status status, const char *fmt, ...)
  __attribute__ ((format (printf, 5, 6)));
void nsfd_doctor_fix (struct nsfd_doctor_check *c, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void nsfd_doctor_free (struct nsfd_doctor *d);
/* The worst status of all checks. */
enum nsfd_doctor_status nsfd_doctor_verdict (const struct nsfd_doctor *d);
void nsfd_doctor_print_table (const struct nsfd_doctor *d, long long elapsed_ms);
int nsfd_doctor_print_json (const struct nsfd_doctor *d, long long elapsed_ms);
const char *nsfd_doctor_status_name (enum nsfd_doctor_status s);
const char *nsfd_doctor_pivot_name (enum nsfd_doctor_pivot p);

/* Set by the SIGTERM/SIGINT/SIGHUP handler (the signal number); the probe's
 * wait loop and the step loop stop on it, after cleaning up. */
extern volatile int nsfd_doctor_signal;

/* The steps, in the order they run. */
void nsfd_doctor_config_load (struct nsfd_doctor *d);   /* silent: fills cfg */
void nsfd_doctor_engines_gather (struct nsfd_doctor *d); /* silent: handlers, CRI-O runtimes */
void nsfd_doctor_containerd_gather (struct nsfd_doctor *d);
void nsfd_doctor_kernel (struct nsfd_doctor *d);
void nsfd_doctor_runtimes (struct nsfd_doctor *d);
void nsfd_doctor_hooksd (struct nsfd_doctor *d);
void nsfd_doctor_containerd (struct nsfd_doctor *d);
void nsfd_doctor_engines (struct nsfd_doctor *d);        /* mismatches, registration */
void nsfd_doctor_config (struct nsfd_doctor *d);
void nsfd_doctor_rundir (struct nsfd_doctor *d);

/* The runtime that path names, or NULL (compared by inode). */
const struct nsfd_doctor_runtime *nsfd_doctor_find_runtime (const struct nsfd_doctor *d, const char *path);
/* "runc 1.1.5" for messages. */
const char *nsfd_doctor_runtime_label (const struct nsfd_doctor_runtime *r, char *buf, size_t cap);

/* ---- doctor-probe.c: the probe container ---- */
struct nsfd_doctor_probe_set;
/* Removes what an earlier doctor run that was killed left under probe_dir
 * (containers by id in their own state root, then the files).  Returns how
 * many containers it removed; *what describes them. */
int nsfd_doctor_probe_clean_stale (const char *probe_dir, char *what, size_t cap);
/* Runs a probe container with every runtime of d (in parallel, bounded by
 * d->probe_timeout_ms) and sets their pivot and reason.  Everything it
 * creates is removed before it returns, also when a signal stops it. */
void nsfd_doctor_probe_runtimes (struct nsfd_doctor *d);

/* ---- doctor-exec.c: child processes, bounded ---- */
/* Starts argv[0] (a path) with stdin /dev/null and stdout/stderr to the given
 * files (NULL: /dev/null), in its own process group.  Returns the pid or -1. */
pid_t nsfd_doctor_spawn (char *const argv[], const char *out_path, const char *err_path);
/* Waits for the pids (entries <= 0 are skipped) until deadline_ms
 * (nsfd_now_ms clock), or, when interruptible, a signal; each finished one
 * gets its wait status in status[i] and its pid set to 0.  Returns how many
 * still run. */
size_t nsfd_doctor_wait (pid_t *pids, int *status, size_t n, long long deadline_ms, bool interruptible);
/* SIGKILL and reap (the process group, then the pid). */
void nsfd_doctor_kill (pid_t pid);
/* Runs argv to completion within timeout_ms (a signal does not cut it short:
 * used for cleanup); returns the wait status, or -1 when it could not start
 * or was killed at the deadline. */
int nsfd_doctor_run (char *const argv[], const char *out_path, const char *err_path, unsigned timeout_ms);
/* The first line (or the last non-empty one, last true) of a small file, trimmed. */
void nsfd_doctor_file_line (const char *path, bool last, char *buf, size_t cap);

/* ---- doctor-toml.c: a minimal TOML reading, line by line ---- */
/* Calls fn for each `key = value` with the current [table] header; value is
 * the raw text after '=' (a multi-line array is joined into one line),
 * without a trailing comment.  Returns -1 when the file cannot be read. */
int nsfd_doctor_toml_each (const char *path, void (*fn) (void *ctx, const char *table, const char *key,
                                                          const char *value),
                           void *ctx);
/* The strings of a TOML string or array-of-strings value, at most max; returns the count. */
size_t nsfd_doctor_toml_strings (const char *value, char out[][4096], size_t max);
