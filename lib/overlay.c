#include "overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "fault.h"
#include "layer.h"
#include "mounttable.h"
#include "safepath.h"

int
nsfd_open_checked (const char *path, int flags, int check_fd, nsfd_error_t *err)
{
  struct open_how how = {
    .flags = (unsigned long long) (flags | O_CLOEXEC),
    .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  cleanup_close int fd = -1;
  int same;

  fd = (int) syscall (SYS_openat2, AT_FDCWD, path, &how, sizeof (how));
  if (fd < 0 && errno == ENOSYS) /* kernel < 5.6, valgrind */
    fd = nsfd_openat_walk (AT_FDCWD, path, flags, 0, false);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening \"%s\"%s", path,
                            errno == ELOOP ? " (a symbolic link is in the way)" : "");
  if (check_fd >= 0)
    {
      same = nsfd_same_inode (fd, check_fd, err);
      if (same < 0)
        return -1;
      if (!same)
        return nsfd_make_error (err, EXDEV, "\"%s\" is not the directory that was prepared "
                                "(it was replaced while the container was being created)", path);
    }
  return nsfd_take_fd (&fd);
}

/* Reads what the kernel said about a failed fsconfig/fsmount. */
static void
fs_messages (int fsfd, char *buf, size_t cap)
{
  size_t off = 0;
  buf[0] = '\0';
  for (int i = 0; i < 8 && off + 2 < cap; i++)
    {
      char line[512];
      ssize_t n = read (fsfd, line, sizeof (line) - 1);
      if (n <= 0)
        break;
      line[n] = '\0';
      off += (size_t) snprintf (buf + off, cap - off, "%s%s", off ? "; " : " (kernel: ", line);
    }
  if (off && off + 2 < cap)
    snprintf (buf + off, cap - off, ")");
}

static int
fs_set (int fsfd, const char *key, const char *value, nsfd_error_t *err)
{
  char msgs[1024];
  if (fsconfig (fsfd, FSCONFIG_SET_STRING, key, value, 0) == 0)
    return 0;
  int e = errno;
  fs_messages (fsfd, msgs, sizeof (msgs));
  return nsfd_make_error (err, e, "overlay option %s=%s%s", key, value, msgs);
}

