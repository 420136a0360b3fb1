/* Kernel: overlayfs through the new mount API (what lib/overlay.c uses),
 * trusted.* xattrs and d_type on each allowed volume prefix that exists
 * (overlayfs keeps whiteouts and opaque directories in trusted.overlay.*, and
 * refuses an upper without d_type), and user namespaces. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "doctor.h"

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#define PROBE_XATTR "trusted.nsfdsuds.probe"

static void
check_overlay (struct nsfd_doctor *d)
{
  struct utsname u;
  struct nsfd_doctor_check *c;
  cleanup_close int fd = -1;
  long r;

  if (uname (&u) < 0)
    snprintf (u.release, sizeof (u.release), "?");
  fd = (int) syscall (SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (fd < 0)
    {
      int e = errno;
      c = nsfd_doctor_add (d, "kernel.overlay", NULL, NSFD_DOCTOR_FAIL, "fsopen(\"overlay\") failed: %s (kernel %s)",
                           strerror (e), u.release);
      if (e == ENOSYS)
        nsfd_doctor_fix (c, "a kernel with the new mount API is needed (5.2 or later; 5.11+ recommended)");
      else if (e == ENODEV)
        nsfd_doctor_fix (c, "load overlayfs: modprobe overlay (and add it to /etc/modules-load.d)");
      else
        nsfd_doctor_fix (c, "run doctor as root on the host (not in a restricted container)");
      return;
    }
  /* Invalid fds: EBADF says the syscall exists, ENOSYS that it does not. */
  r = syscall (SYS_fsmount, -1, 0, 0);
  if (r < 0 && errno == ENOSYS)
    goto missing;
  r = syscall (SYS_move_mount, -1, "", -1, "", 0);
  if (r < 0 && errno == ENOSYS)
    goto missing;
  nsfd_doctor_add (d, "kernel.overlay", NULL, NSFD_DOCTOR_OK,
                   "fsopen(\"overlay\") works; fsmount and move_mount present (kernel %s)", u.release);
  return;
missing:
  c = nsfd_doctor_add (d, "kernel.overlay", NULL, NSFD_DOCTOR_FAIL,
                       "fsopen(\"overlay\") works but fsmount or move_mount is missing (kernel %s)", u.release);
  nsfd_doctor_fix (c, "a kernel with the whole new mount API is needed (5.2 or later)");
}

static const char *
fs_name (long type)
{
  switch (type)
    {
    case EXT4_SUPER_MAGIC: return "ext4";
    case XFS_SUPER_MAGIC: return "xfs";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case TMPFS_MAGIC: return "tmpfs";
    case OVERLAYFS_SUPER_MAGIC: return "overlay";
    case RAMFS_MAGIC: return "ramfs";
    case MSDOS_SUPER_MAGIC: return "vfat";
    case NFS_SUPER_MAGIC: return "nfs";
    case 0x65735546: return "fuse";
    case 0x2fc12fc1: return "zfs";
    case 0xf15f: return "ecryptfs";
    default: return NULL;
    }
}

/* readdir of the prefix: the probe's d_type (DT_UNKNOWN: no d_type). */
static int
probe_dtype (int dir_fd, const char *name)
{
  cleanup_dir DIR *dir = NULL;
  struct dirent *de;
  int fd = openat (dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (dir = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return -1;
    }
  while ((de = readdir (dir)) != NULL)
    if (strcmp (de->d_name, name) == 0)
      return de->d_type;
  return -1;
}

/* Creates a probe file, sets and reads back a trusted xattr, looks at its
 * d_type, removes it.  Returns 0, or the errno of the step that failed (in *step). */
static int
probe_prefix (int dir_fd, const char **step)
{
  char name[64], val[8];
  int e = 0, dt;
  cleanup_close int fd = -1;

  snprintf (name, sizeof (name), ".nsfdsuds-doctor-probe-%d", (int) getpid ());
  fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      *step = "creating a probe file";
      return errno;
    }
  if (fsetxattr (fd, PROBE_XATTR, "1", 1, 0) < 0)
    e = errno, *step = "setxattr " PROBE_XATTR;
  else if (fgetxattr (fd, PROBE_XATTR, val, sizeof (val)) != 1)
    e = errno ? errno : EIO, *step = "getxattr " PROBE_XATTR;
  else if ((dt = probe_dtype (dir_fd, name)) != DT_REG)
    e = dt == DT_UNKNOWN ? EOPNOTSUPP : EIO, *step = dt == DT_UNKNOWN ? "d_type (readdir says DT_UNKNOWN)" : "readdir";
  if (unlinkat (dir_fd, name, 0) < 0 && e == 0)
    e = errno, *step = "removing the probe file";
  return e;
}

