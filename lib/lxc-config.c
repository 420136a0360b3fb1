#include "lxc-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "safepath.h"

void
nsfd_lxc_rootfs_free (struct nsfd_lxc_rootfs *r)
{
  free (r->lower);
  free (r->upper);
  memset (r, 0, sizeof (*r));
}

/* Trims spaces and tabs at both ends, in place. */
static char *
trim (char *s)
{
  char *e;
  while (*s == ' ' || *s == '\t')
    s++;
  e = s + strlen (s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
    *--e = '\0';
  return s;
}

/* "u 0 100000 65536" */
static int
parse_idmap (const char *v, struct nsfd_lxc_rootfs *out, nsfd_error_t *err)
{
  struct nsfd_lxc_idmap m;
  char kind, extra;
  if (sscanf (v, "%c %lu %lu %lu %c", &kind, &m.inner, &m.outer, &m.count, &extra) != 4
      || (kind != 'u' && kind != 'g') || m.count == 0)
    return nsfd_make_error (err, EINVAL, "invalid lxc.idmap \"%s\" (expected \"u|g INSIDE HOST COUNT\")", v);
  if (out->n_idmaps == NSFD_LXC_MAX_IDMAPS)
    return nsfd_make_error (err, E2BIG, "more than %d lxc.idmap lines", NSFD_LXC_MAX_IDMAPS);
  m.kind = kind;
  out->idmaps[out->n_idmaps++] = m;
  return 0;
}

/* value of lxc.rootfs.path: [overlay|overlayfs]:LOWER[:LOWER...]:UPPER */
static int
parse_rootfs (const char *v, struct nsfd_lxc_rootfs *out, nsfd_error_t *err)
{
  const char *rest, *first, *last;
  size_t n_colons = 0;

  if (strncmp (v, "overlay:", 8) == 0)
    rest = v + 8;
  else if (strncmp (v, "overlayfs:", 10) == 0)
    rest = v + 10;
  else
    return nsfd_make_error (err, EINVAL,
                            "the container's root (lxc.rootfs.path = %s) is not an overlay; only an "
                            "overlay snapshot (lxc-copy -s -B overlay) has a delta to import; for a plain "
                            "directory use --upper DIR",
                            v);
  for (const char *p = rest; *p; p++)
    n_colons += *p == ':';
  if (n_colons == 0)
    return nsfd_make_error (err, EINVAL, "lxc.rootfs.path = %s names no upper directory", v);
  if (n_colons > 1)
    return nsfd_make_error (err, EINVAL,
                            "lxc.rootfs.path = %s has %zu lower layers; a layer sits on exactly one "
                            "image: flatten the lowers into one directory first (mount the overlay of the "
                            "lowers read-only and copy it with cp -a, or use the merged rootfs as the "
                            "image), then import with --upper DELTA --lower FLATTENED",
                            v, n_colons);
  first = rest;
  last = strchr (rest, ':') + 1;
  if (first[0] != '/' || last[0] != '/')
    return nsfd_make_error (err, EINVAL, "lxc.rootfs.path = %s: both paths must be absolute", v);
  free (out->lower);
  free (out->upper);
  out->lower = strndup (first, (size_t) (last - 1 - first));
  out->upper = strdup (last);
  if (out->lower == NULL || out->upper == NULL)
    return nsfd_make_error (err, ENOMEM, "lxc config");
  return 0;
}

int
nsfd_lxc_parse_config (const char *text, size_t len, struct nsfd_lxc_rootfs *out, nsfd_error_t *err)
{
  cleanup_free char *copy = NULL;
  cleanup_free char *rootfs = NULL;
  char *line, *save = NULL;

  memset (out, 0, sizeof (*out));
  if (len > NSFD_LXC_CONFIG_MAX || memchr (text, '\0', len) != NULL)
    return nsfd_make_error (err, EINVAL, "the LXC config is too large or not text");
  copy = strndup (text, len);
  if (copy == NULL)
    return nsfd_make_error (err, ENOMEM, "lxc config");
  for (line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *eq, *key, *val;
      line = trim (line);
      if (*line == '#' || *line == '\0' || (eq = strchr (line, '=')) == NULL)
        continue;
      *eq = '\0';
      key = trim (line);
      val = trim (eq + 1);
      if (strcmp (key, "lxc.rootfs.path") == 0 || strcmp (key, "lxc.rootfs") == 0)
        {
          free (rootfs);
          if ((rootfs = strdup (val)) == NULL)
            return nsfd_make_error (err, ENOMEM, "lxc config");
        }
      else if ((strcmp (key, "lxc.idmap") == 0 || strcmp (key, "lxc.id_map") == 0)
               && parse_idmap (val, out, err) < 0)
        return -1;
    }
  if (rootfs == NULL || *rootfs == '\0')
    return nsfd_make_error (err, ENOENT, "the LXC config has no lxc.rootfs.path");
  return parse_rootfs (rootfs, out, err);
}

static bool
is_dir (const char *path)
{
  struct stat st;
  return lstat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

int
nsfd_lxc_read_container (const char *container_dir, struct nsfd_lxc_rootfs *out, nsfd_error_t *err)
{
  static const char *const layouts[] = { "overlay/delta", "delta0" }; /* LXC >= 4, before */
  cleanup_close int dfd = -1;
  cleanup_free char *buf = NULL;
  size_t len;

  memset (out, 0, sizeof (*out));
  dfd = open (container_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return nsfd_make_error (err, errno, "LXC container directory \"%s\"", container_dir);
  if (nsfd_read_file_at (dfd, "config", NSFD_LXC_CONFIG_MAX, &buf, &len, err) < 0)
    return nsfd_error_wrap (err, "the LXC container's config in \"%s\"", container_dir);
  if (nsfd_lxc_parse_config (buf, len, out, err) < 0)
    return nsfd_error_wrap (err, "\"%s/config\"", container_dir);
  if (is_dir (out->upper))
    return 0;
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (layouts); i++)
    {
      char *p = NULL;
      if (asprintf (&p, "%s/%s", container_dir, layouts[i]) < 0)
        return nsfd_make_error (err, ENOMEM, "lxc path");
      if (is_dir (p))
        {
          free (out->upper);
          out->upper = p;
          return 0;
        }
      free (p);
    }
  return nsfd_make_error (err, ENOENT,
                          "the delta \"%s\" named in \"%s/config\" does not exist, nor does the "
                          "container's overlay/delta or delta0",
                          out->upper, container_dir);
}