/* A detached overlay mount of lower/upper/work (fds), as a mount fd. */
static int
make_overlay (int lower_fd, int stubs_fd, int upper_fd, int work_fd, nsfd_error_t *err)
{
  cleanup_close int fsfd = -1;
  char l[32], st[32], u[32], w[32], lowers[80], msgs[1024];
  static const char *fixed[][2] = { { "index", "off" }, { "metacopy", "off" }, { "redirect_dir", "off" } };
  int mfd;

  fsfd = fsopen ("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0)
    return nsfd_make_error (err, errno, "fsopen(\"overlay\") (is the overlay module available?)");
  /* The stub layer sits below the real lower: it only shows where the lower
   * has nothing. */
  if (stubs_fd >= 0)
    snprintf (lowers, sizeof (lowers), "%s:%s", nsfd_fd_path (lower_fd, l), nsfd_fd_path (stubs_fd, st));
  else
    snprintf (lowers, sizeof (lowers), "%s", nsfd_fd_path (lower_fd, l));
  if (fs_set (fsfd, "lowerdir", lowers, err) < 0
      || fs_set (fsfd, "upperdir", nsfd_fd_path (upper_fd, u), err) < 0
      || fs_set (fsfd, "workdir", nsfd_fd_path (work_fd, w), err) < 0)
    return -1;
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (fixed); i++)
    if (fs_set (fsfd, fixed[i][0], fixed[i][1], err) < 0)
      return -1;
  if (fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    {
      int e = errno;
      fs_messages (fsfd, msgs, sizeof (msgs));
      return nsfd_make_error (err, e, "creating the overlay%s", msgs);
    }
  mfd = fsmount (fsfd, FSMOUNT_CLOEXEC, 0);
  if (mfd < 0)
    {
      int e = errno;
      fs_messages (fsfd, msgs, sizeof (msgs));
      return nsfd_make_error (err, e, "fsmount of the overlay%s", msgs);
    }
  return mfd;
}

static int
move_fd_to_fd (int from, int to, const char *what, nsfd_error_t *err)
{
  if (move_mount (from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return nsfd_make_error (err, errno, "moving %s", what);
  return 0;
}

/* Creates the missing mount point rel beneath root (directories for every
 * component, the last one a directory or an empty file like the source). */
static int
make_stub (int root_fd, const char *rel, bool dir, nsfd_error_t *err)
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

static bool
kept_out (const struct nsfd_overlay_spec *s, const char *target)
{
  for (size_t i = 0; i < s->n_keep_out; i++)
    if (strcmp (s->keep_out[i], target) == 0)
      return true;
  return false;
}

/* Moves every direct child mount of the rootfs mount into the overlay root. */
static int
carry_mounts (const struct nsfd_overlay_spec *s, int rootfs_fd, int ovl_fd,
              const struct nsfd_mount_list *children, const struct nsfd_mount_list *nested,
              nsfd_error_t *err)
{
  size_t rlen = strlen (s->rootfs);

  for (size_t i = 0; i < children->len; i++)
    {
      const struct nsfd_mount_entry *m = &children->items[i];
      const char *rel = m->target + rlen;
      cleanup_close int src = -1;
      cleanup_close int dst = -1;
      struct stat st;

      while (*rel == '/')
        rel++;
      if (kept_out (s, m->target))
        {
          /* Anything mounted inside a volume we leave behind would vanish. */
          for (size_t j = 0; j < nested->len; j++)
            if (nsfd_path_is_beneath (nested->items[j].target, m->target)
                && strcmp (nested->items[j].target, m->target) != 0)
              return nsfd_make_error (err, EINVAL,
                                      "\"%s\" is mounted inside the persistent volume \"/%s\", which is "
                                      "not carried into the new root; mount it elsewhere or set "
                                      "nsfdsuds.io/keep-volume-visible",
                                      nested->items[j].target + rlen, rel);
          continue;
        }

      src = nsfd_open_beneath (rootfs_fd, rel, O_PATH, 0, err);
      if (src < 0)
        return nsfd_error_wrap (err, "mount \"/%s\" in the container rootfs", rel);
      if (fstat (src, &st) < 0)
        return nsfd_make_error (err, errno, "stat mount \"/%s\"", rel);
      dst = nsfd_open_beneath (ovl_fd, rel, O_PATH, 0, err);
      if (dst < 0 && *err && (*err)->status == ENOENT)
        {
          nsfd_error_free (err);
          if (make_stub (ovl_fd, rel, S_ISDIR (st.st_mode), err) < 0)
            return -1;
          dst = nsfd_open_beneath (ovl_fd, rel, O_PATH, 0, err);
        }
      if (dst < 0)
        return nsfd_error_wrap (err, "mount point \"/%s\" in the new root", rel);
      if (move_mount (src, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return nsfd_make_error (err, errno, "moving mount \"/%s\" (%s) into the new root", rel, m->fstype);
    }
  return 0;
}

/* Where path (inside the container) lands in the lower, following the
 * lower's own symlinks as the runtime will: the longest existing prefix,
 * resolved within the lower, plus the missing rest.  *exists tells whether the
 * whole path exists.  Result relative to the lower's root, in out. */
static int
resolve_in_lower (int lower_fd, const char *lower_real, const char *path, char *out, size_t cap, bool *exists,
                  nsfd_error_t *err)
{
  struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  cleanup_free char *prefix = strdup (path);
  size_t llen = strlen (lower_real);
  char *cut = NULL;

  if (prefix == NULL)
    return nsfd_make_error (err, ENOMEM, "stub path");
  *exists = false;
  for (;;)
    {
      cleanup_close int fd = (int) syscall (SYS_openat2, lower_fd, *prefix ? prefix : "/", &how, sizeof (how));
      if (fd < 0 && errno == ENOSYS) /* kernel < 5.6, valgrind; the prefix check below still applies */
        fd = nsfd_openat_walk (lower_fd, *prefix ? prefix : "/", O_PATH, 0, true);
      if (fd >= 0)
        {
          char proc[32], real[4096];
          ssize_t n = readlink (nsfd_fd_path (fd, proc), real, sizeof (real) - 1);
          const char *rel, *rest = cut ? path + (cut - prefix) : "";
          if (n < 0)
            return nsfd_make_error (err, errno, "resolving \"%s\" in the lower", path);
          real[n] = '\0';
          if (strncmp (real, lower_real, llen) != 0 || (real[llen] != '\0' && real[llen] != '/'))
            return nsfd_make_error (err, EXDEV, "\"%s\" resolves outside the lower", path);
          rel = real + llen;
          while (*rel == '/')
            rel++;
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

/* Mounts a tmpfs at stubs_dir holding every mount point the lower lacks.
 * Returns an O_PATH fd of it, or -1 with no error when no stub is needed. */
static int
build_stubs (const struct nsfd_overlay_spec *s, int lower_fd, const struct nsfd_mount_point *mps, size_t n,
             nsfd_error_t *err)
{
  cleanup_close int sfd = -1;
  char proc[32], lower_real[4096], rel[4096];
  ssize_t len;
  bool mounted = false;

  len = readlink (nsfd_fd_path (lower_fd, proc), lower_real, sizeof (lower_real) - 1);
  if (len < 0)
    return nsfd_make_error (err, errno, "resolving the lower's path");
  lower_real[len] = '\0';
  if (strcmp (lower_real, "/") == 0)
    lower_real[0] = '\0';

  for (size_t i = 0; i < n; i++)
    {
      bool exists;
      if (resolve_in_lower (lower_fd, lower_real, mps[i].path, rel, sizeof (rel), &exists, err) < 0)
        goto fail;
      if (exists)
        continue;
      if (!mounted)
        {
          cleanup_close int target = nsfd_open_checked (s->stubs_dir, O_PATH | O_DIRECTORY, -1, err);
          char tp[32];
          if (target < 0)
            return -1;
          if (mount ("nsfdsuds-stubs", nsfd_fd_path (target, tp), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
            return nsfd_make_error (err, errno, "mounting the stub layer at \"%s\"", s->stubs_dir);
          mounted = true;
          sfd = nsfd_open_checked (s->stubs_dir, O_PATH | O_DIRECTORY, -1, err);
          if (sfd < 0)
            goto fail;
        }
      if (make_stub (sfd, rel, mps[i].is_dir, err) < 0)
        goto fail;
    }
  return mounted ? nsfd_take_fd (&sfd) : -1;
fail:
  if (mounted)
    (void) umount2 (s->stubs_dir, MNT_DETACH | UMOUNT_NOFOLLOW);
  return -2;
}

static int
check_is_overlay (int fd, const char *where, nsfd_error_t *err)
{
  struct statfs sfs;
  if (fstatfs (fd, &sfs) < 0)
    return nsfd_make_error (err, errno, "statfs \"%s\"", where);
  if ((unsigned long) sfs.f_type != OVERLAYFS_MAGIC_NUMBER)
    return nsfd_make_error (err, EIO, "\"%s\" is not the overlay after mounting it", where);
  return 0;
}

int
nsfd_overlay_assemble (const struct nsfd_overlay_spec *s, nsfd_error_t *err)
{
  cleanup_close int rootfs_fd = -1;
  cleanup_close int lower_fd = -1;
  cleanup_close int upper_fd = -1;
  cleanup_close int work_fd = -1;
  cleanup_close int stage_fd = -1;
  cleanup_close int mfd = -1;
  cleanup_close int ovl_fd = -1;
  cleanup_close int top_fd = -1;
  cleanup_close int stubs_fd = -1;
  cleanup_mount_list struct nsfd_mount_list children = { 0 };
  cleanup_mount_list struct nsfd_mount_list nested = { 0 };
  struct nsfd_mount_entry root = { 0 };
  int ret = -1;

  if (nsfd_mounts_below (NULL, s->rootfs, &root, &children, &nested, err) < 0)
    return nsfd_error_wrap (err, "container rootfs \"%s\"", s->rootfs);

  rootfs_fd = nsfd_open_checked (s->rootfs, O_PATH | O_DIRECTORY, -1, err);
  if (rootfs_fd < 0)
    goto out;
  if (s->lower)
    lower_fd = nsfd_open_checked (s->lower, O_PATH | O_DIRECTORY, s->lower_check_fd, err);
  else
    lower_fd = dup (rootfs_fd);
  if (lower_fd < 0)
    {
      if (!*err)
        nsfd_make_error (err, errno, "dup");
      nsfd_error_wrap (err, "lower directory");
      goto out;
    }
  upper_fd = nsfd_open_checked (s->upper, O_PATH | O_DIRECTORY, s->upper_check_fd, err);
  if (upper_fd < 0)
    goto out;
  work_fd = nsfd_open_checked (s->work, O_PATH | O_DIRECTORY, s->work_check_fd, err);
  if (work_fd < 0)
    goto out;

  if (s->stubs_dir)
    {
      /* Hook mode: the mounts below the rootfs are the mount points. */
      size_t n = s->n_mount_points + children.len, k = 0;
      cleanup_free struct nsfd_mount_point *mps = calloc (n ? n : 1, sizeof (*mps));
      size_t rlen = strlen (s->rootfs);
      if (mps == NULL)
        {
          nsfd_make_error (err, ENOMEM, "mount points");
          goto out;
        }
      for (size_t i = 0; i < s->n_mount_points; i++)
        mps[k++] = s->mount_points[i];
      for (size_t i = 0; i < children.len; i++)
        {
          struct stat st;
          if (kept_out (s, children.items[i].target) || stat (children.items[i].target, &st) < 0)
            continue;
          mps[k].path = children.items[i].target + rlen;
          mps[k++].is_dir = S_ISDIR (st.st_mode);
        }
      stubs_fd = build_stubs (s, lower_fd, mps, k, err);
      if (stubs_fd == -2)
        goto out;
    }

  mfd = make_overlay (lower_fd, stubs_fd, upper_fd, work_fd, err);
  /* The overlay holds its own reference to the stub layer. */
  if (stubs_fd >= 0)
    (void) umount2 (s->stubs_dir, MNT_DETACH | UMOUNT_NOFOLLOW);
  if (mfd < 0)
    goto out;

  if (s->staging == NULL)
    {
      /* Wrapper mode: nothing of the runtime's is mounted yet; carry whatever
       * the engine put below the rootfs by stacking after moving them. */
      if (children.len > 0)
        {
          ret = nsfd_make_error (err, EINVAL, "\"%s\" already has mounts below it (first: \"%s\"); "
                                 "the runtime wrapper expects a bare rootfs", s->rootfs,
                                 children.items[0].target);
          goto out;
        }
      if (move_fd_to_fd (mfd, rootfs_fd, "the overlay onto the rootfs", err) < 0)
        goto out;
      top_fd = nsfd_open_checked (s->rootfs, O_PATH | O_DIRECTORY, -1, err);
      if (top_fd < 0 || check_is_overlay (top_fd, s->rootfs, err) < 0)
        goto out;
      ret = 0;
      goto out;
    }

  stage_fd = nsfd_open_checked (s->staging, O_PATH | O_DIRECTORY, -1, err);
  if (stage_fd < 0)
    goto out;
  if (move_fd_to_fd (mfd, stage_fd, "the new overlay to its staging directory", err) < 0)
    goto out;
  ovl_fd = nsfd_open_checked (s->staging, O_PATH | O_DIRECTORY, -1, err);
  if (ovl_fd < 0 || check_is_overlay (ovl_fd, s->staging, err) < 0)
    goto fail_detach;
  NSFD_FAULT ("worker-after-attach");

  /* A mount below a shared mount cannot be moved; the old rootfs mount is
   * discarded after pivot_root, so making it private changes nothing else. */
  if (root.shared)
    {
      char p[32];
      if (mount (NULL, nsfd_fd_path (rootfs_fd, p), NULL, MS_PRIVATE, NULL) < 0)
        {
          nsfd_make_error (err, errno, "making the old rootfs mount private");
          goto fail_detach;
        }
    }
  if (carry_mounts (s, rootfs_fd, ovl_fd, &children, &nested, err) < 0)
    goto fail_detach;
  NSFD_FAULT ("worker-after-carry");

  nsfd_closep (&ovl_fd);
  ovl_fd = nsfd_open_checked (s->staging, O_PATH | O_DIRECTORY, -1, err);
  if (ovl_fd < 0)
    goto fail_detach;
  if (move_fd_to_fd (ovl_fd, rootfs_fd, "the overlay onto the rootfs", err) < 0)
    goto fail_detach;
  top_fd = nsfd_open_checked (s->rootfs, O_PATH | O_DIRECTORY, -1, err);
  if (top_fd < 0 || check_is_overlay (top_fd, s->rootfs, err) < 0)
    goto out;
  ret = 0;
  goto out;

fail_detach:
  /* The container will not start; drop the half-built root so the layer is
   * released as soon as possible. */
  (void) umount2 (s->staging, MNT_DETACH | UMOUNT_NOFOLLOW);
out:
  nsfd_mount_entry_free (&root);
  return ret;
}
