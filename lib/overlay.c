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
make_overlay (int lower_fd, int upper_fd, int work_fd, nsfd_error_t *err)
{
  cleanup_close int fsfd = -1;
  char l[32], u[32], w[32], msgs[1024];
  static const char *fixed[][2] = { { "index", "off" }, { "metacopy", "off" }, { "redirect_dir", "off" } };
  int mfd;

  fsfd = fsopen ("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0)
    return nsfd_make_error (err, errno, "fsopen(\"overlay\") (is the overlay module available?)");
  if (fs_set (fsfd, "lowerdir", nsfd_fd_path (lower_fd, l), err) < 0
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
      for (size_t j = 0; j < i; j++)
        if (strcmp (children->items[j].target, m->target) == 0)
          return nsfd_make_error (err, EINVAL, "two mounts are stacked at \"/%s\"; "
                                  "stacked mounts below the root are not supported", rel);

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

  mfd = make_overlay (lower_fd, upper_fd, work_fd, err);
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
