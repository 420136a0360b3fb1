#include "mountpoints.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mounttable.h"

static bool
inside_another (const struct nsfd_oci_config *oci, size_t i)
{
  const char *d = oci->mounts[i].destination;
  for (size_t j = 0; j < oci->n_mounts; j++)
    {
      const char *o = oci->mounts[j].destination;
      if (j != i && o && strcmp (o, "/") != 0 && strcmp (o, d) != 0 && nsfd_path_is_beneath (d, o))
        return true;
    }
  return false;
}

int
nsfd_mount_points_from_config (const struct nsfd_oci_config *oci, struct nsfd_mount_point **out, size_t *n,
                               nsfd_error_t *err)
{
  struct nsfd_mount_point *mps = calloc (oci->n_mounts ? oci->n_mounts : 1, sizeof (*mps));
  size_t k = 0;

  if (mps == NULL)
    return nsfd_make_error (err, ENOMEM, "mount points");
  for (size_t i = 0; i < oci->n_mounts; i++)
    {
      const struct nsfd_oci_mount *m = &oci->mounts[i];
      struct stat st;
      if (m->destination == NULL || m->destination[0] != '/' || strcmp (m->destination, "/") == 0
          || inside_another (oci, i))
        continue;
      mps[k].path = m->destination;
      /* The runtime makes a file for a bind of a host file, a directory
       * otherwise (it stats the source the same way). */
      mps[k].is_dir = !(nsfd_oci_mount_is_bind (m) && m->source && stat (m->source, &st) == 0
                        && !S_ISDIR (st.st_mode));
      k++;
    }
  *out = mps;
  *n = k;
  return 0;
}
