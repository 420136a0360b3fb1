#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "lowerid.h"
#include "mountpoints.h"
#include "mounttable.h"
#include "safepath.h"

void
nsfd_plan_init (struct nsfd_plan *p)
{
  memset (p, 0, sizeof (*p));
  p->volume_fd = p->lower_fd = -1;
  nsfd_layer_init (&p->layer);
}

void
nsfd_plan_free (struct nsfd_plan *p)
{
  free (p->id);
  free (p->bundle);
  nsfd_request_free (&p->req);
  nsfd_oci_config_free (&p->oci);
  free (p->rootfs);
  free (p->volume_path);
  nsfd_closep (&p->volume_fd);
  free (p->lower_path);
  nsfd_closep (&p->lower_fd);
  free (p->persist_target);
  free (p->lower_target);
  nsfd_layer_close (&p->layer);
  free (p->upper_path);
  free (p->work_path);
  nsfd_plan_init (p);
}

static char *
dup_or_null (const char *s)
{
  return s ? strdup (s) : NULL;
}

static int
join_path (const char *a, const char *b, char **out)
{
  while (*b == '/')
    b++;
  if (*b == '\0')
    *out = strdup (a);
  else if (asprintf (out, "%s/%s", a, b) < 0)
    *out = NULL;
  return *out ? 0 : -ENOMEM;
}

/* The host directory behind a volume mount destination; it must be a bind
 * mount with an absolute source inside an allowed prefix. */
static int
volume_source (const struct nsfd_config *cfg, const struct nsfd_oci_config *oci,
               const char *annotation, const char *dest, char **out, nsfd_error_t *err)
{
  const struct nsfd_oci_mount *m = nsfd_oci_config_find_mount (oci, dest);
  char real[PATH_MAX];

  if (m == NULL)
    return nsfd_make_error (err, ENOENT,
                            "annotation %s names \"%s\", but this container has no mount there; "
                            "it must name the mountPath of a volume mounted into this container",
                            annotation, dest);
  if (!nsfd_oci_mount_is_bind (m) || m->source == NULL || m->source[0] != '/')
    return nsfd_make_error (err, EINVAL,
                            "annotation %s names \"%s\", which is a %s mount, not a volume "
                            "bind-mounted from a host directory",
                            annotation, dest, m->type ? m->type : "non-bind");
  /* The prefix check is on the canonical path so that symlinks cannot lead
   * outside it; the walk below then refuses symlinks altogether. */
  if (realpath (m->source, real) == NULL)
    return nsfd_make_error (err, errno, "volume source \"%s\" (for %s)", m->source, annotation);
  if (!nsfd_config_volume_allowed (cfg, real))
    return nsfd_make_error (err, EPERM,
                            "volume source \"%s\" for %s is outside the allowed volume prefixes "
                            "(allowedVolumePrefixes in the nsfdsuds config); ask the node admin "
                            "to allow it or use a volume from an allowed location",
                            real, annotation);
  *out = strdup (real);
  return *out ? 0 : nsfd_make_error (err, ENOMEM, "volume path");
}


