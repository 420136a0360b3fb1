/* The stub layer: a tmpfs holding the mount points the lower lacks, used as
 * the overlay's bottom lower layer so they never land in the persistent
 * upper layer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "mountpoints.h"

/* Creates the missing mount point rel beneath root_fd: directories for every
 * component, the last one a directory or an empty file. */
int nsfd_stub_create (int root_fd, const char *rel, bool dir, nsfd_error_t *err);

/* Mounts a tmpfs at stubs_dir holding every one of mps[] the lower lacks
 * (following the lower's own symlinks, as the runtime will).  *out_fd: an
 * O_PATH fd of it, or -1 when the lower has every mount point (nothing is
 * mounted then).  On error nothing stays mounted. */
int nsfd_stubs_build (const char *stubs_dir, int lower_fd, const struct nsfd_mount_point *mps, size_t n,
                      int *out_fd, nsfd_error_t *err);
