/* Reading an LXC container's `config` for what `nsfdsuds layer import
 * --from-lxc` needs: the overlay rootfs (one lower and the upper "delta")
 * and the id maps of an unprivileged container.  Only the lines LXC itself
 * writes are understood, and lxc.include is followed (lxc-include.h). */
#pragma once

#include <stddef.h>

#include "error.h"

#define NSFD_LXC_CONFIG_MAX (1024 * 1024) /* the config and its includes together */
#define NSFD_LXC_MAX_IDMAPS 16

struct nsfd_lxc_idmap
{
  char kind;            /* 'u' or 'g' */
  unsigned long inner;  /* first id inside the container */
  unsigned long outer;  /* first id on the host */
  unsigned long count;
};

struct nsfd_lxc_rootfs
{
  char *lower;          /* the image (base rootfs), absolute */
  char *upper;          /* the delta, absolute */
  struct nsfd_lxc_idmap idmaps[NSFD_LXC_MAX_IDMAPS];
  size_t n_idmaps;
};

void nsfd_lxc_rootfs_free (struct nsfd_lxc_rootfs *r);
#define cleanup_lxc_rootfs __attribute__ ((cleanup (nsfd_lxc_rootfs_free)))

/* Parses the text of a config, and the files its lxc.include lines name
 * (absolute paths) where they stand.  The last lxc.rootfs.path (or the
 * pre-2.1 lxc.rootfs) wins, as in LXC; lxc.idmap lines add up.  It must be "overlay:LOWER:UPPER" or
 * "overlayfs:LOWER:UPPER"; several lowers are refused with a message that
 * says how to flatten them, anything else is refused as not an overlay. */
int nsfd_lxc_parse_config (const char *text, size_t len, struct nsfd_lxc_rootfs *out, nsfd_error_t *err);

/* Reads <container_dir>/config and parses it.  When the delta named there
 * does not exist (a container directory copied elsewhere), the container's
 * own overlay/delta (LXC 4 and later) or delta0 (before) is used. */
int nsfd_lxc_read_container (const char *container_dir, struct nsfd_lxc_rootfs *out, nsfd_error_t *err);
