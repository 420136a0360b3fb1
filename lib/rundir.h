/* The per-container runtime directory, <runDir>/<container id>/:
 *   socket    the mounter's listening socket (owned by the container's root
 *             so that a user-namespaced agent can connect)
 *   newroot/  staging directory where the overlay is assembled (hook mode)
 *   stubs/    where the stub layer (mount points the lower lacks) is built
 *   record    what poststop needs: the layer path and the mounter's pid
 * <runDir> is 0711 root; <id>/ is 0711 root; newroot and record are root-only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define NSFD_RUNDIR_SOCKET "socket"
#define NSFD_RUNDIR_STAGING "newroot"
#define NSFD_RUNDIR_RECORD "record"
#define NSFD_RUNDIR_STUBS "stubs"

struct nsfd_record
{
  char layer_path[4096];
  pid_t mounter_pid;
  unsigned long long mounter_start;
  pid_t container_pid;               /* hook mode: the container's init at createRuntime */
  unsigned long long container_start;
  bool by_wrapper;   /* nsfdsuds-runtime set this container up: the hook stands aside */
};

/* Creates <run_dir>/<id>/ and newroot/; fails with EEXIST when <id>/ exists
 * and holds a socket (another create for the same id is in progress), or a
 * record naming a container init that still runs (the same id under another
 * runtime root).  A socket that only a failed start left (its record's
 * mounter and container init both gone, or no record and nobody listening)
 * is removed with the rest of <id>/, with a warning, and the create goes on:
 * a runtime that runs no poststop after a failed create (crun) leaves one.
 * Returns an fd of <id>/. */
int nsfd_rundir_create (const char *run_dir, const char *id, nsfd_error_t *err);
/* Opens <run_dir>/<id>/ (O_PATH|O_DIRECTORY) without following symlinks. */
int nsfd_rundir_open (const char *run_dir, const char *id, nsfd_error_t *err);
/* Removes <run_dir>/<id>/ and everything in it (our files only). */
int nsfd_rundir_remove (const char *run_dir, const char *id, nsfd_error_t *err);
/* "<run_dir>/<id>/<name>" into buf (bounded). */
int nsfd_rundir_path (const char *run_dir, const char *id, const char *name, char *buf, size_t cap,
                      nsfd_error_t *err);

int nsfd_record_write (int id_dir_fd, const struct nsfd_record *r, nsfd_error_t *err);
/* Records pid (and its start time) as the container's init in the record of
 * <run_dir>/<id>/, once the runtime has created it (the wrapper learns it
 * only then). */
int nsfd_record_set_container (const char *run_dir, const char *id, pid_t pid, nsfd_error_t *err);
int nsfd_record_read (int id_dir_fd, struct nsfd_record *r, nsfd_error_t *err);
