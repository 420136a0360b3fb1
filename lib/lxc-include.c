#include "lxc-include.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"

/* O_NONBLOCK: a fifo where a config was never blocks the open. */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* A refusal whose errno would mislead in the message (ELOOP reads "Too many
 * levels of symbolic links"): the status is kept, the text is only ours. */
__attribute__ ((format (printf, 3, 4))) static int
refuse (nsfd_error_t *err, int status, const char *fmt, ...)
{
  va_list ap;
  char *text = NULL;
  int r;

  va_start (ap, fmt);
  if (vasprintf (&text, fmt, ap) < 0)
    text = NULL;
  va_end (ap);
  r = nsfd_error_set (err, status, text ? text : "lxc.include refused");
  free (text);
  return r;
}

int
nsfd_lxc_include_fd (struct nsfd_lxc_includes *s, int fd, const char *path, nsfd_error_t *err)
{
  cleanup_free char *text = NULL;
  struct stat st;
  size_t len;
  int r;

  if (fstat (fd, &st) < 0)
    return nsfd_make_error (err, errno, "stat \"%s\"", path);
  if (!S_ISREG (st.st_mode))
    return nsfd_make_error (err, EINVAL, "the LXC config \"%s\" is not a regular file", path);
  for (size_t i = 0; i < s->depth; i++)
    if (s->chain[i].dev == st.st_dev && s->chain[i].ino == st.st_ino)
      return refuse (err, ELOOP, "lxc.include loop: \"%s\" includes itself", path);
  if (s->depth == NSFD_ARRAY_SIZE (s->chain))
    return refuse (err, ELOOP, "lxc.include nested more than %d deep at \"%s\"", NSFD_LXC_INCLUDE_DEPTH, path);
  if (++s->files > NSFD_LXC_INCLUDE_FILES)
    return refuse (err, E2BIG, "more than %d LXC config files (the config and its includes) at \"%s\"",
                   NSFD_LXC_INCLUDE_FILES, path);
  if ((size_t) st.st_size <= s->max_bytes - s->bytes
      && nsfd_read_all_fd (fd, s->max_bytes - s->bytes, &text, &len, err) < 0)
    {
      if ((*err)->status != EFBIG) /* it grew past the bound while read: as too large */
        return nsfd_error_wrap (err, "reading \"%s\"", path);
      nsfd_error_free (err);
    }
  if (text == NULL)
    return nsfd_make_error (err, EFBIG,
                            "the LXC config and its includes are larger than %zu bytes together (at \"%s\")",
                            s->max_bytes, path);
  s->bytes += len;
  s->chain[s->depth].dev = st.st_dev;
  s->chain[s->depth].ino = st.st_ino;
  s->depth++;
  r = s->fn (s->data, text, len, path, err);
  s->depth--;
  return r;
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static bool
is_conf_name (const char *n)
{
  size_t l = strlen (n);
  return l > 5 && strcmp (n + l - 5, ".conf") == 0; /* ".conf" alone is not one, as in LXC */
}

/* The *.conf entries of the directory fd, sorted; the count in *n. */
static int
list_confs (int fd, const char *path, char ***names, size_t *n, nsfd_error_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int dup_fd = fcntl (fd, F_DUPFD_CLOEXEC, 0);

  *names = NULL, *n = 0;
  if (dup_fd < 0 || (d = fdopendir (dup_fd)) == NULL)
    {
      int e = errno;
      if (dup_fd >= 0)
        close (dup_fd);
      return nsfd_make_error (err, e, "reading the directory \"%s\"", path);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      char **nn;
      if (!is_conf_name (de->d_name))
        continue;
      if (*n == NSFD_LXC_INCLUDE_FILES)
        return refuse (err, E2BIG, "more than %d *.conf files in \"%s\"", NSFD_LXC_INCLUDE_FILES, path);
      nn = realloc (*names, (*n + 1) * sizeof (*nn));
      if (nn == NULL)
        return nsfd_make_error (err, ENOMEM, "lxc.include \"%s\"", path);
      *names = nn;
      if ((nn[*n] = strdup (de->d_name)) == NULL)
        return nsfd_make_error (err, ENOMEM, "lxc.include \"%s\"", path);
      (*n)++;
    }
  if (errno != 0)
    return nsfd_make_error (err, errno, "reading the directory \"%s\"", path);
  qsort (*names, *n, sizeof (**names), cmp_names);
  return 0;
}

static void
free_names (char **names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (names[i]);
  free (names);
}

static int
include_dir (struct nsfd_lxc_includes *s, int fd, const char *path, nsfd_error_t *err)
{
  char **names = NULL;
  size_t n = 0;
  int r = list_confs (fd, path, &names, &n, err);

  for (size_t i = 0; r == 0 && i < n; i++)
    {
      cleanup_free char *p = NULL;
      cleanup_close int f = openat (fd, names[i], OPEN_FLAGS);
      if (asprintf (&p, "%s/%s", path, names[i]) < 0)
        {
          p = NULL;
          r = nsfd_make_error (err, ENOMEM, "lxc.include \"%s\"", path);
        }
      else if (f < 0)
        r = nsfd_make_error (err, errno, "lxc.include: opening \"%s\"", p);
      else
        r = nsfd_lxc_include_fd (s, f, p, err);
    }
  free_names (names, n);
  return r;
}

int
nsfd_lxc_include (struct nsfd_lxc_includes *s, const char *path, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  struct stat st;

  if (path[0] != '/')
    return nsfd_make_error (err, EINVAL,
                            "lxc.include = %s: a relative path (LXC takes it from the directory it was started "
                            "in, which is not known here); make it absolute",
                            path);
  /* Symlinks are followed as LXC follows them: the includes are the host's
   * configuration, and the container runs with what they resolve to. */
  fd = open (path, OPEN_FLAGS);
  if (fd < 0)
    return nsfd_make_error (err, errno, "lxc.include: opening \"%s\"", path);
  if (fstat (fd, &st) < 0)
    return nsfd_make_error (err, errno, "stat \"%s\"", path);
  if (S_ISDIR (st.st_mode))
    return include_dir (s, fd, path, err);
  return nsfd_lxc_include_fd (s, fd, path, err);
}
