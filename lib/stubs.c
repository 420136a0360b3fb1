#include "stubs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include "pathutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "overlay.h"
#include "safepath.h"

int
nsfd_stub_create (int root_fd, const char *rel, bool dir, nsfd_error_t *err)
{
  cleanup_free char *copy = strdup (rel);
  cleanup_close int cur = -1;
  char *save = NULL, *part, *next;

  if (copy == NULL)
    return nsfd_make_error (err, ENOMEM, "stub path");
  cur = dup (root_fd);
  if (cur < 0)
    return nsfd_make_error (err, errno, "dup");
  part = strtok_r (copy, "/", &save);
  while (part)
    {
      int nfd;
      next = strtok_r (NULL, "/", &save);
      if (next == NULL && !dir)
        {
          nfd = openat (cur, part, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
          if (nfd < 0)
            return nsfd_make_error (err, errno, "creating mount point \"/%s\"", rel);
          close (nfd);
          return 0;
        }
      if (mkdirat (cur, part, 0755) < 0 && errno != EEXIST)
        return nsfd_make_error (err, errno, "creating mount point \"/%s\"", rel);
      nfd = openat (cur, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (nfd < 0)
        return nsfd_make_error (err, errno, "opening mount point \"/%s\" (component \"%s\")", rel, part);
      close (cur);
      cur = nfd;
      part = next;
    }
  return 0;
}

/* Where path (inside the container) lands in the lower, following the
 * lower's own symlinks as the runtime will: the longest existing prefix,
 * resolved within the lower, plus the missing rest.  *exists tells whether the
 * whole path exists.  Result relative to the lower's root, in out.  The stub
 * layer mirrors the lower's tree, so the resolved location is needed as a
 * path; the kernel gives it only through the fd's /proc link. */
static int
resolve_in_lower (int lower_fd, const char *lower_real, const char *path, char *out, size_t cap, bool *exists,
                  nsfd_error_t *err)
{
  cleanup_free char *prefix = strdup (path);
  char *cut = NULL;

  if (prefix == NULL)
    return nsfd_make_error (err, ENOMEM, "stub path");
  *exists = false;
  for (;;)
    {
      /* The walk used without openat2 can be raced out of the tree: the
       * prefix check below catches that. */
      cleanup_close int fd = nsfd_openat2 (lower_fd, *prefix ? prefix : "/", O_PATH, 0,
                                           RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (fd >= 0)
        {
          char proc[32], real[4096];
          ssize_t n = readlink (nsfd_fd_path (fd, proc), real, sizeof (real) - 1);
          const char *rel, *rest = cut ? path + (cut - prefix) : "";
          if (n < 0)
            return nsfd_make_error (err, errno, "resolving \"%s\" in the lower", path);
          real[n] = '\0';
          rel = nsfd_path_after_prefix (real, lower_real);
          if (rel == NULL)
            return nsfd_make_error (err, EXDEV, "\"%s\" resolves outside the lower", path);
          while (*rest == '/')
            rest++;
          if (snprintf (out, cap, "%s%s%s", rel, *rel && *rest ? "/" : "", rest) >= (int) cap)
            return nsfd_make_error (err, ENAMETOOLONG, "stub path for \"%s\"", path);
          *exists = cut == NULL;
          return 0;
        }
      if (errno != ENOENT)
        return nsfd_make_error (err, errno, "looking up mount point \"%s\" in the lower", path);
      cut = strrchr (prefix, '/');
      if (cut == NULL || cut == prefix)
        {
          if (cut == prefix && prefix[1] != '\0')
            {
              prefix[1] = '\0';
              cut = prefix + 1;
              /* next round opens "/" */
              continue;
            }
          return nsfd_make_error (err, ENOENT, "mount point \"%s\": nothing of it exists in the lower", path);
        }
      *cut = '\0';
    }
}

static int
mount_stub_tmpfs (const char *stubs_dir, int *out_fd, nsfd_error_t *err)
{
  cleanup_close int target = nsfd_open_checked (stubs_dir, O_PATH | O_DIRECTORY, -1, err);
  char tp[32];

  if (target < 0)
    return -1;
  if (mount ("nsfdsuds-stubs", nsfd_fd_path (target, tp), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
    return nsfd_make_error (err, errno, "mounting the stub layer at \"%s\"", stubs_dir);
  *out_fd = nsfd_open_checked (stubs_dir, O_PATH | O_DIRECTORY, -1, err);
  if (*out_fd < 0)
    {
      (void) umount2 (stubs_dir, MNT_DETACH | UMOUNT_NOFOLLOW);
      return -1;
    }
  return 0;
}

int
nsfd_stubs_build (const char *stubs_dir, int lower_fd, const struct nsfd_mount_point *mps, size_t n,
                  int *out_fd, nsfd_error_t *err)
{
  cleanup_close int sfd = -1;
  char proc[32], lower_real[4096], rel[4096];
  ssize_t len;

  *out_fd = -1;
  len = readlink (nsfd_fd_path (lower_fd, proc), lower_real, sizeof (lower_real) - 1);
  if (len < 0)
    return nsfd_make_error (err, errno, "resolving the lower's path");
  lower_real[len] = '\0';

  for (size_t i = 0; i < n; i++)
    {
      bool exists;
      if (resolve_in_lower (lower_fd, lower_real, mps[i].path, rel, sizeof (rel), &exists, err) < 0)
        goto fail;
      if (exists)
        continue;
      if (sfd < 0 && mount_stub_tmpfs (stubs_dir, &sfd, err) < 0)
        return -1;
      if (nsfd_stub_create (sfd, rel, mps[i].is_dir, err) < 0)
        goto fail;
    }
  *out_fd = nsfd_take_fd (&sfd);
  return 0;
fail:
  if (sfd >= 0)
    (void) umount2 (stubs_dir, MNT_DETACH | UMOUNT_NOFOLLOW);
  return -1;
}
