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
#include "lxc-include.h"
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

/* The state of one parse: the config and everything it includes. */
struct parse
{
  struct nsfd_lxc_rootfs *out;
  char *rootfs; /* the last lxc.rootfs.path so far */
  struct nsfd_lxc_includes inc;
};

/* The lines of one file (path, NULL for text given directly), in order:
 * an lxc.include is read where it stands, so what comes after it wins. */
static int
parse_text (void *data, const char *text, size_t len, const char *path, nsfd_error_t *err)
{
  struct parse *p = data;
  cleanup_free char *copy = NULL;
  char *line, *save = NULL;

  if (memchr (text, '\0', len) != NULL)
    return nsfd_make_error (err, EINVAL, "the LXC config%s%s%s is not text", path ? " \"" : "", path ? path : "",
                            path ? "\"" : "");
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
          free (p->rootfs);
          if ((p->rootfs = strdup (val)) == NULL)
            return nsfd_make_error (err, ENOMEM, "lxc config");
        }
      else if (strcmp (key, "lxc.idmap") == 0 || strcmp (key, "lxc.id_map") == 0)
        {
          if (parse_idmap (val, p->out, err) < 0)
            return path ? nsfd_error_wrap (err, "\"%s\"", path) : -1;
        }
      else if (strcmp (key, "lxc.include") == 0 && *val != '\0' && nsfd_lxc_include (&p->inc, val, err) < 0)
        return -1; /* the message names the include */
    }
  return 0;
}

/* The parse of a config: text (path NULL) or the open file fd. */
static int
parse_all (const char *text, size_t len, int fd, const char *path, struct nsfd_lxc_rootfs *out, nsfd_error_t *err)
{
  struct parse p = { .out = out,
                     .inc = { .fn = parse_text, .max_bytes = NSFD_LXC_CONFIG_MAX } };
  int r;

  memset (out, 0, sizeof (*out));
  p.inc.data = &p;
  if (fd < 0 && len > NSFD_LXC_CONFIG_MAX)
    return nsfd_make_error (err, EFBIG, "the LXC config is larger than %d bytes", NSFD_LXC_CONFIG_MAX);
  p.inc.bytes = fd < 0 ? len : 0;
  p.inc.depth = fd < 0; /* text stands for a config file: 8 levels below it as below one */
  r = fd < 0 ? parse_text (&p, text, len, NULL, err) : nsfd_lxc_include_fd (&p.inc, fd, path, err);
  if (r == 0 && (p.rootfs == NULL || *p.rootfs == '\0'))
    r = nsfd_make_error (err, ENOENT, "the LXC config has no lxc.rootfs.path (nor any file it includes)");
  if (r == 0)
    r = parse_rootfs (p.rootfs, out, err);
  free (p.rootfs);
  return r;
}

int
nsfd_lxc_parse_config (const char *text, size_t len, struct nsfd_lxc_rootfs *out, nsfd_error_t *err)
{
  return parse_all (text, len, -1, NULL, out, err);
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
  cleanup_close int fd = -1;
  cleanup_free char *path = NULL;

  memset (out, 0, sizeof (*out));
  dfd = open (container_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return nsfd_make_error (err, errno, "LXC container directory \"%s\"", container_dir);
  if (asprintf (&path, "%s/config", container_dir) < 0)
    return path = NULL, nsfd_make_error (err, ENOMEM, "lxc path");
  fd = nsfd_open_beneath (dfd, "config", O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, err);
  if (fd < 0)
    return nsfd_error_wrap (err, "the LXC container's config in \"%s\"", container_dir);
  if (parse_all (NULL, 0, fd, path, out, err) < 0)
    return nsfd_error_wrap (err, "\"%s\"", path);
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
