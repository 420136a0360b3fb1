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
#include "log.h"
#include "mounttable.h"
#include "safepath.h"
#include "stubs.h"

int
nsfd_open_checked (const char *path, int flags, int check_fd, nsfd_error_t *err)
{
  cleanup_close int fd = nsfd_openat2 (AT_FDCWD, path, flags, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  int same;

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

/* The assembly's state, carried from stage to stage. */
struct assembly
{
  const struct nsfd_overlay_spec *s;
  struct nsfd_mount_entry root;          /* the mount holding the rootfs */
  struct nsfd_mount_list children;       /* mounts directly below the rootfs */
  struct nsfd_mount_list nested;         /* every mount below it */
  int rootfs_fd, lower_fd, upper_fd, work_fd, stubs_fd;
  int mfd;                               /* the detached overlay */
  int ovl_fd;                            /* the overlay at staging */
  bool at_staging;                       /* attached at staging: detach on failure */
};

static void
assembly_free (struct assembly *a)
{
  nsfd_mount_entry_free (&a->root);
  nsfd_mount_list_free (&a->children);
  nsfd_mount_list_free (&a->nested);
  nsfd_closep (&a->rootfs_fd);
  nsfd_closep (&a->lower_fd);
  nsfd_closep (&a->upper_fd);
  nsfd_closep (&a->work_fd);
  nsfd_closep (&a->stubs_fd);
  nsfd_closep (&a->mfd);
  nsfd_closep (&a->ovl_fd);
}

/* One layer's fd for this namespace: the preparing process's own, or the
 * path opened again here and checked to be the same inode. */
static int
layer_fd (const struct nsfd_overlay_spec *s, const char *path, int fd, const char *what, nsfd_error_t *err)
{
  int r;
  if (!s->reopen_layers)
    {
      r = fcntl (fd, F_DUPFD_CLOEXEC, 3);
      return r >= 0 ? r : nsfd_make_error (err, errno, "the %s directory \"%s\"", what, path);
    }
  r = nsfd_open_checked (path, O_PATH | O_DIRECTORY, fd, err);
  return r >= 0 ? r : nsfd_error_wrap (err, "%s directory", what);
}

/* Stage 1: the mount table below the rootfs, and every layer opened and
 * verified. */
static int
stage_open (struct assembly *a, nsfd_error_t *err)
{
  const struct nsfd_overlay_spec *s = a->s;

  if (nsfd_mounts_below (NULL, s->rootfs, &a->root, &a->children, &a->nested, err) < 0)
    return nsfd_error_wrap (err, "container rootfs \"%s\"", s->rootfs);
  a->rootfs_fd = nsfd_open_checked (s->rootfs, O_PATH | O_DIRECTORY, -1, err);
  if (a->rootfs_fd < 0)
    return -1;
  if (s->lower_fd >= 0)
    a->lower_fd = layer_fd (s, s->lower, s->lower_fd, "lower", err);
  else if ((a->lower_fd = fcntl (a->rootfs_fd, F_DUPFD_CLOEXEC, 3)) < 0)
    return nsfd_make_error (err, errno, "dup of the rootfs fd");
  if (a->lower_fd < 0)
    return -1;
  a->upper_fd = layer_fd (s, s->upper, s->upper_fd, "upper", err);
  if (a->upper_fd < 0)
    return -1;
  a->work_fd = layer_fd (s, s->work, s->work_fd, "work", err);
  return a->work_fd < 0 ? -1 : 0;
}

static bool
kept_out (const struct nsfd_overlay_spec *s, const char *target)
{
  for (size_t i = 0; i < s->n_keep_out; i++)
    if (strcmp (s->keep_out[i], target) == 0)
      return true;
  return false;
}

/* Stage 2: the stub layer, for the mount points the lower lacks: the
 * configured ones, and in hook mode the mounts below the rootfs. */
static int
stage_stubs (struct assembly *a, nsfd_error_t *err)
{
  const struct nsfd_overlay_spec *s = a->s;
  size_t n = s->n_mount_points + a->children.len, k = 0, rlen = strlen (s->rootfs);
  cleanup_free struct nsfd_mount_point *mps = NULL;

  if (s->stubs_dir == NULL)
    return 0;
  mps = calloc (n ? n : 1, sizeof (*mps));
  if (mps == NULL)
    return nsfd_make_error (err, ENOMEM, "mount points");
  for (size_t i = 0; i < s->n_mount_points; i++)
    mps[k++] = s->mount_points[i];
  for (size_t i = 0; i < a->children.len; i++)
    {
      struct stat st;
      if (kept_out (s, a->children.items[i].target) || stat (a->children.items[i].target, &st) < 0)
        continue;
      mps[k].path = a->children.items[i].target + rlen;
      mps[k++].is_dir = S_ISDIR (st.st_mode);
    }
  return nsfd_stubs_build (s->stubs_dir, a->lower_fd, mps, k, &a->stubs_fd, err);
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

/* Stage 3: the overlay, detached.  lowerdir/upperdir/workdir take paths;
 * /proc/self/fd/N names our fds without a second lookup of the real path. */
static int
stage_create (struct assembly *a, nsfd_error_t *err)
{
  static const char *fixed[][2] = { { "index", "off" }, { "metacopy", "off" }, { "redirect_dir", "off" } };
  cleanup_close int fsfd = -1;
  char l[32], st[32], u[32], w[32], lowers[80], msgs[1024];
  int e;

  fsfd = fsopen ("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0)
    return nsfd_make_error (err, errno, "fsopen(\"overlay\") (is the overlay module available?)");
  /* The stub layer sits below the real lower: it only shows where the lower
   * has nothing. */
  if (a->stubs_fd >= 0)
    snprintf (lowers, sizeof (lowers), "%s:%s", nsfd_fd_path (a->lower_fd, l), nsfd_fd_path (a->stubs_fd, st));
  else
    snprintf (lowers, sizeof (lowers), "%s", nsfd_fd_path (a->lower_fd, l));
  if (fs_set (fsfd, "lowerdir", lowers, err) < 0 || fs_set (fsfd, "upperdir", nsfd_fd_path (a->upper_fd, u), err) < 0
      || fs_set (fsfd, "workdir", nsfd_fd_path (a->work_fd, w), err) < 0)
    return -1;
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (fixed); i++)
    if (fs_set (fsfd, fixed[i][0], fixed[i][1], err) < 0)
      return -1;
  if (fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    {
      e = errno;
      fs_messages (fsfd, msgs, sizeof (msgs));
      return nsfd_make_error (err, e, "creating the overlay%s", msgs);
    }
  a->mfd = fsmount (fsfd, FSMOUNT_CLOEXEC, 0);
  if (a->mfd < 0)
    {
      e = errno;
      fs_messages (fsfd, msgs, sizeof (msgs));
      return nsfd_make_error (err, e, "fsmount of the overlay%s", msgs);
    }
  /* The overlay holds its own reference to the stub layer. */
  if (a->stubs_fd >= 0)
    (void) umount2 (a->s->stubs_dir, MNT_DETACH | UMOUNT_NOFOLLOW);
  return 0;
}

static int
move_fd_to_fd (int from, int to, const char *what, nsfd_error_t *err)
{
  if (move_mount (from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return nsfd_make_error (err, errno, "moving %s", what);
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

/* Stage 4: attach.  Wrapper: onto the rootfs, which must have nothing below
 * it yet.  Hook: at the staging directory, where the mounts are carried. */
static int
stage_attach (struct assembly *a, nsfd_error_t *err)
{
  const struct nsfd_overlay_spec *s = a->s;
  cleanup_close int stage_fd = -1;

  if (s->staging == NULL)
    {
      if (a->children.len > 0)
        return nsfd_make_error (err, EINVAL, "\"%s\" already has mounts below it (first: \"%s\"); "
                                "the runtime wrapper expects a bare rootfs", s->rootfs,
                                a->children.items[0].target);
      return move_fd_to_fd (a->mfd, a->rootfs_fd, "the overlay onto the rootfs", err);
    }
  stage_fd = nsfd_open_checked (s->staging, O_PATH | O_DIRECTORY, -1, err);
  if (stage_fd < 0 || move_fd_to_fd (a->mfd, stage_fd, "the new overlay to its staging directory", err) < 0)
    return -1;
  a->at_staging = true;
  a->ovl_fd = nsfd_open_checked (s->staging, O_PATH | O_DIRECTORY, -1, err);
  if (a->ovl_fd < 0 || check_is_overlay (a->ovl_fd, s->staging, err) < 0)
    return -1;
  NSFD_FAULT ("worker-after-attach");
  return 0;
}

/* A mount inside a volume left behind would vanish with the old root. */
static int
check_nothing_inside (const struct assembly *a, const char *kept, const char *rel, nsfd_error_t *err)
{
  size_t rlen = strlen (a->s->rootfs);
  for (size_t j = 0; j < a->nested.len; j++)
    if (nsfd_path_is_beneath (a->nested.items[j].target, kept) && strcmp (a->nested.items[j].target, kept) != 0)
      return nsfd_make_error (err, EINVAL,
                              "\"%s\" is mounted inside the persistent volume \"/%s\", which is "
                              "not carried into the new root; mount it elsewhere or set "
                              "nsfdsuds.io/keep-volume-visible",
                              a->nested.items[j].target + rlen, rel);
  return 0;
}

/* Moves one direct child mount of the rootfs to the same place in the
 * overlay, creating its mount point there if the layer hides it. */
static int
carry_one (struct assembly *a, const struct nsfd_mount_entry *m, const char *rel, nsfd_error_t *err)
{
  cleanup_close int src = -1;
  cleanup_close int dst = -1;
  struct stat st;

  src = nsfd_open_beneath (a->rootfs_fd, rel, O_PATH, 0, err);
  if (src < 0)
    return nsfd_error_wrap (err, "mount \"/%s\" in the container rootfs", rel);
  dst = nsfd_open_beneath (a->ovl_fd, rel, O_PATH, 0, err);
  if (dst < 0 && *err && (*err)->status == ENOENT)
    {
      nsfd_error_free (err);
      /* Only a missing mount point needs to know what the mount is. */
      if (fstat (src, &st) < 0)
        return nsfd_make_error (err, errno, "stat mount \"/%s\"", rel);
      if (nsfd_stub_create (a->ovl_fd, rel, S_ISDIR (st.st_mode), err) < 0)
        return -1;
      dst = nsfd_open_beneath (a->ovl_fd, rel, O_PATH, 0, err);
    }
  if (dst < 0)
    return nsfd_error_wrap (err, "mount point \"/%s\" in the new root", rel);
  if (move_mount (src, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return nsfd_make_error (err, errno, "moving mount \"/%s\" (%s) into the new root", rel, m->fstype);
  return 0;
}

/* Stage 5 (hook): every direct child mount of the rootfs into the overlay,
 * in mount-table order; a moved mount keeps its flags, propagation and
 * submounts. */
static int
stage_carry (struct assembly *a, nsfd_error_t *err)
{
  const struct nsfd_overlay_spec *s = a->s;
  size_t rlen = strlen (s->rootfs);

  if (s->staging == NULL)
    return 0;
  /* A mount below a shared mount cannot be moved; the old rootfs mount is
   * discarded after pivot_root, so making it private changes nothing else. */
  if (a->root.shared)
    {
      char p[32];
      if (mount (NULL, nsfd_fd_path (a->rootfs_fd, p), NULL, MS_PRIVATE, NULL) < 0)
        return nsfd_make_error (err, errno, "making the old rootfs mount private");
    }
  for (size_t i = 0; i < a->children.len; i++)
    {
      const struct nsfd_mount_entry *m = &a->children.items[i];
      const char *rel = m->target + rlen;
      while (*rel == '/')
        rel++;
      if (kept_out (s, m->target))
        {
          if (check_nothing_inside (a, m->target, rel, err) < 0)
            return -1;
          continue;
        }
      if (carry_one (a, m, rel, err) < 0)
        return -1;
    }
  NSFD_FAULT ("worker-after-carry");
  return 0;
}

/* Stage 6: hook mode moves the overlay (with what it carries) from staging
 * onto the rootfs; both check that the rootfs path now shows the overlay. */
static int
stage_finalise (struct assembly *a, nsfd_error_t *err)
{
  const struct nsfd_overlay_spec *s = a->s;
  cleanup_close int top_fd = -1;

  if (s->staging != NULL)
    {
      /* The staging mount is the one carrying the submounts now: move it by
       * a fresh fd of the path, not the fd taken before the carry. */
      nsfd_closep (&a->ovl_fd);
      a->ovl_fd = nsfd_open_checked (s->staging, O_PATH | O_DIRECTORY, -1, err);
      if (a->ovl_fd < 0 || move_fd_to_fd (a->ovl_fd, a->rootfs_fd, "the overlay onto the rootfs", err) < 0)
        return -1;
      a->at_staging = false;
    }
  top_fd = nsfd_open_checked (s->rootfs, O_PATH | O_DIRECTORY, -1, err);
  if (top_fd < 0)
    return -1;
  return check_is_overlay (top_fd, s->rootfs, err);
}

int
nsfd_overlay_assemble (const struct nsfd_overlay_spec *s, nsfd_error_t *err)
{
  static const struct
  {
    const char *name;
    int (*run) (struct assembly *a, nsfd_error_t *err);
  } stages[] = {
    { "open and verify", stage_open }, { "stubs", stage_stubs },   { "create", stage_create },
    { "attach", stage_attach },       { "carry", stage_carry },    { "finalise", stage_finalise },
  };
  struct assembly a = { .s = s, .rootfs_fd = -1, .lower_fd = -1, .upper_fd = -1, .work_fd = -1,
                        .stubs_fd = -1, .mfd = -1, .ovl_fd = -1 };
  int ret = 0;

  for (size_t i = 0; i < NSFD_ARRAY_SIZE (stages) && ret == 0; i++)
    {
      ret = stages[i].run (&a, err);
      nsfd_log_step (NULL, stages[i].name);
      if (ret < 0 && *err)
        nsfd_log (NSFD_LOG_DEBUG, NULL, "overlay assembly, stage \"%s\": %s", stages[i].name, nsfd_error_text (*err));
    }
  /* The container will not start; drop a half-built root so the layer is
   * released as soon as possible. */
  if (ret < 0 && a.at_staging)
    (void) umount2 (s->staging, MNT_DETACH | UMOUNT_NOFOLLOW);
  assembly_free (&a);
  return ret < 0 ? -1 : 0;
}
