/* The places the runtime will mount on, from config.json: what the stub
 * layer must provide when the lower lacks them, and what the fingerprint of
 * a lower made in hook mode contained. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "oci.h"

/* A place the runtime mounts on, as a path inside the container. */
struct nsfd_mount_point
{
  const char *path;
  bool is_dir;
};

/* The mount destinations of config.json except "/" and those inside another
 * mount (the runtime creates them in that mount, not in the root).  A bind
 * of a host file is a file mount point, everything else a directory.  The
 * paths point into oci, which must outlive the array (freed with free()). */
int nsfd_mount_points_from_config (const struct nsfd_oci_config *oci, struct nsfd_mount_point **out, size_t *n,
                                   nsfd_error_t *err);
