/* lib/overlay.c: assembling the persistent overlay and carrying the mounts
 * below the rootfs into it.  Each scenario runs in a forked child that first
 * enters a private mount namespace (and makes / private), so nothing can leak
 * into the host's mount table; the parent removes the temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer.h"
#include "mounttable.h"
#include "overlay.h"
#include "tap.h"
#include "testutil.h"

static char tmp[64];
static char T[128]; /* tmp/t: a tmpfs holding everything (trusted xattrs work there) */

#define PATHVAR(name, ...)                                                     \
  char name[1024];                                                             \
  snprintf (name, sizeof (name), __VA_ARGS__)

/* A formatted path in one of a few rotating buffers (test code only). */
static const char *P (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static const char *
P (const char *fmt, ...)
{
  static char bufs[16][8192];
  static int n;
  char *b = bufs[n++ % 16];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (b, 8192, fmt, ap);
  va_end (ap);
  return b;
}

static void
mkdirs (const char *path)
{
  char p[512];
  if ((size_t) snprintf (p, sizeof (p), "%s", path) >= sizeof (p))
    abort ();
  for (char *s = p + 1; *s; s++)
    if (*s == '/')
      {
        *s = '\0';
        mkdir (p, 0755);
        *s = '/';
      }
  mkdir (p, 0755);
}

static int failures;

static void
must (int r, const char *what)
{
  if (r < 0)
    {
      printf ("# setup failed: %s: %s\n", what, strerror (errno));
      failures++;
    }
}

static void
tmpfs (const char *path)
{
  mkdirs (path);
  must (mount ("I-tmpfs", path, "tmpfs", 0, "size=4m"), path);
}

static void
bind (const char *src, const char *dst, unsigned long extra)
{
  must (mount (src, dst, NULL, MS_BIND, NULL), dst);
  if (extra)
    must (mount (NULL, dst, NULL, MS_REMOUNT | MS_BIND | extra, NULL), dst);
}

static bool
is_overlay (const char *path)
{
  struct statfs s;
  return statfs (path, &s) == 0 && (unsigned long) s.f_type == OVERLAYFS_MAGIC_NUMBER;
}

/* Room for a layer's upper or work path. */
#define LAYER_DIR_MAX 4200

/* A layer on the tmpfs, opened as the hook would, and the paths of its
 * upper and work directories (LAYER_DIR_MAX bytes each). */
static int
make_layer (const char *volume, const char *lower, struct nsfd_layer *l, char *upper, char *work)
{
  nsfd_error_t err = NULL;
  struct stat st;
  cleanup_close int vfd = -1;
  mkdirs (volume);
  vfd = open (volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (vfd < 0 || stat (lower, &st) < 0 || nsfd_layer_open (vfd, "default", &st, l, &err) < 0)
    {
      printf ("# layer in %s: %s\n", volume, err ? nsfd_error_text (err) : strerror (errno));
      nsfd_error_free (&err);
      failures++;
      return -1;
    }
  snprintf (upper, LAYER_DIR_MAX, "%s/upper", l->path);
  snprintf (work, LAYER_DIR_MAX, "%s/work", l->path);
  return 0;
}

static const struct nsfd_mount_entry *
find (const struct nsfd_mount_list *l, const char *target)
{
  for (size_t i = 0; i < l->len; i++)
    if (strcmp (l->items[i].target, target) == 0)
      return &l->items[i];
  return NULL;
}

/* The image: what the rootfs bind mount shows. */
static void
make_image (const char *img)
{
  static const char *dirs[] = { "proc", "dev", "etc", "data", "ro", "sys", "gone", "dir-to-delete" };
  mkdirs (img);
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (dirs); i++)
    mkdirs (P ("%s/%s", img, dirs[i]));
  tu_write_file (P ("%s/etc/hosts", img), "image hosts\n");
  tu_write_file (P ("%s/etc/resolv.conf", img), "image resolv\n");
  tu_write_file (P ("%s/file-to-delete", img), "lower\n");
  tu_write_file (P ("%s/dir-to-delete/x", img), "x\n");
  chmod (img, 0755);
}

static void
scenario_hook (void)
{
  cleanup_layer struct nsfd_layer l;
  cleanup_mount_list struct nsfd_mount_list before = { 0 };
  cleanup_mount_list struct nsfd_mount_list after = { 0 };
  cleanup_mount_list struct nsfd_mount_list nested = { 0 };
  struct nsfd_mount_entry root = { 0 };
  nsfd_error_t err = NULL;
  PATHVAR (img, "%s/img", T);
  PATHVAR (rootfs, "%s/rootfs", T);
  PATHVAR (stage, "%s/staging", T);
  PATHVAR (vol, "%s/vol", T);
  char data[1100], upper[LAYER_DIR_MAX], work[LAYER_DIR_MAX];
  struct stat st;
  int r;

  printf ("# hook mode: submounts carried, keep_out left behind\n");
  make_image (img);
  mkdirs (rootfs);
  mkdirs (stage);
  chmod (stage, 0700);
  if (make_layer (vol, img, &l, upper, work) < 0)
    return;
  /* Deleted by an earlier run: whiteouts in upper hide two mount points. */
  must (mknod (P ("%s/gone", upper), S_IFCHR | 0, makedev (0, 0)), "whiteout gone");
  mkdirs (P ("%s/etc", upper));
  must (mknod (P ("%s/etc/resolv.conf", upper), S_IFCHR | 0, makedev (0, 0)), "whiteout resolv.conf");

  /* The runtime's view: rootfs is a bind mount with submounts. */
  bind (img, rootfs, 0);
  must (mount (NULL, rootfs, NULL, MS_SHARED, NULL), "make rootfs shared");
  tmpfs (P ("%s/proc", rootfs));
  tu_write_file (P ("%s/proc/marker", rootfs), "proc-like\n");
  tmpfs (P ("%s/dev", rootfs));
  tmpfs (P ("%s/dev/pts", rootfs));
  tu_write_file (P ("%s/hosts", T), "runtime hosts\n");
  bind (P ("%s/hosts", T), P ("%s/etc/hosts", rootfs), 0);
  tu_write_file (P ("%s/resolv", T), "runtime resolv\n");
  bind (P ("%s/resolv", T), P ("%s/etc/resolv.conf", rootfs), 0);
  mkdirs (P ("%s/rosrc", T));
  tu_write_file (P ("%s/rosrc/f", T), "ro\n");
  bind (P ("%s/rosrc", T), P ("%s/ro", rootfs), MS_RDONLY | MS_NOSUID | MS_NODEV);
  snprintf (data, sizeof (data), "%s/data", rootfs);
  bind (vol, data, 0);
  tmpfs (P ("%s/sys", rootfs));
  must (mount (NULL, P ("%s/sys", rootfs), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), "sys ro");
  tmpfs (P ("%s/gone", rootfs));
  tu_write_file (P ("%s/gone/inside", rootfs), "gone mount\n");
  if (failures)
    {
      CHECK (0, "hook scenario setup");
      return;
    }
  CHECK (nsfd_mounts_below (NULL, rootfs, NULL, &before, NULL, &err) == 0 && before.len == 8,
         "8 mounts below the rootfs before (%zu)", before.len);
  nsfd_error_free (&err);

  const char *keep[] = { data };
  struct nsfd_overlay_spec s = {
    .rootfs = rootfs, .lower = NULL, .lower_fd = -1, .upper = upper, .upper_fd = l.upper_fd, .work = work,
    .work_fd = l.work_fd, .reopen_layers = true, .staging = stage, .keep_out = keep, .n_keep_out = 1,
  };
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r == 0, "assemble (hook mode): %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  if (r < 0)
    return;

  CHECK (is_overlay (rootfs), "the rootfs path now shows the overlay (statfs magic)");
  CHECK (!is_overlay (stage), "the staging directory is empty again");
  CHECK (nsfd_mounts_below (NULL, rootfs, &root, &after, &nested, &err) == 0, "mounts below the new root");
  nsfd_error_free (&err);
  CHECK (root.fstype && strcmp (root.fstype, "overlay") == 0, "the mount at the rootfs is the overlay");
  CHECK (after.len == before.len - 1, "every submount but the persistent volume carried (%zu)", after.len);
  for (size_t i = 0, j = 0; i < before.len; i++)
    {
      const struct nsfd_mount_entry *b = &before.items[i], *a = find (&after, b->target);
      if (strcmp (b->target, data) == 0)
        {
          CHECK (a == NULL, "keep_out %s not carried", b->target);
          continue;
        }
      CHECK (a != NULL && strcmp (a->fstype, b->fstype) == 0 && strcmp (a->vfs_options, b->vfs_options) == 0
                 && strcmp (a->source, b->source) == 0,
             "%s carried with the same flags (%s)", b->target + strlen (rootfs), a ? a->vfs_options : "missing");
      CHECK (j < after.len && strcmp (after.items[j].target, b->target) == 0, "  in the same order");
      j++;
    }
  CHECK (find (&nested, P ("%s/dev/pts", rootfs)) != NULL, "nested dev/pts still inside dev");
  {
    const struct nsfd_mount_entry *ro = find (&after, P ("%s/ro", rootfs));
    CHECK (ro && strncmp (ro->vfs_options, "ro", 2) == 0, "read-only bind stays ro");
    CHECK (open (P ("%s/ro/new", rootfs), O_WRONLY | O_CREAT | O_CLOEXEC, 0644) < 0 && errno == EROFS,
           "writing in the ro bind gives EROFS");
  }
  CHECK (strcmp (tu_slurp (P ("%s/proc/marker", rootfs)), "proc-like\n") == 0, "proc-like tmpfs contents visible");
  CHECK (strcmp (tu_slurp (P ("%s/etc/hosts", rootfs)), "runtime hosts\n") == 0, "file bind at etc/hosts carried");
  CHECK (strcmp (tu_slurp (P ("%s/etc/resolv.conf", rootfs)), "runtime resolv\n") == 0,
         "file mount point hidden by a whiteout is stubbed and mounted");
  CHECK (strcmp (tu_slurp (P ("%s/gone/inside", rootfs)), "gone mount\n") == 0,
         "directory mount point hidden by a whiteout is stubbed and mounted");
  CHECK (lstat (P ("%s/gone", upper), &st) == 0 && S_ISDIR (st.st_mode), "the stub directory is in upper");
  CHECK (lstat (P ("%s/etc/resolv.conf", upper), &st) == 0 && S_ISREG (st.st_mode) && st.st_size == 0,
         "the stub file is an empty file in upper");
  CHECK (lstat (P ("%s/data", rootfs), &st) == 0 && S_ISDIR (st.st_mode)
             && lstat (P ("%s/data/.nsfdsuds", rootfs), &st) < 0,
         "the persistent volume is not visible in the new root");

  tu_write_file (P ("%s/newfile", rootfs), "written\n");
  CHECK (strcmp (tu_slurp (P ("%s/newfile", upper)), "written\n") == 0, "writes land in upper");
  CHECK (access (P ("%s/newfile", img), F_OK) < 0, "the image is untouched by writes");
  CHECK (unlink (P ("%s/file-to-delete", rootfs)) == 0, "delete a lower file");
  CHECK (lstat (P ("%s/file-to-delete", upper), &st) == 0 && S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0),
         "deleting a lower file makes a whiteout in upper");
  CHECK (access (P ("%s/file-to-delete", img), F_OK) == 0, "the lower file still exists in the image");
  CHECK (rmdir (P ("%s/dir-to-delete", rootfs)) < 0 && errno == ENOTEMPTY, "non-empty dir");
  CHECK (unlink (P ("%s/dir-to-delete/x", rootfs)) == 0 && rmdir (P ("%s/dir-to-delete", rootfs)) == 0
             && lstat (P ("%s/dir-to-delete", upper), &st) == 0 && S_ISCHR (st.st_mode),
         "deleting a lower directory makes a whiteout in upper");
  nsfd_mount_entry_free (&root);
}

