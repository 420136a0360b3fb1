#include "lowerid.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define MAX_ENTRIES 50000
#define OS_RELEASE_MAX 16384

static const char *const dirs[] = { ".", "etc", "bin", "sbin", "lib", "usr", "usr/bin", "usr/sbin", "usr/lib", NULL };

static void
fnv (uint64_t *h, const void *data, size_t len)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++)
    {
      *h ^= p[i];
      *h *= 1099511628211ULL;
    }
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Adds one directory's sorted listing to the hash; a missing directory counts
 * as a marker so that adding it later changes the fingerprint. */
static int
hash_dir (int root, const char *rel, uint64_t *h, size_t *budget, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int ret = 0;

  fd = openat (root, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      fnv (h, "-", 1);
      fnv (h, rel, strlen (rel));
      return 0;
    }
  d = fdopendir (fd);
  if (d == NULL)
    return nsfd_make_error (err, errno, "reading the lower's \"%s\"", rel);
  fd = -1;
  while ((de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (*budget == 0)
        break; /* bounded: a huge directory is sampled, not read whole */
      (*budget)--;
      if (n == cap)
        {
          char **nn = realloc (names, (cap = cap ? cap * 2 : 64) * sizeof (*nn));
          if (nn == NULL)
            {
              ret = nsfd_make_error (err, ENOMEM, "fingerprint");
              goto out;
            }
          names = nn;
        }
      if ((names[n] = strdup (de->d_name)) == NULL)
        {
          ret = nsfd_make_error (err, ENOMEM, "fingerprint");
          goto out;
        }
      n++;
    }
  if (n > 0) /* qsort with a NULL array is undefined, even for 0 items */
    qsort (names, n, sizeof (*names), cmp_str);
  fnv (h, rel, strlen (rel) + 1);
  for (size_t i = 0; i < n; i++)
    {
      struct stat st;
      char line[64];
      fnv (h, names[i], strlen (names[i]) + 1);
      if (fstatat (dirfd (d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
        {
          /* No mtime for directories and empty files: the runtime creates mount
           * points (and so touches their parents) in every fresh rootfs before
           * any hook runs, which would make each recreated container's image
           * look changed. */
          bool stamp = S_ISREG (st.st_mode) && st.st_size > 0;
          int len = snprintf (line, sizeof (line), "%o:%lld:%lld", (unsigned) (st.st_mode & S_IFMT),
                              (long long) (S_ISREG (st.st_mode) ? st.st_size : 0),
                              stamp ? (long long) st.st_mtime : 0LL);
          fnv (h, line, (size_t) len);
        }
    }
out:
  for (size_t i = 0; i < n; i++)
    free (names[i]);
  free (names);
  return ret;
}

int
nsfd_lowerid_compute (int lower_fd, char out[NSFD_LOWERID_LEN + 1], nsfd_error_t *err)
{
  cleanup_close int root = -1;
  uint64_t h = 14695981039346656037ULL;
  size_t budget = MAX_ENTRIES;
  char buf[OS_RELEASE_MAX];

  root = openat (lower_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return nsfd_make_error (err, errno, "opening the lower layer");
  for (int i = 0; dirs[i]; i++)
    if (hash_dir (root, dirs[i], &h, &budget, err) < 0)
      return -1;
  for (int i = 0; i < 2; i++)
    {
      const char *rel = i == 0 ? "etc/os-release" : "usr/lib/os-release";
      cleanup_close int fd = openat (root, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
        continue;
      ssize_t n = read (fd, buf, sizeof (buf));
      if (n > 0)
        fnv (&h, buf, (size_t) n);
    }
  snprintf (out, NSFD_LOWERID_LEN + 1, "fnv1a64:%016llx", (unsigned long long) h);
  return 0;
}