static void
check_prefix (struct nsfd_doctor *d, const char *prefix)
{
  struct nsfd_doctor_check *c;
  struct statfs sf;
  char fsbuf[32];
  const char *fs, *step = "";
  int e;
  /* The prefix is the admin's: it may contain symlinks they made. */
  cleanup_close int fd = open (prefix, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return; /* missing prefixes are the config check's */
  if (fstatfs (fd, &sf) < 0)
    sf.f_type = 0;
  fs = fs_name ((long) sf.f_type);
  if (fs == NULL)
    snprintf (fsbuf, sizeof (fsbuf), "0x%lx", (unsigned long) sf.f_type), fs = fsbuf;
  if ((long) sf.f_type == OVERLAYFS_SUPER_MAGIC)
    {
      c = nsfd_doctor_add (d, "kernel.xattr", prefix, NSFD_DOCTOR_FAIL,
                           "%s is on overlayfs: an overlay upper layer cannot live there", prefix);
      nsfd_doctor_fix (c, "keep the volumes on a real filesystem (ext4, xfs, btrfs, tmpfs)");
      return;
    }
  e = geteuid () == 0 ? probe_prefix (fd, &step) : EPERM;
  if (e == 0)
    nsfd_doctor_add (d, "kernel.xattr", prefix, NSFD_DOCTOR_OK, "%s (%s): trusted.* xattrs and d_type work", prefix, fs);
  else if (geteuid () != 0)
    {
      c = nsfd_doctor_add (d, "kernel.xattr", prefix, NSFD_DOCTOR_WARN, "%s (%s): not probed, trusted.* needs root",
                           prefix, fs);
      nsfd_doctor_fix (c, "run doctor as root");
    }
  else if (e == EROFS || e == EACCES)
    {
      c = nsfd_doctor_add (d, "kernel.xattr", prefix, NSFD_DOCTOR_WARN, "%s (%s): %s: %s", prefix, fs, step,
                           strerror (e));
      nsfd_doctor_fix (c, "layers are written there: make %s writable for root", prefix);
    }
  else
    {
      c = nsfd_doctor_add (d, "kernel.xattr", prefix, NSFD_DOCTOR_FAIL, "%s (%s): %s: %s", prefix, fs, step,
                           strerror (e));
      nsfd_doctor_fix (c, "an overlay upper layer needs trusted.* xattrs and d_type: put the volumes under %s on "
                          "ext4, xfs, btrfs or tmpfs, or remove the prefix from allowedVolumePrefixes",
                       prefix);
    }
}

static void
check_userns (struct nsfd_doctor *d)
{
  struct nsfd_doctor_check *c;
  char line[64], why[128] = "";
  long max = -1;
  int st = -1;
  pid_t pid;

  nsfd_doctor_file_line ("/proc/sys/user/max_user_namespaces", false, line, sizeof (line));
  if (line[0])
    max = strtol (line, NULL, 10);
  pid = fork ();
  if (pid == 0)
    _exit (unshare (CLONE_NEWUSER) == 0 ? 0 : (errno & 0x7f));
  if (pid > 0)
    while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
      ;
  if (pid > 0 && WIFEXITED (st) && WEXITSTATUS (st) == 0 && max != 0)
    {
      nsfd_doctor_add (d, "kernel.userns", NULL, NSFD_DOCTOR_OK, "unshare(CLONE_NEWUSER) works (max_user_namespaces %ld)",
                       max);
      return;
    }
  if (pid > 0 && WIFEXITED (st))
    snprintf (why, sizeof (why), "%s", strerror (WEXITSTATUS (st)));
  c = nsfd_doctor_add (d, "kernel.userns", NULL, NSFD_DOCTOR_WARN,
                       "user namespaces unavailable (max_user_namespaces %ld%s%s)", max, why[0] ? "; " : "", why);
  nsfd_doctor_fix (c, "only user-namespaced containers need them: sysctl user.max_user_namespaces=15000");
}

void
nsfd_doctor_kernel (struct nsfd_doctor *d)
{
  check_overlay (d);
  for (size_t i = 0; i < d->cfg.n_allowed_volume_prefixes; i++)
    check_prefix (d, d->cfg.allowed_volume_prefixes[i]);
  check_userns (d);
}
