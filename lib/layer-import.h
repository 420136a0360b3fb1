/* `nsfdsuds layer import`: a layer made from an existing overlay upper (an
 * LXC container's delta, or any upper directory).  The new layer is built
 * under a temporary name in <volume>/.nsfdsuds/ and renamed into place, so a
 * crash never leaves a half-made layer under the real name; an existing
 * layer is replaced only when asked, and never while a container holds it. */
#pragma once

#include <stdbool.h>

#include "error.h"
#include "import-tree.h"
#include "lowerid.h"

struct nsfd_import_request
{
  int src_fd;                /* the upper tree */
  int src_parent_fd;         /* --move: the directory holding it ... */
  const char *src_name;      /* ... under this name */
  int volume_fd;
  const char *name;          /* the layer's name */
  bool move, force;
  struct nsfd_import_opts opts; /* opts.lower_fd: the lower (image) or -1 */
};

struct nsfd_import_result
{
  struct nsfd_import_stats stats;
  char lower_id[NSFD_LOWERID_LEN + 1]; /* "" when the lower is not known */
  bool replaced;                       /* an existing layer was replaced (--force) */
};

int nsfd_layer_import (const struct nsfd_import_request *r, struct nsfd_import_result *out, nsfd_error_t *err);
