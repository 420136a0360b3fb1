/* nsfdsuds-runtime: a thin OCI runtime wrapper for runtimes that pivot into a
 * root they opened before any hook runs (runc 1.3.6+, 1.4.3+, 1.5).  For
 * `create`/`run` of an activated container it mounts the persistent overlay
 * on the bundle's rootfs inside a private mount namespace (a slave of the
 * host's) and runs the real runtime there, so the runtime builds the container
 * on the overlay.  Everything else is exec'd unchanged.  The shared story is
 * lib/session.c; see docs/runtime-wrapper.md. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "runtime-args.h"
#include "session.h"

/* The real runtime: NSFDSUDS_RUNTIME, else runtimePath of the config. */
const char *runtime_real (const struct nsfd_config *cfg);
/* execv of the real runtime with our argv, byte for byte; never returns. */
__attribute__ ((noreturn)) void runtime_exec (const char *path, char **argv);
/* Runs it as a child, passing signals on; returns its wait status or -1. */
int runtime_run (const char *path, char **argv);
/* The exit code a wait status stands for. */
int runtime_exit_code (int status);
/* The container's init pid after create: --pid-file, else `runtime state`.
 * 0: the runtime answered without one; -1: no answer (it could not be run, or
 * did not answer in time). */
pid_t runtime_container_pid (const char *runtime, const struct nsfd_runtime_args *a);
/* True when `runtime state ID` failed saying the container does not exist
 * (a checkpoint without --leave-running removed it). */
bool runtime_container_unknown (const char *runtime, const struct nsfd_runtime_args *a);
/* After the real runtime's checkpoint or delete failed: a container we set
 * up that the runtime no longer has gets its layer released and
 * <runDir>/<id> removed, with a warning naming why (runtime-gone.c).
 * Returns true when that was done. */
bool runtime_end_if_gone (struct nsfd_session *s, const struct nsfd_runtime_args *a, const char *cmd);

/* In a new private mount namespace (a slave of the host's): opens and holds
 * the layer, mounts the overlay on the rootfs, hides the volume, and writes
 * <runDir>/<id>/record (runtime-prepare.c). */
int runtime_prepare_root (struct nsfd_session *s, nsfd_error_t *err);
/* The same with check called once the layer is open, before it is held
 * (restore: is it the checkpoint's layer?). */
typedef int (*runtime_layer_check) (struct nsfd_session *s, void *ctx, nsfd_error_t *err);
int runtime_prepare_root_checked (struct nsfd_session *s, runtime_layer_check check, void *ctx, nsfd_error_t *err);

/* checkpoint ID of a container we set up: the real runtime's checkpoint, the
 * layer made durable, the record written into the image directory
 * (runtime-checkpoint.c).  Returns the exit code. */
int runtime_checkpoint (struct nsfd_session *s, const struct nsfd_runtime_args *a, char **argv);
/* restore of an activated container: the root as for create, checked
 * against the checkpoint's record, then the real runtime's restore on it
 * (runtime-restore.c).  The exit code, or <0 with err. */
int runtime_restore (struct nsfd_session *s, const struct nsfd_runtime_args *a, const char *bundle, char **argv,
                     nsfd_error_t *err);
/* The checkpoint's image directory: --image-path, else ./checkpoint as in
 * runc and crun. */
const char *runtime_image_dir (const struct nsfd_runtime_args *a);

/* After the real runtime's create, run or restore: a failure, or a container
 * that has already ended (running false), frees the layer; else the
 * container's pid goes into holder.json.  Returns the exit code. */
int runtime_after_start (struct nsfd_session *s, const struct nsfd_runtime_args *a, int status, bool running);

/* A success line: the system log only.  During create/restore the engine
 * hands the runtime the container's own stdio, so a line on stderr would
 * become the first line of the container's log (kubectl logs), host paths
 * and all. */
void runtime_log_success (const struct nsfd_session *s, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Appends our error line to the engine's --log file in its format, where
 * containerd's shim and CRI-O look for a failed create's reason. */
void runtime_log_for_engine (const struct nsfd_runtime_args *a, const char *what, const char *msg);
