/* The layer's generation: a counter in <layer>/generation that moves on each
 * time a container starts using the layer, so a checkpoint can tell whether
 * the layer it was taken with has been used since (docs/layer-format.md). */
#include "layer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cleanup.h"
#include "safepath.h"

#define GENERATION_MAX_TEXT 32

int
nsfd_layer_generation_read (int dir_fd, unsigned long long *out, nsfd_error_t *err)
{
  nsfd_error_t local = NULL;
  cleanup_free char *buf = NULL;
  char *end;
  size_t len;

  *out = 0;
  if (nsfd_read_file_at (dir_fd, NSFD_LAYER_GENERATION, GENERATION_MAX_TEXT, &buf, &len, &local) < 0)
    {
      /* A layer from before the counter: generation 0. */
      if (local && local->status == ENOENT)
        {
          nsfd_error_free (&local);
          return 0;
        }
      if (err)
        *err = local;
      else
        nsfd_error_free (&local);
      return -1;
    }
  errno = 0;
  *out = strtoull (buf, &end, 10);
  if (len == 0 || buf[0] < '0' || buf[0] > '9' || errno != 0 || (*end != '\n' && *end != '\0'))
    return nsfd_make_error (err, EINVAL, "the layer's \"%s\" file is not a number", NSFD_LAYER_GENERATION);
  return 0;
}

/* The caller holds the layer's lock.  Not fsync'd: it is as durable as the
 * upper directory's files, and a checkpoint makes both durable (syncfs). */
int
nsfd_layer_generation_bump (int dir_fd, unsigned long long *out, nsfd_error_t *err)
{
  char text[GENERATION_MAX_TEXT];
  unsigned long long g;
  int n;

  if (nsfd_layer_generation_read (dir_fd, &g, err) < 0)
    return -1;
  n = snprintf (text, sizeof (text), "%llu\n", g + 1);
  if (nsfd_write_file_replace (dir_fd, NSFD_LAYER_GENERATION, text, (size_t) n, 0600, err) < 0)
    return nsfd_error_wrap (err, "recording the layer's generation");
  *out = g + 1;
  return 0;
}

int
nsfd_layer_generation_advance (const struct nsfd_layer *l, const unsigned long long *expect,
                               unsigned long long *out, nsfd_error_t *err)
{
  unsigned long long g;
  int r;

  if (nsfd_layer_lock (l->dir_fd, err) < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", l->path);
  r = nsfd_layer_generation_read (l->dir_fd, &g, err);
  if (r == 0 && expect && g != *expect)
    r = nsfd_make_error (err, ESTALE, "layer %s moved from generation %llu to %llu meanwhile: another "
                         "container used it", l->path, *expect, g);
  if (r == 0)
    r = nsfd_layer_generation_bump (l->dir_fd, out, err);
  (void) flock (l->dir_fd, LOCK_UN);
  return r;
}
