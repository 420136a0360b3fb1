/* Internal to import-tree.c and import-entry.c: the walk's state. */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "import-links.h"
#include "import-tree.h"

#define NSFD_XATTR_BUF (64 * 1024)

enum frame_kind
{
  F_COPY,  /* entries of src are created in dst */
  F_FIX,   /* entries of src are converted where they are */
  F_MERGE, /* src is a lower directory merged into the existing dst */
  F_SCAN,  /* entries are only classified */
};

struct frame
{
  enum frame_kind kind;
  DIR *d;                    /* the source directory */
  int dst;                   /* the target directory (F_FIX: -1, the source itself) */
  struct timespec times[2];  /* restored when the directory is done */
  size_t path_len;           /* length of walk.path for this directory */
  char *lower;               /* where this directory's entries live in the lower, or NULL */
  bool materialise;          /* a redirected directory: merge the lower in, mark it opaque */
  bool merged;
};

struct walk
{
  const struct nsfd_import_opts *o;
  struct nsfd_import_stats *st;
  struct nsfd_links links;
  struct frame *frames;
  size_t depth, max_depth;
  int root_dst;              /* the target root, for hard links */
  char *path;                /* the current entry, relative to the root */
  size_t path_len, path_cap;
  int cwd;                   /* the directory fchdir()ed to, or -1 */
  char *xlist;               /* NSFD_XATTR_BUF each */
  unsigned char *xval;
  char *iobuf;
  unsigned char cap[24];     /* FIX with a shift: security.capability read before the chown */
  size_t cap_len;
  unsigned entry_refusals;   /* reasons reported for the current entry */
  char q[512];               /* quoted path for messages */
};

/* What the source entry's attributes say. */
struct meta
{
  bool whiteout, opaque, metacopy, rewrite; /* rewrite: FIX must change attributes */
  char *redirect;                           /* overlay.redirect value */
  ssize_t list_len;                         /* in walk.xlist */
};

/* An entry to read or change attributes of: an fd, or a name in a directory
 * (symlinks, devices and fifos are never opened). */
struct handle
{
  int fd;
  int dirfd;
  const char *name;
};

const char *walk_quote (struct walk *w);
int walk_path_push (struct walk *w, const char *name, nsfd_error_t *err);
void walk_refuse (struct walk *w, const char *what);
char *walk_join (const char *dir, const char *name);

/* import-entry.c */
int entry_classify (struct walk *w, const struct handle *h, const struct stat *st, bool have_lower,
                    struct meta *m, nsfd_error_t *err);
void meta_free (struct meta *m);
int entry_apply_xattrs (struct walk *w, const struct handle *src, const struct handle *dst,
                        const struct meta *m, bool in_place, nsfd_error_t *err);
int entry_copy_data (struct walk *w, int in, int out, const struct stat *st, nsfd_error_t *err);
int entry_set_owner_mode (struct walk *w, const struct handle *h, const struct stat *st, nsfd_error_t *err);
int entry_set_times (struct walk *w, const struct handle *h, const struct stat *st, nsfd_error_t *err);
/* lower: where the entry's directory is in the lower (NULL: nowhere). */
int entry_copy_nondir (struct walk *w, struct frame *f, const char *name, const struct stat *st,
                       const char *lower, nsfd_error_t *err);
int entry_fix_nondir (struct walk *w, struct frame *f, const char *name, const struct stat *st,
                      const char *lower, nsfd_error_t *err);
int entry_open_lower_file (struct walk *w, const char *rel, struct stat *st, nsfd_error_t *err);