/* A mount inside a mount that is left behind would vanish: refused. */
static void
scenario_nested_keep_out (void)
{
  cleanup_layer struct nsfd_layer l;
  nsfd_error_t err = NULL;
  PATHVAR (img, "%s/img2", T);
  PATHVAR (rootfs, "%s/rootfs2", T);
  PATHVAR (stage, "%s/staging2", T);
  PATHVAR (vol, "%s/vol2", T);
  char data[1100], upper[LAYER_DIR_MAX], work[LAYER_DIR_MAX];
  int r;

  printf ("# hook mode: a mount nested inside a keep_out mount\n");
  make_image (img);
  mkdirs (rootfs);
  mkdirs (stage);
  if (make_layer (vol, img, &l, upper, work) < 0)
    return;
  bind (img, rootfs, 0);
  tmpfs (P ("%s/proc", rootfs));
  snprintf (data, sizeof (data), "%s/data", rootfs);
  bind (vol, data, 0);
  tmpfs (P ("%s/data/sub", rootfs));
  if (failures)
    {
      CHECK (0, "nested keep_out setup");
      return;
    }
  const char *keep[] = { data };
  struct nsfd_overlay_spec s = {
    .rootfs = rootfs, .lower_fd = -1, .upper = upper, .upper_fd = l.upper_fd, .work = work, .work_fd = l.work_fd,
    .reopen_layers = true, .staging = stage, .keep_out = keep, .n_keep_out = 1,
  };
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r < 0 && err && err->status == EINVAL, "assemble refuses with EINVAL");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "\"/data/sub\" is mounted inside the persistent volume \"/data\"",
                      "documented error: %s", nsfd_error_text (err));
  CHECK_STR_CONTAINS (nsfd_error_text (err), "nsfdsuds.io/keep-volume-visible", "  and it names the way out");
  nsfd_error_free (&err);
  CHECK (!is_overlay (rootfs), "the rootfs is not replaced");
  CHECK (!is_overlay (stage), "the half-built overlay is detached from staging");
}

