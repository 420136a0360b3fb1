/* Path handling for privileged code: nothing is followed that we did not
 * create.  Everything below a trusted directory fd is resolved with openat2
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS and checked with
 * fstat. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"
#include "pathutil.h"  /* nsfd_openat2, nsfd_openat_walk */

/* openat2 beneath dirfd with no symlinks anywhere in rel.  flags must include
 * O_CLOEXEC (added if missing).  rel may be "" or "." for dirfd itself. */
int nsfd_open_beneath (int dirfd, const char *rel, int flags, mode_t mode, nsfd_error_t *err);

/* Opens an absolute host path whose first part is a trusted prefix (the admin's
 * allowed volume prefix, which may contain symlinks the admin made) and whose
 * remainder must contain no symlinks.  Returns an O_PATH|O_DIRECTORY fd. */
int nsfd_open_dir_under_prefix (const char *prefix, const char *path, nsfd_error_t *err);

/* Creates directory name in dirfd if missing (mode, owner) and opens it
 * O_DIRECTORY|O_NOFOLLOW.  An existing entry must be a real directory owned by
 * uid (when uid != (uid_t)-1).  *created tells whether it was made now. */
int nsfd_mkdir_open (int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
                     bool *created, nsfd_error_t *err);

/* Checks that fd is a directory (or regular file when want_dir is false) owned
 * by uid (unless -1) and not writable by group/other. */
int nsfd_check_owned (int fd, const char *what, bool want_dir, uid_t uid, nsfd_error_t *err);

/* 1 when both fds refer to the same inode. */
int nsfd_same_inode (int fd_a, int fd_b, nsfd_error_t *err);

/* Removes a directory tree beneath dirfd without following symlinks (used for
 * our own scratch directories only). */
int nsfd_rm_rf_at (int dirfd, const char *name, nsfd_error_t *err);

/* Writes data to name in dirfd atomically (temporary file + fsync + rename). */
int nsfd_write_file_atomic (int dirfd, const char *name, const char *data, size_t len,
                            mode_t mode, nsfd_error_t *err);
/* The same without fsync: for records that mean nothing after a crash (the
 * holder record names a boot id, the runtime record lives in /run), where an
 * fsync on every container start would only cost time. */
int nsfd_write_file_replace (int dirfd, const char *name, const char *data, size_t len,
                             mode_t mode, nsfd_error_t *err);
/* Reads a regular file beneath dirfd (no symlinks) of at most max bytes. */
int nsfd_read_file_at (int dirfd, const char *name, size_t max, char **out, size_t *len,
                       nsfd_error_t *err);

/* "/proc/self/fd/N" for fd, in buf. */
const char *nsfd_fd_path (int fd, char buf[static 32]);
