/* Path helpers with no policy of their own: lexical clean-up, the one
 * component-wise prefix check, and the one openat2 with its fallback for
 * kernels (and valgrind) without it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Lexical clean-up of a path inside the container: collapses "//" and "/./",
 * drops a trailing "/", makes a relative path absolute (as runc does for mount
 * destinations).  Returns NULL (errno EINVAL) when a component is "..", or
 * ENOMEM.  Used to compare mount destinations. */
char *nsfd_oci_path_clean (const char *path);

/* The prefix check: when path equals prefix or lies beneath it,
 * component-wise ("/a/b" covers "/a/b" and "/a/b/c", not "/a/bc"; a prefix's
 * trailing '/' does not count; "/" covers every absolute path), the rest of
 * path after the prefix without its leading '/' ("" for prefix itself);
 * otherwise NULL.  Purely lexical: callers pass clean or resolved paths. */
const char *nsfd_path_after_prefix (const char *path, const char *prefix);
/* nsfd_path_after_prefix (path, prefix) != NULL. */
bool nsfd_path_is_beneath (const char *path, const char *prefix);

/* openat2 (dirfd, path, {flags | O_CLOEXEC, mode, resolve}); mode only counts
 * with O_CREAT or O_TMPFILE.  Returns an fd, or -1 with errno.  Where the
 * kernel answers ENOSYS (before 5.6, valgrind) that is remembered and this
 * and every later call walk with nsfd_openat_walk instead: RESOLVE_IN_ROOT as
 * its in_root walk, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS or RESOLVE_NO_SYMLINKS
 * as its plain walk (which also refuses ".."); RESOLVE_NO_MAGICLINKS may be
 * added to either (the walk follows no magic link).  Any other combination
 * fails there with ENOSYS. */
int nsfd_openat2 (int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve);
/* For tests: true makes nsfd_openat2 behave as if the kernel lacked openat2;
 * false forgets that (the next call asks the kernel again). */
void nsfd_openat2_force_fallback (bool on);

/* The fallback itself: walks rel from dirfd one component at a time with
 * O_NOFOLLOW.  in_root false: like RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (a
 * symlink anywhere is ELOOP, ".." or an absolute rel is EXDEV).  in_root
 * true: like RESOLVE_IN_ROOT, symlinks are resolved inside dirfd's tree
 * (absolute targets and ".." stop at dirfd), at most 40 of them; the caller
 * must still check where the result is, as a concurrent rename can move a
 * directory out of the tree during the walk.  Returns an fd, or -1 with errno.
 * dirfd AT_FDCWD with an absolute rel walks from "/" (in_root false only). */
int nsfd_openat_walk (int dirfd, const char *rel, int flags, mode_t mode, bool in_root);
