/* Path helpers (see pathutil.h). */
#include "pathutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

char *
nsfd_oci_path_clean (const char *path)
{
  size_t len = strlen (path);
  char *out = malloc (len + 2);
  size_t o = 0;
  const char *p = path;

  if (out == NULL)
    {
      errno = ENOMEM;
      return NULL;
    }
  out[o++] = '/';
  while (*p)
    {
      const char *start, *end;
      size_t clen;

      while (*p == '/')
        p++;
      if (*p == '\0')
        break;
      start = p;
      while (*p && *p != '/')
        p++;
      end = p;
      clen = (size_t) (end - start);
      if (clen == 1 && start[0] == '.')
        continue;
      if (clen == 2 && start[0] == '.' && start[1] == '.')
        {
          free (out);
          errno = EINVAL;
          return NULL;
        }
      if (o > 1)
        out[o++] = '/';
      memcpy (out + o, start, clen);
      o += clen;
    }
  out[o] = '\0';
  return out;
}

const char *
nsfd_path_after_prefix (const char *path, const char *prefix)
{
  size_t n = strlen (prefix);

  while (n > 1 && prefix[n - 1] == '/')
    n--;
  if (n == 1 && prefix[0] == '/')
    {
      if (path[0] != '/')
        return NULL;
    }
  else if (strncmp (path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
    return NULL;
  path += n;
  while (*path == '/')
    path++;
  return path;
}

bool
nsfd_path_is_beneath (const char *path, const char *prefix)
{
  return nsfd_path_after_prefix (path, prefix) != NULL;
}

/* 1 when both fds are the same inode, 0 when not, -1 with errno. */
static int
same_dir (int a, int b)
{
  struct stat sa, sb;
  if (fstat (a, &sa) < 0 || fstat (b, &sb) < 0)
    return -1;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

#define WALK_MAX_LINKS 40

/* Replaces *cur with next (both owned). */
static void
walk_step (int *cur, int next)
{
  nsfd_closep (cur);
  *cur = next;
}

/* "..": in_root it stops at root, otherwise it escapes (EXDEV). */
static int
walk_up (int *cur, int root, bool in_root)
{
  int same, up;

  if (!in_root)
    {
      errno = EXDEV;
      return -1;
    }
  same = same_dir (*cur, root);
  if (same != 0)
    return same < 0 ? -1 : 0; /* ".." at the root stays there */
  up = openat (*cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (up < 0)
    return -1;
  walk_step (cur, up);
  return 0;
}

/* The symlink c in *cur, in_root: its target followed by the rest *p
 * becomes the path still to walk (*buf, *p); an absolute target starts again
 * at root. */
static int
walk_link (int *cur, int root, const char *c, char **buf, char **p)
{
  char target[PATH_MAX];
  ssize_t n;
  char *joined;

  n = readlinkat (*cur, c, target, sizeof (target) - 1);
  if (n < 0)
    return -1;
  target[n] = '\0';
  if (asprintf (&joined, "%s/%s", target, *p) < 0)
    return -1;
  free (*buf);
  *buf = *p = joined;
  if (target[0] == '/')
    {
      int r = fcntl (root, F_DUPFD_CLOEXEC, 0);
      if (r < 0)
        return -1;
      walk_step (cur, r);
    }
  return 0;
}

/* The last component, not a symlink when it was looked at. */
static int
walk_open_last (int cur, const char *c, int flags, mode_t mode)
{
  struct stat st;
  int fd = openat (cur, c, flags | O_NOFOLLOW | O_CLOEXEC, mode);

  /* O_PATH|O_NOFOLLOW opens a symlink itself: one swapped in since the
   * fstatat is still a symlink in the way. */
  if (fd >= 0 && (flags & O_PATH) && fstat (fd, &st) == 0 && S_ISLNK (st.st_mode))
    {
      nsfd_closep (&fd);
      errno = ELOOP;
    }
  return fd;
}

/* Descends into directory c. */
static int
walk_into (int *cur, const char *c)
{
  struct stat st;
  int fd = openat (*cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    {
      if (errno == ENOTDIR && fstatat (*cur, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
        errno = ELOOP;
      return -1;
    }
  walk_step (cur, fd);
  return 0;
}

/* The next component of *p (NUL-terminated in place), *p moved past it. */
static char *
walk_next (char **p)
{
  char *c = *p, *next = strchr (c, '/');

  if (next)
    *next++ = '\0';
  *p = next ? next : c + strlen (c);
  while (**p == '/')
    (*p)++;
  return c;
}

int
nsfd_openat_walk (int dirfd, const char *rel, int flags, mode_t mode, bool in_root)
{
  cleanup_close int root = -1, cur = -1;
  cleanup_free char *buf = NULL;
  char *p;
  int links = 0;

  if (rel == NULL)
    rel = "";
  /* Absolute: from "/" for AT_FDCWD, from the root in_root, else escaping. */
  if (rel[0] == '/' && !in_root && dirfd != AT_FDCWD)
    {
      errno = EXDEV;
      return -1;
    }
  root = rel[0] == '/' && !in_root ? open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC)
                                    : openat (dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return -1;
  cur = fcntl (root, F_DUPFD_CLOEXEC, 0);
  if (cur < 0)
    return -1;
  buf = strdup (rel);
  if (buf == NULL)
    return -1;

  for (p = buf;;)
    {
      struct stat st;
      char *c;
      int r;

      while (*p == '/')
        p++;
      if (*p == '\0')
        return openat (cur, ".", flags | O_CLOEXEC, mode);
      c = walk_next (&p);
      if (strcmp (c, ".") == 0)
        continue;
      if (strcmp (c, "..") == 0)
        r = walk_up (&cur, root, in_root);
      else if (fstatat (cur, c, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          /* A missing last component may be created. */
          if (errno == ENOENT && *p == '\0' && (flags & O_CREAT))
            return openat (cur, c, flags | O_NOFOLLOW | O_CLOEXEC, mode);
          return -1;
        }
      else if (S_ISLNK (st.st_mode))
        {
          if (!in_root || ++links > WALK_MAX_LINKS)
            {
              errno = ELOOP;
              return -1;
            }
          r = walk_link (&cur, root, c, &buf, &p);
        }
      else if (*p == '\0')
        return walk_open_last (cur, c, flags, mode);
      else
        r = walk_into (&cur, c);
      if (r < 0)
        return -1;
    }
}

/* Set once the kernel said ENOSYS: asking again on every open would cost a
 * failed syscall each time.  Only ever goes from false to true (outside
 * tests), so a race between threads is harmless. */
static bool openat2_missing;
#define OPENAT2_MAX_RETRIES 64

void
nsfd_openat2_force_fallback (bool on)
{
  openat2_missing = on;
}

static int
openat2_fallback (int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
  resolve &= ~(uint64_t) RESOLVE_NO_MAGICLINKS;
  if (resolve == RESOLVE_IN_ROOT)
    return nsfd_openat_walk (dirfd, path, flags, mode, true);
  if (resolve == (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) || resolve == RESOLVE_NO_SYMLINKS)
    return nsfd_openat_walk (dirfd, path, flags, mode, false);
  errno = ENOSYS;
  return -1;
}

int
nsfd_openat2 (int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
  struct open_how how = {
    .flags = (unsigned long long) (flags | O_CLOEXEC),
    .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
    .resolve = resolve,
  };
  long fd;

  if (!openat2_missing)
    {
      /* EAGAIN: a rename raced the lookup and the kernel asks for a retry;
       * bounded, so a tree renamed without end cannot keep us here. */
      int tries = 0;
      do
        fd = syscall (SYS_openat2, dirfd, path, &how, sizeof (how));
      while (fd < 0 && errno == EAGAIN && ++tries < OPENAT2_MAX_RETRIES);
      if (fd >= 0 || errno != ENOSYS)
        return (int) fd;
      openat2_missing = true;
    }
  return openat2_fallback (dirfd, path, flags | O_CLOEXEC, (mode_t) how.mode, resolve);
}
