/* A bounded, streaming walk of an overlay upper directory (or any tree we
 * do not trust): openat-relative with O_NOFOLLOW, an explicit stack instead
 * of recursion, a depth limit, the entries of one directory at a time in
 * byte order, and each entry classified the way overlayfs reads it
 * (whiteout, opaque directory, hard link).  Used by the layer tools
 * (docs/layers.md). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "error.h"

#define NSFD_SCAN_MAX_DEPTH 4096
#define NSFD_XATTR_OPAQUE "trusted.overlay.opaque"

enum nsfd_scan_type
{
  NSFD_FT_FILE,
  NSFD_FT_DIR,
  NSFD_FT_SYMLINK,
  NSFD_FT_CHAR,
  NSFD_FT_BLOCK,
  NSFD_FT_FIFO,
  NSFD_FT_SOCKET,
  NSFD_FT_WHITEOUT,   /* character device 0:0 */
};

/* "file", "dir", "symlink", "char", "block", "fifo", "socket", "whiteout". */
const char *nsfd_scan_type_name (enum nsfd_scan_type t);
enum nsfd_scan_type nsfd_scan_type_of (const struct stat *st);

struct nsfd_scan_entry
{
  int parent_fd;            /* the directory holding it (-1 for the root) */
  int fd;                   /* directories: the directory, O_RDONLY; else -1 */
  const char *name;         /* name in parent_fd ("" for the root) */
  const char *path;         /* from the root: "" for the root, "a/b" below */
  size_t path_len;
  unsigned depth;           /* 0 for the root */
  struct stat st;           /* lstat */
  enum nsfd_scan_type type;
  bool opaque;              /* directory with trusted.overlay.opaque = "y" */
  const char *link_first;   /* another name of the same inode met earlier, else NULL */
};

/* enter: for every entry, a directory before its children; returns <0 to
 * stop (with *err set), 1 to skip a directory's children, else 0.  leave
 * (may be NULL): for every directory after its children. */
struct nsfd_scan_ops
{
  int (*enter) (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err);
  int (*leave) (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err);
  void *data;
  unsigned max_depth;       /* 0: NSFD_SCAN_MAX_DEPTH */
  bool include_root;        /* call enter/leave for the root itself */
  bool track_links;         /* fill link_first (a table of multiply-linked inodes) */
};

/* Walks the directory root_fd.  An entry that vanishes during the walk is
 * skipped; one replaced by something else, or a tree deeper than the limit,
 * is an error naming the path. */
int nsfd_scan (int root_fd, const struct nsfd_scan_ops *ops, nsfd_error_t *err);

/* The extended attributes of one entry, sorted by name.  Reused across
 * calls (free once with nsfd_xattrs_free). */
struct nsfd_xattr
{
  const char *name;
  const char *value;
  size_t len;
};
struct nsfd_xattrs
{
  size_t n;
  struct nsfd_xattr *v;
  char *names;              /* the list buffer */
  char *values;             /* all values, back to back */
  size_t values_cap;
};
void nsfd_xattrs_free (struct nsfd_xattrs *x);

/* Reads the xattrs of e: through fd when >= 0 (an fd of the entry itself),
 * else through an O_PATH|O_NOFOLLOW fd of it (never following a symlink). */
int nsfd_xattrs_read (const struct nsfd_scan_entry *e, int fd, struct nsfd_xattrs *x, nsfd_error_t *err);
/* The same for an entry given by name in dirfd (NULL name: dirfd itself). */
int nsfd_xattrs_read_at (int dirfd, const char *name, int fd, struct nsfd_xattrs *x, nsfd_error_t *err);

/* Opens the regular file e for reading without following a symlink or
 * blocking on a fifo, and checks it is still the inode the walk saw. */
int nsfd_scan_open_file (const struct nsfd_scan_entry *e, nsfd_error_t *err);

/* Appends s to out (cap bytes) with control characters and backslash
 * escaped (\n, \t, \\, \xNN), for human output of untrusted names.
 * Truncates with "..." when it does not fit. */
const char *nsfd_escape_name (const char *s, char *out, size_t cap);
