/* How one entry of an upper differs from the lower it lies on, in the
 * terms of `nsfdsuds layer diff` (docs/layers.md). */
#pragma once

#include <stdbool.h>

#include "error.h"
#include "layer-scan.h"

enum ld_kind
{
  LD_UNCHANGED,
  LD_ADDED,
  LD_MODIFIED,   /* content, file type, link target or device number */
  LD_METADATA,   /* only mode, owner, xattrs or mtime */
  LD_DELETED,    /* a whiteout */
  LD_OPAQUE,     /* a directory that hides the lower's one */
  LD_PRESENT,    /* without a lower: in the upper, added or modified */
};

/* Details of a change, a bit mask. */
enum
{
  LD_D_TYPE = 1 << 0,
  LD_D_CONTENT = 1 << 1,
  LD_D_TARGET = 1 << 2,
  LD_D_DEVICE = 1 << 3,
  LD_D_MODE = 1 << 4,
  LD_D_OWNER = 1 << 5,
  LD_D_XATTRS = 1 << 6,
  LD_D_MTIME = 1 << 7,
};

struct ld_change
{
  enum ld_kind kind;
  unsigned details;
  bool lower_exists;
  enum nsfd_scan_type lower_type;
};

const char *ld_kind_name (enum ld_kind k);
/* "type", "content", ... for bit i (0..7), NULL past the end. */
const char *ld_detail_name (unsigned bit);

/* Compares e with the entry of the same name in lower_parent (-1: the lower
 * has no such directory; have_lower false: there is no lower at all).
 * x and y are scratch xattr buffers. */
int ld_compare (const struct nsfd_scan_entry *e, int lower_parent, bool have_lower, struct nsfd_xattrs *x,
                struct nsfd_xattrs *y, struct ld_change *out, nsfd_error_t *err);