/* Base volume as lower: mount points missing in it are stubbed, and the
 * identity checks refuse a replaced upper. */
static void
scenario_base_lower (void)
{
  cleanup_layer struct nsfd_layer l;
  nsfd_error_t err = NULL;
  PATHVAR (img, "%s/img3", T);
  PATHVAR (rootfs, "%s/rootfs3", T);
  PATHVAR (stage, "%s/staging3", T);
  PATHVAR (vol, "%s/vol3", T);
  PATHVAR (base, "%s/base3", T);
  char upper[LAYER_DIR_MAX], work[LAYER_DIR_MAX];
  cleanup_close int other = -1;
  cleanup_close int base_fd = -1;
  struct stat st;
  int r;

  printf ("# hook mode with a base volume as lower\n");
  make_image (img);
  mkdirs (rootfs);
  mkdirs (stage);
  mkdirs (P ("%s/usr", base));
  tu_write_file (P ("%s/usr/base-file", base), "from base\n");
  if (make_layer (vol, base, &l, upper, work) < 0)
    return;
  bind (img, rootfs, 0);
  tmpfs (P ("%s/proc", rootfs));
  mkdirs (P ("%s/only/in/image", img));
  tmpfs (P ("%s/only/in/image", rootfs));
  tu_write_file (P ("%s/hostname", T), "h\n");
  bind (P ("%s/hostname", T), P ("%s/etc/hosts", rootfs), 0);
  base_fd = open (base, O_PATH | O_DIRECTORY | O_CLOEXEC);
  other = open (T, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (failures)
    {
      CHECK (0, "base lower setup");
      return;
    }

  struct nsfd_overlay_spec s = {
    .rootfs = rootfs, .lower = base, .lower_fd = base_fd, .upper = upper, .upper_fd = other, .work = work,
    .work_fd = l.work_fd, .reopen_layers = true, .staging = stage,
  };
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r < 0 && err && err->status == EXDEV, "an upper that is not the prepared one is refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "is not the directory that was prepared", "  message: %s",
                      nsfd_error_text (err));
  nsfd_error_free (&err);
  s.upper_fd = l.upper_fd;
  s.lower_fd = other;
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r < 0 && err && err->status == EXDEV, "a lower that is not the prepared one is refused");
  nsfd_error_free (&err);
  CHECK (!is_overlay (rootfs) && !is_overlay (stage), "nothing mounted after the refusals");

  s.lower_fd = base_fd;
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r == 0, "assemble with a base lower: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (is_overlay (rootfs), "rootfs is the overlay");
  CHECK (strcmp (tu_slurp (P ("%s/usr/base-file", rootfs)), "from base\n") == 0, "the base volume's files show");
  CHECK (access (P ("%s/file-to-delete", rootfs), F_OK) < 0, "the image's files do not");
  CHECK (lstat (P ("%s/only/in/image", upper), &st) == 0 && S_ISDIR (st.st_mode),
         "missing directory mount point stubbed (with its parents) in upper");
  CHECK (statfs (P ("%s/only/in/image", rootfs), &(struct statfs){ 0 }) == 0
             && !is_overlay (P ("%s/only/in/image", rootfs)),
         "and the tmpfs is mounted there");
  CHECK (lstat (P ("%s/etc/hosts", upper), &st) == 0 && S_ISREG (st.st_mode), "missing file mount point stubbed");
  CHECK (strcmp (tu_slurp (P ("%s/etc/hosts", rootfs)), "h\n") == 0, "and the file bind is there");
  CHECK (access (P ("%s/proc", rootfs), F_OK) == 0, "proc carried");
}

