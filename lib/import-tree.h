/* The tree walk of `nsfdsuds layer import`: copies an overlay upper tree
 * into a new layer's upper (or fixes a moved one in place) while applying the
 * conversion rules of import-rules.h.  The source is untrusted: nothing in
 * it is followed (symlinks are copied as symlinks, fifos and devices are
 * made with mknodat and never opened), every entry is created with *at()
 * calls relative to directory fds the walk made, the depth is bounded and
 * the walk uses an explicit stack, not recursion. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "import-rules.h"

#define NSFD_IMPORT_MAX_DEPTH 4096

enum nsfd_import_mode
{
  NSFD_IMPORT_COPY, /* build dst_parent/dst_name from the source */
  NSFD_IMPORT_FIX,  /* convert the source tree in place (after --move) */
  NSFD_IMPORT_SCAN, /* change nothing; only report what would be refused */
};

struct nsfd_import_stats
{
  unsigned long long files, dirs, bytes;
  unsigned long long whiteouts;     /* 6.7+ xattr whiteouts turned into 0:0 devices */
  unsigned long long converted;     /* user.overlay.* attributes written as trusted.overlay.* */
  unsigned long long stripped;      /* overlayfs bookkeeping attributes left out */
  unsigned long long materialised;  /* redirect/metacopy entries filled in from the lower */
  unsigned long long hardlinks;     /* links made to an inode already copied */
  unsigned long long refused;       /* entries that cannot be carried (reported one by one) */
};

/* path: relative to the tree's root, raw (quote it for display). */
typedef void (*nsfd_import_report_fn) (void *ctx, const char *path, const char *what);
/* Called after each entry; a non-zero return stops the walk (ECANCELED). */
typedef int (*nsfd_import_progress_fn) (void *ctx, const struct nsfd_import_stats *st);

struct nsfd_import_opts
{
  const struct nsfd_idshift *shifts;
  size_t n_shifts;
  int lower_fd;                   /* the lower (image) for materialising, or -1 */
  unsigned max_depth;             /* 0: NSFD_IMPORT_MAX_DEPTH */
  nsfd_import_report_fn report;   /* each refused entry */
  nsfd_import_progress_fn progress;
  void *ctx;
};

/* Walks the directory src_fd.  COPY creates dst_parent_fd/dst_name (which
 * must not exist); FIX and SCAN ignore dst_*.  When entries were refused the
 * walk still finishes (so every one is reported) and then fails with EINVAL. */
int nsfd_import_tree (enum nsfd_import_mode mode, int src_fd, int dst_parent_fd, const char *dst_name,
                      const struct nsfd_import_opts *o, struct nsfd_import_stats *st, nsfd_error_t *err);

/* Removes parent_fd/name and everything below, without following symlinks
 * and without recursion (a tree as deep as an import can make). */
int nsfd_import_rm_tree (int parent_fd, const char *name, nsfd_error_t *err);
