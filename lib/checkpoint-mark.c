/* The checkpoint's mark on the layer directory: a trusted.* extended
 * attribute set when a checkpoint is taken.  A copy of the volume that kept
 * trusted.* attributes keeps it; one that dropped them (podman's volume
 * export, tar without --xattrs, rsync without -X) also dropped the
 * overlay's opaque-directory marks, so a restore onto it is refused
 * (docs/checkpoint.md). */
#include "checkpoint-record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/xattr.h>

int
nsfd_checkpoint_mark_set (int layer_dir_fd, unsigned long long generation, nsfd_error_t *err)
{
  char value[32];
  int n = snprintf (value, sizeof (value), "%llu", generation);

  if (fsetxattr (layer_dir_fd, NSFD_CHECKPOINT_MARK, value, (size_t) n, 0) < 0)
    return nsfd_make_error (err, errno, "setting the extended attribute %s on the layer directory",
                            NSFD_CHECKPOINT_MARK);
  return 0;
}

int
nsfd_checkpoint_mark_read (int layer_dir_fd, unsigned long long *generation, bool *valid, nsfd_error_t *err)
{
  char value[32], *end;
  ssize_t n = fgetxattr (layer_dir_fd, NSFD_CHECKPOINT_MARK, value, sizeof (value) - 1);

  *generation = 0;
  *valid = false;
  /* ERANGE: there, with a longer value than ours. */
  if (n < 0 && errno == ERANGE)
    return 1;
  if (n < 0 && errno == ENODATA)
    return 0;
  if (n < 0)
    return nsfd_make_error (err, errno, "reading the extended attribute %s of the layer directory",
                            NSFD_CHECKPOINT_MARK);
  value[n] = '\0';
  errno = 0;
  *generation = strtoull (value, &end, 10);
  *valid = n > 0 && value[0] >= '0' && value[0] <= '9' && *end == '\0' && errno == 0;
  return 1;
}

int
nsfd_checkpoint_mark_present (int layer_dir_fd, nsfd_error_t *err)
{
  unsigned long long g;
  bool valid;
  return nsfd_checkpoint_mark_read (layer_dir_fd, &g, &valid, err);
}