static void
scenario_wrapper (void)
{
  cleanup_layer struct nsfd_layer l;
  nsfd_error_t err = NULL;
  PATHVAR (img, "%s/img4", T);
  PATHVAR (vol, "%s/vol4", T);
  char upper[LAYER_DIR_MAX], work[LAYER_DIR_MAX];
  struct stat st;
  int r;

  printf ("# wrapper mode (staging NULL) on a bare rootfs\n");
  make_image (img);
  if (make_layer (vol, img, &l, upper, work) < 0)
    return;
  struct nsfd_overlay_spec s = {
    .rootfs = img, .lower_fd = -1, .upper = upper, .upper_fd = l.upper_fd, .work = work, .work_fd = l.work_fd,
    .staging = NULL,
  };
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r == 0, "assemble (wrapper mode) on a plain directory: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (is_overlay (img), "the rootfs shows the overlay");
  CHECK (strcmp (tu_slurp (P ("%s/etc/hosts", img)), "image hosts\n") == 0, "lower contents visible");
  tu_write_file (P ("%s/w", img), "wrapper\n");
  CHECK (strcmp (tu_slurp (P ("%s/w", upper)), "wrapper\n") == 0, "writes land in upper");
  CHECK (unlink (P ("%s/file-to-delete", img)) == 0 && lstat (P ("%s/file-to-delete", upper), &st) == 0
             && S_ISCHR (st.st_mode),
         "whiteout in upper");

  /* Something already mounted below: the wrapper expects a bare rootfs. */
  {
    cleanup_layer struct nsfd_layer l2;
    PATHVAR (img5, "%s/img5", T);
    make_image (img5);
    if (make_layer (P ("%s/vol5", T), img5, &l2, upper, work) < 0)
      return;
    tmpfs (P ("%s/proc", img5));
    struct nsfd_overlay_spec s2 = {
      .rootfs = img5, .lower_fd = -1, .upper = upper, .upper_fd = l2.upper_fd, .work = work,
      .work_fd = l2.work_fd, .staging = NULL,
    };
    r = nsfd_overlay_assemble (&s2, &err);
    CHECK (r < 0 && err && err->status == EINVAL, "wrapper mode refuses a rootfs with mounts below it");
    CHECK_STR_CONTAINS (nsfd_error_text (err), "expects a bare rootfs", "  message: %s", nsfd_error_text (err));
    nsfd_error_free (&err);
    CHECK (!is_overlay (img5), "  and mounts nothing");
  }
}

