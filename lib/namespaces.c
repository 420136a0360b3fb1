/* Namespace types and namespace fds. */
#include "namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/nsfs.h>

#include "cleanup.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* linux/pidfd.h of Linux 6.11+; the build headers may be older. */
#ifndef PIDFS_IOCTL_MAGIC
#define PIDFS_IOCTL_MAGIC 0xFF
#endif

static const struct
{
  const char *name;
  uint32_t flag;
  unsigned long pidfd_ioctl;
} ns_table[NSFD_NS_COUNT] = {
  [NSFD_NS_CGROUP] = { "cgroup", CLONE_NEWCGROUP, _IO (PIDFS_IOCTL_MAGIC, 1) },
  [NSFD_NS_IPC] = { "ipc", CLONE_NEWIPC, _IO (PIDFS_IOCTL_MAGIC, 2) },
  [NSFD_NS_MNT] = { "mnt", CLONE_NEWNS, _IO (PIDFS_IOCTL_MAGIC, 3) },
  [NSFD_NS_NET] = { "net", CLONE_NEWNET, _IO (PIDFS_IOCTL_MAGIC, 4) },
  [NSFD_NS_PID] = { "pid", CLONE_NEWPID, _IO (PIDFS_IOCTL_MAGIC, 5) },
  [NSFD_NS_TIME] = { "time", CLONE_NEWTIME, _IO (PIDFS_IOCTL_MAGIC, 7) },
  [NSFD_NS_USER] = { "user", CLONE_NEWUSER, _IO (PIDFS_IOCTL_MAGIC, 9) },
  [NSFD_NS_UTS] = { "uts", CLONE_NEWUTS, _IO (PIDFS_IOCTL_MAGIC, 10) },
};

void
nsfd_ns_set_init (struct nsfd_ns_set *s)
{
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    s->fd[i] = -1;
}

void
nsfd_ns_set_close (struct nsfd_ns_set *s)
{
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    nsfd_closep (&s->fd[i]);
}

const char *
nsfd_ns_name (enum nsfd_ns_index i)
{
  if ((unsigned) i >= NSFD_NS_COUNT)
    return "?";
  return ns_table[i].name;
}

int
nsfd_ns_from_name (const char *name)
{
  if (name == NULL)
    return -1;
  if (strcmp (name, "mount") == 0)
    return NSFD_NS_MNT;
  if (strcmp (name, "network") == 0)
    return NSFD_NS_NET;
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    if (strcmp (name, ns_table[i].name) == 0)
      return i;
  return -1;
}

uint32_t
nsfd_ns_clone_flag (enum nsfd_ns_index i)
{
  if ((unsigned) i >= NSFD_NS_COUNT)
    return 0;
  return ns_table[i].flag;
}

int
nsfd_ns_from_clone_flag (uint32_t flag)
{
  if (flag == 0)
    return -1;
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    if (flag == ns_table[i].flag)
      return i;
  return -1;
}

int
nsfd_ns_parse_list (const char *list, uint32_t *mask, nsfd_error_t *err)
{
  cleanup_free char *copy = NULL;
  char *save = NULL;
  uint32_t m = 0;

  if (list == NULL || *list == '\0')
    return nsfd_make_error (err, EINVAL, "empty namespace list");
  if (strcmp (list, "all") == 0)
    {
      *mask = (1u << NSFD_NS_COUNT) - 1;
      return 0;
    }
  copy = strdup (list);
  if (copy == NULL)
    return nsfd_make_error (err, ENOMEM, "parsing namespace list");
  for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
    {
      int i = nsfd_ns_from_name (tok);
      if (i < 0)
        return nsfd_make_error (err, EINVAL, "unknown namespace type `%s` in `%s`", tok, list);
      m |= 1u << i;
    }
  if (m == 0)
    return nsfd_make_error (err, EINVAL, "empty namespace list `%s`", list);
  *mask = m;
  return 0;
}

int
nsfd_ns_open_self (uint32_t mask, struct nsfd_ns_set *out, nsfd_error_t *err)
{
  struct nsfd_ns_set s;

  nsfd_ns_set_init (&s);
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    {
      char path[64];

      if (!(mask & (1u << i)))
        continue;
      snprintf (path, sizeof (path), "/proc/self/ns/%s", ns_table[i].name);
      s.fd[i] = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
      if (s.fd[i] < 0)
        {
          int e = errno;
          /* A kernel without this namespace type: leave the slot empty. */
          if (e == ENOENT)
            continue;
          nsfd_ns_set_close (&s);
          return nsfd_make_error (err, e, "opening `%s`", path);
        }
    }
  *out = s;
  return 0;
}

int
nsfd_ns_check_type (int fd, enum nsfd_ns_index expected, nsfd_error_t *err)
{
  struct statfs sfs;
  int type;

  if ((unsigned) expected >= NSFD_NS_COUNT)
    return nsfd_make_error (err, EINVAL, "invalid namespace index %d", (int) expected);
  if (fd < 0)
    return nsfd_make_error (err, EBADF, "no fd for the %s namespace", ns_table[expected].name);
  /* nsfs first: NS_GET_NSTYPE's ioctl number could mean something else to
   * another file type. */
  if (fstatfs (fd, &sfs) < 0)
    return nsfd_make_error (err, errno, "fstatfs on fd %d (expected %s namespace)", fd,
                            ns_table[expected].name);
  if (sfs.f_type != NSFS_MAGIC)
    return nsfd_make_error (err, EINVAL, "fd %d is not a namespace (expected %s)", fd,
                            ns_table[expected].name);
  type = ioctl (fd, NS_GET_NSTYPE);
  if (type < 0)
    return nsfd_make_error (err, errno, "NS_GET_NSTYPE on fd %d (expected %s namespace)", fd,
                            ns_table[expected].name);
  if ((uint32_t) type != ns_table[expected].flag)
    {
      int got = nsfd_ns_from_clone_flag ((uint32_t) type);
      return nsfd_make_error (err, EINVAL, "fd %d is a %s namespace, expected %s", fd,
                              got >= 0 ? ns_table[got].name : "unknown",
                              ns_table[expected].name);
    }
  return 0;
}

int
nsfd_ns_same (int fd_a, int fd_b, nsfd_error_t *err)
{
  struct stat a, b;

  if (fstat (fd_a, &a) < 0)
    return nsfd_make_error (err, errno, "fstat on namespace fd %d", fd_a);
  if (fstat (fd_b, &b) < 0)
    return nsfd_make_error (err, errno, "fstat on namespace fd %d", fd_b);
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int
nsfd_ns_open_from_pidfd (int pidfd, enum nsfd_ns_index i, nsfd_error_t *err)
{
  int fd;

  if ((unsigned) i >= NSFD_NS_COUNT)
    return nsfd_make_error (err, EINVAL, "invalid namespace index %d", (int) i);
  fd = ioctl (pidfd, ns_table[i].pidfd_ioctl, 0);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening the %s namespace through pidfd %d",
                            ns_table[i].name, pidfd);
  /* The kernel returns it O_CLOEXEC already; check what we got anyway. */
  int r = nsfd_ns_check_type (fd, i, err);
  if (r < 0)
    {
      (void) close (fd);
      return r;
    }
  return fd;
}