int
nsfd_plan_resolve (const struct nsfd_config *cfg, const char *id, const char *bundle,
                   const struct nsfd_request *req, struct nsfd_plan *p, nsfd_error_t *err)
{
  struct nsfd_oci_config oci;
  cleanup_close int bfd = -1;

  memset (&oci, 0, sizeof (oci));
  nsfd_plan_init (p);
  if (bundle[0] != '/')
    return nsfd_make_error (err, EINVAL, "bundle path \"%s\" is not absolute", bundle);
  bfd = open (bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (bfd < 0)
    return nsfd_make_error (err, errno, "opening bundle \"%s\"", bundle);
  if (nsfd_oci_config_read_at (bfd, &oci, err) < 0)
    {
      nsfd_oci_config_free (&oci);
      return nsfd_error_wrap (err, "bundle \"%s\"", bundle);
    }
  return nsfd_plan_resolve_with (cfg, id, bundle, req, &oci, p, err);
}

int
nsfd_plan_resolve_with (const struct nsfd_config *cfg, const char *id, const char *bundle,
                        const struct nsfd_request *req, struct nsfd_oci_config *oci, struct nsfd_plan *p,
                        nsfd_error_t *err)
{
  cleanup_free char *root_join = NULL;
  char real[PATH_MAX];
  uint32_t hid;

  nsfd_plan_init (p);
  p->oci = *oci;
  memset (oci, 0, sizeof (*oci));
  p->id = strdup (id);
  p->bundle = strdup (bundle);
  p->req.activated = req->activated;
  p->req.keep_volume_visible = req->keep_volume_visible;
  p->req.accept_image_change = req->accept_image_change;
  p->req.container_name = dup_or_null (req->container_name);
  p->req.persist_dest = dup_or_null (req->persist_dest);
  p->req.lower_dest = dup_or_null (req->lower_dest);
  p->req.layer_name = dup_or_null (req->layer_name ? req->layer_name : NSFD_DEFAULT_LAYER_NAME);
  if (!p->id || !p->bundle || !p->req.persist_dest || !p->req.layer_name)
    return nsfd_make_error (err, ENOMEM, "plan");

  if (bundle[0] != '/')
    return nsfd_make_error (err, EINVAL, "bundle path \"%s\" is not absolute", bundle);
  if (p->oci.root_path == NULL)
    return nsfd_make_error (err, EINVAL, "%s/config.json has no root.path", bundle);

  if (p->oci.root_path[0] == '/')
    root_join = strdup (p->oci.root_path);
  else if (join_path (bundle, p->oci.root_path, &root_join) < 0)
    root_join = NULL;
  if (root_join == NULL)
    return nsfd_make_error (err, ENOMEM, "rootfs path");
  /* The runtime resolves symlinks in the rootfs path the same way. */
  if (realpath (root_join, real) == NULL)
    return nsfd_make_error (err, errno, "container rootfs \"%s\"", root_join);
  p->rootfs = strdup (real);

  if (p->oci.has_user_namespace)
    {
      if (nsfd_idmap_to_host (p->oci.uid_mappings, p->oci.n_uid_mappings, 0, &hid) < 0)
        return nsfd_make_error (err, EINVAL, "config.json: uid 0 of the container is not mapped to the host");
      p->root_uid = hid;
      if (nsfd_idmap_to_host (p->oci.gid_mappings, p->oci.n_gid_mappings, 0, &hid) < 0)
        return nsfd_make_error (err, EINVAL, "config.json: gid 0 of the container is not mapped to the host");
      p->root_gid = hid;
    }

  if (volume_source (cfg, &p->oci, "nsfdsuds.io/persist", p->req.persist_dest, &p->volume_path, err) < 0)
    return -1;
  if (join_path (p->rootfs, p->req.persist_dest, &p->persist_target) < 0)
    return nsfd_make_error (err, ENOMEM, "path");
  if (p->req.lower_dest)
    {
      const struct nsfd_oci_mount *m;
      if (strcmp (p->req.lower_dest, p->req.persist_dest) == 0)
        return nsfd_make_error (err, EINVAL, "nsfdsuds.io/lower and nsfdsuds.io/persist name the same volume \"%s\"",
                                p->req.persist_dest);
      if (volume_source (cfg, &p->oci, "nsfdsuds.io/lower", p->req.lower_dest, &p->lower_path, err) < 0)
        return -1;
      m = nsfd_oci_config_find_mount (&p->oci, p->req.lower_dest);
      if (!nsfd_oci_mount_is_readonly (m))
        return nsfd_make_error (err, EINVAL, "nsfdsuds.io/lower names \"%s\", which is not mounted read-only; "
                                "a base filesystem shared by containers must be a read-only volume",
                                p->req.lower_dest);
      if (join_path (p->rootfs, p->req.lower_dest, &p->lower_target) < 0)
        return nsfd_make_error (err, ENOMEM, "path");
    }
  if (nsfd_path_is_beneath (p->volume_path, p->rootfs) || nsfd_path_is_beneath (p->rootfs, p->volume_path))
    return nsfd_make_error (err, EINVAL, "the persistent volume \"%s\" and the rootfs \"%s\" overlap",
                            p->volume_path, p->rootfs);
  return 0;
}

int
nsfd_plan_open_layer (struct nsfd_plan *p, const struct nsfd_config *cfg, nsfd_error_t *err)
{
  cleanup_close int root_fd = -1;
  struct stat lower_root;
  char proc[32], real[PATH_MAX];
  ssize_t n;
  const char *prefix = nsfd_config_allowed_prefix (cfg, p->volume_path);

  if (prefix == NULL)
    return nsfd_make_error (err, EPERM, "volume \"%s\" is outside the allowed prefixes", p->volume_path);
  p->volume_fd = nsfd_open_dir_under_prefix (prefix, p->volume_path, err);
  if (p->volume_fd < 0)
    return nsfd_error_wrap (err, "annotation nsfdsuds.io/persist");

  if (p->lower_path)
    {
      const char *lp = nsfd_config_allowed_prefix (cfg, p->lower_path);
      p->lower_fd = lp ? nsfd_open_dir_under_prefix (lp, p->lower_path, err) : -1;
      if (p->lower_fd < 0)
        return lp ? nsfd_error_wrap (err, "annotation nsfdsuds.io/lower")
                  : nsfd_make_error (err, EPERM, "base volume \"%s\" is outside the allowed prefixes", p->lower_path);
      if (fstat (p->lower_fd, &lower_root) < 0)
        return nsfd_make_error (err, errno, "stat base volume \"%s\"", p->lower_path);
    }
  else
    {
      root_fd = open (p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root_fd < 0 || fstat (root_fd, &lower_root) < 0)
        return nsfd_make_error (err, errno, "stat container rootfs \"%s\"", p->rootfs);
    }

  {
    /* O_PATH fds cannot be used with mkdirat; reopen the directory. */
    cleanup_close int vdir = openat (p->volume_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (vdir < 0)
      return nsfd_make_error (err, errno, "opening volume \"%s\"", p->volume_path);
    if (nsfd_layer_open (vdir, p->req.layer_name, &lower_root, &p->layer, err) < 0)
      return nsfd_error_wrap (err, "persistent volume \"%s\" (annotation nsfdsuds.io/persist=%s)",
                              p->volume_path, p->req.persist_dest);
  }
  {
    char lower_id[NSFD_LOWERID_LEN + 1];
    int lfd = p->lower_fd >= 0 ? p->lower_fd : root_fd;
    int changed, scheme1 = 0;
    if (nsfd_lowerid_compute (lfd, lower_id, err) < 0)
      return nsfd_error_wrap (err, "fingerprint of the lower layer");
    if (p->layer.lower_id && p->layer.lower_id_scheme == 1 && strcmp (p->layer.lower_id, lower_id) != 0)
      {
        /* A record from before scheme 2: the same image, seen by hook mode
         * (mount points in the lower) or by the wrapper, must not count as
         * a change. */
        cleanup_free struct nsfd_mount_point *mps = NULL;
        size_t n_mps = 0;
        if (nsfd_mount_points_from_config (&p->oci, &mps, &n_mps, err) < 0)
          return -1;
        scheme1 = nsfd_lowerid_matches_scheme1 (lfd, p->layer.lower_id, mps, n_mps, err);
        if (scheme1 < 0)
          return nsfd_error_wrap (err, "fingerprint of the lower layer");
      }
    changed = nsfd_layer_check_lower (&p->layer, lower_id, strcmp (cfg->on_image_change, "refuse") == 0,
                                      p->req.accept_image_change, scheme1 > 0, err);
    if (changed < 0)
      return -1;
    p->lower_changed = changed > 0;
  }
  n = readlink (nsfd_fd_path (p->layer.upper_fd, proc), real, sizeof (real) - 1);
  if (n < 0)
    return nsfd_make_error (err, errno, "resolving the upper directory");
  real[n] = '\0';
  p->upper_path = strdup (real);
  n = readlink (nsfd_fd_path (p->layer.work_fd, proc), real, sizeof (real) - 1);
  if (n < 0)
    return nsfd_make_error (err, errno, "resolving the work directory");
  real[n] = '\0';
  p->work_path = strdup (real);
  if (!p->upper_path || !p->work_path)
    return nsfd_make_error (err, ENOMEM, "layer paths");
  return 0;
}