static bool
mounted_at (const char *path)
{
  cleanup_mount_list struct nsfd_mount_list ch = { 0 };
  cleanup_mount_list struct nsfd_mount_list nested = { 0 };
  nsfd_error_t err = NULL;
  bool found = false;
  if (nsfd_mounts_below (NULL, "/", NULL, &ch, &nested, &err) == 0)
    found = find (&nested, path) != NULL;
  nsfd_error_free (&err);
  return found;
}

/* Stub layer: mount points the lower lacks are made in a tmpfs below the
 * lower, never in the persistent upper. */
static void
scenario_stub_layer (void)
{
  cleanup_layer struct nsfd_layer l;
  nsfd_error_t err = NULL;
  PATHVAR (img, "%s/img6", T);
  PATHVAR (rootfs, "%s/rootfs6", T);
  PATHVAR (stage, "%s/staging6", T);
  PATHVAR (stubs, "%s/stubs6", T);
  PATHVAR (vol, "%s/vol6", T);
  PATHVAR (base, "%s/base6", T);
  char upper[LAYER_DIR_MAX], work[LAYER_DIR_MAX];
  struct stat st;
  int r;

  printf ("# hook mode with a base volume and a stub layer\n");
  make_image (img);
  mkdirs (rootfs);
  mkdirs (stage);
  mkdirs (stubs);
  mkdirs (P ("%s/usr", base));
  if (make_layer (vol, base, &l, upper, work) < 0)
    return;
  bind (img, rootfs, 0);
  mkdirs (P ("%s/only/in/image", img));
  tmpfs (P ("%s/only/in/image", rootfs));
  tu_write_file (P ("%s/only/in/image/f", rootfs), "tmpfs\n");
  tu_write_file (P ("%s/hostname", T), "h\n");
  bind (P ("%s/hostname", T), P ("%s/etc/hosts", rootfs), 0);
  tmpfs (P ("%s/usr", rootfs)); /* exists in the base: no stub */
  if (failures)
    {
      CHECK (0, "stub layer setup");
      return;
    }
  cleanup_close int base_fd = open (base, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct nsfd_overlay_spec s = {
    .rootfs = rootfs, .lower = base, .lower_fd = base_fd, .upper = upper, .upper_fd = l.upper_fd, .work = work,
    .work_fd = l.work_fd, .reopen_layers = true, .staging = stage, .stubs_dir = stubs,
  };
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r == 0, "assemble with a stub layer: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (is_overlay (rootfs), "rootfs is the overlay");
  CHECK (strcmp (tu_slurp (P ("%s/only/in/image/f", rootfs)), "tmpfs\n") == 0, "directory mount carried onto a stub");
  CHECK (strcmp (tu_slurp (P ("%s/etc/hosts", rootfs)), "h\n") == 0, "file mount carried onto a stub");
  CHECK (lstat (P ("%s/only", upper), &st) < 0 && lstat (P ("%s/etc", upper), &st) < 0,
         "no stub landed in the persistent upper");
  CHECK (!mounted_at (stubs), "the stub tmpfs is detached from stubs_dir");
  {
    cleanup_close int d = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_dir DIR *dir = d >= 0 ? fdopendir (d) : NULL;
    struct dirent *de;
    int n = 0;
    if (dir)
      d = -1;
    while (dir && (de = readdir (dir)))
      if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
        n++;
    CHECK (n == 0, "upper is still empty (%d entries)", n);
  }
}

/* Wrapper mode: the mount points come from the config, not the mount table. */
static void
scenario_wrapper_stubs (void)
{
  cleanup_layer struct nsfd_layer l;
  nsfd_error_t err = NULL;
  PATHVAR (rootfs, "%s/rootfs7", T);
  PATHVAR (stubs, "%s/stubs7", T);
  PATHVAR (vol, "%s/vol7", T);
  char upper[LAYER_DIR_MAX], work[LAYER_DIR_MAX];
  struct stat st;
  int r;
  static const struct nsfd_mount_point mps[] = {
    { "/proc", true }, { "/etc/resolv.conf", false }, { "/data", true }, { "/run/secrets/token", false },
  };

  printf ("# wrapper mode with configured mount points\n");
  mkdirs (P ("%s/data", rootfs));
  tu_write_file (P ("%s/image-file", rootfs), "img\n");
  if (make_layer (vol, rootfs, &l, upper, work) < 0)
    return;
  mkdirs (stubs);
  struct nsfd_overlay_spec s = {
    .rootfs = rootfs, .lower_fd = -1, .upper = upper, .upper_fd = l.upper_fd, .work = work, .work_fd = l.work_fd,
    .staging = NULL, .stubs_dir = stubs, .mount_points = mps,
    .n_mount_points = NSFD_ARRAY_SIZE (mps),
  };
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r == 0, "wrapper assemble with stubs: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (is_overlay (rootfs), "rootfs is the overlay");
  CHECK (stat (P ("%s/proc", rootfs), &st) == 0 && S_ISDIR (st.st_mode), "/proc stub is a directory");
  CHECK (stat (P ("%s/etc/resolv.conf", rootfs), &st) == 0 && S_ISREG (st.st_mode) && st.st_size == 0,
         "/etc/resolv.conf stub is an empty file");
  CHECK (stat (P ("%s/run/secrets/token", rootfs), &st) == 0 && S_ISREG (st.st_mode), "nested file stub");
  CHECK (strcmp (tu_slurp (P ("%s/image-file", rootfs)), "img\n") == 0, "lower files visible");
  CHECK (lstat (P ("%s/proc", upper), &st) < 0 && lstat (P ("%s/etc", upper), &st) < 0
             && lstat (P ("%s/run", upper), &st) < 0,
         "no stub in the persistent upper");
  tu_write_file (P ("%s/etc/new", rootfs), "n\n");
  CHECK (strcmp (tu_slurp (P ("%s/etc/new", upper)), "n\n") == 0, "a write next to a stub lands in upper");
}

/* A stub that cannot be made is a failure, whatever its errno: the stub
 * layer's result was once a number whose -1 meant "no stubs needed", so an
 * EPERM-valued or other error could start the container without stubs. */
static void
scenario_stub_failure (void)
{
  cleanup_layer struct nsfd_layer l;
  nsfd_error_t err = NULL;
  PATHVAR (rootfs, "%s/rootfs8", T);
  PATHVAR (stubs, "%s/stubs8", T);
  PATHVAR (vol, "%s/vol8", T);
  char upper[LAYER_DIR_MAX], work[LAYER_DIR_MAX];
  int r;
  /* /etc is a file in this image: /etc/hosts cannot be looked up (ENOTDIR). */
  static const struct nsfd_mount_point mps[] = { { "/proc", true }, { "/etc/hosts", false } };

  printf ("# a stub that cannot be made fails the assembly\n");
  mkdirs (rootfs);
  tu_write_file (P ("%s/etc", rootfs), "not a directory\n");
  if (make_layer (vol, rootfs, &l, upper, work) < 0)
    return;
  mkdirs (stubs);
  struct nsfd_overlay_spec s = {
    .rootfs = rootfs, .lower_fd = -1, .upper = upper, .upper_fd = l.upper_fd, .work = work, .work_fd = l.work_fd,
    .staging = NULL, .stubs_dir = stubs, .mount_points = mps, .n_mount_points = NSFD_ARRAY_SIZE (mps),
  };
  r = nsfd_overlay_assemble (&s, &err);
  CHECK (r < 0 && err && err->status == ENOTDIR, "assembly fails with the lookup's errno (%s)",
         err ? nsfd_error_text (err) : "no error");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "/etc/hosts", "  and names the mount point");
  nsfd_error_free (&err);
  CHECK (!is_overlay (rootfs), "  nothing mounted on the rootfs");
  CHECK (!mounted_at (stubs), "  no stub layer left mounted");
}

static void
test_open_checked (void)
{
  nsfd_error_t err = NULL;
  cleanup_close int d = -1;
  int fd;

  mkdirs (P ("%s/oc/dir", T));
  d = open (P ("%s/oc/dir", T), O_PATH | O_DIRECTORY | O_CLOEXEC);
  fd = nsfd_open_checked (P ("%s/oc/dir", T), O_PATH | O_DIRECTORY, d, &err);
  CHECK (fd >= 0, "open_checked: the same directory");
  if (fd >= 0)
    close (fd);
  fd = nsfd_open_checked (P ("%s/oc/dir", T), O_PATH | O_DIRECTORY, -1, &err);
  CHECK (fd >= 0 && (fcntl (fd, F_GETFD) & FD_CLOEXEC), "open_checked: no check with -1, CLOEXEC");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  rename (P ("%s/oc/dir", T), P ("%s/oc/old", T));
  mkdirs (P ("%s/oc/dir", T));
  fd = nsfd_open_checked (P ("%s/oc/dir", T), O_PATH | O_DIRECTORY, d, &err);
  CHECK (fd < 0 && err && err->status == EXDEV, "a replaced directory (inode mismatch) is refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "replaced", "  message: %s", nsfd_error_text (err));
  nsfd_error_free (&err);

  (void) !symlink ("old", P ("%s/oc/link", T));
  fd = nsfd_open_checked (P ("%s/oc/link", T), O_PATH | O_DIRECTORY, d, &err);
  CHECK (fd < 0 && err && err->status == ELOOP, "a symlink to the right directory is refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "symbolic link", "  message: %s", nsfd_error_text (err));
  nsfd_error_free (&err);
  (void) !symlink (P ("%s/oc", T), P ("%s/lnk-oc", T));
  fd = nsfd_open_checked (P ("%s/lnk-oc/old", T), O_PATH | O_DIRECTORY, d, &err);
  CHECK (fd < 0 && err && err->status == ELOOP, "a symlink in an earlier component is refused");
  nsfd_error_free (&err);
  fd = nsfd_open_checked (P ("%s/oc/missing", T), O_PATH | O_DIRECTORY, -1, &err);
  CHECK (fd < 0 && err && err->status == ENOENT, "missing path");
  nsfd_error_free (&err);
}

static int
run_in_namespace (void (*fn) (void))
{
  pid_t pid = tu_fork ();
  int status;

  if (pid == 0)
    {
      tap_count = tap_failed = 0; /* each scenario counts its own checks */
      if (tu_private_mounts () < 0)
        {
          printf ("not ok - private mount namespace: %s\n", strerror (errno));
          exit (1);
        }
      snprintf (T, sizeof (T), "%s/t", tmp);
      tmpfs (T);
      fn ();
      fflush (stdout);
      /* Exit code: low byte = failures capped, so the parent can count. */
      exit (tap_failed ? 1 : 0);
    }
  status = tu_wait (pid);
  if (status < 0)
    return 255;
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

int
main (void)
{
  static void (*scenarios[]) (void) = { test_open_checked, scenario_hook, scenario_nested_keep_out,
                                         scenario_base_lower, scenario_wrapper, scenario_stub_layer,
                                         scenario_wrapper_stubs, scenario_stub_failure };
  int failed = 0;

  TAP_SKIP_UNLESS_ROOT ();
  TU_SKIP_UNLESS_OPENAT2 ();
  if (tu_make_tmpdir (tmp, sizeof (tmp), "overlay") < 0)
    return 1;
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (scenarios); i++)
    {
      int r = run_in_namespace (scenarios[i]);
      if (r != 0)
        failed++;
      CHECK (r == 0, "scenario %zu passed (exit %d)", i, r);
    }
  /* The namespaces died with the children: only plain directories remain. */
  tu_rm_tree (tmp);
  (void) failed;
  TAP_DONE ();
}
