#include "runtime-detect.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "procfs.h"

static int
is_runc_init (pid_t pid)
{
  char path[64], buf[256];
  cleanup_close int fd = -1;
  ssize_t n;
  const char *arg0, *base, *arg1;
  snprintf (path, sizeof (path), "/proc/%d/cmdline", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  n = read (fd, buf, sizeof (buf) - 1);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  arg0 = buf;
  arg1 = buf + strlen (buf) + 1;
  if (arg1 >= buf + n)
    return 0;
  base = strrchr (arg0, '/');
  base = base ? base + 1 : arg0;
  /* "runc", or a versioned name such as "runc.amd64". */
  return (strcmp (base, "runc") == 0 || strncmp (base, "runc.", 5) == 0) && strcmp (arg1, "init") == 0;
}

int
nsfd_runtime_pivots_preopened_root (pid_t hook_pid, const char *rootfs, char *what, size_t cap)
{
  char path[64];
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  struct stat root_st, st;
  pid_t parent = -1;

  if (nsfd_proc_parent (hook_pid, &parent) < 0 || parent <= 1 || !is_runc_init (parent)
      || stat (rootfs, &root_st) < 0)
    return 0;
  snprintf (path, sizeof (path), "/proc/%d/fd", (int) parent);
  d = opendir (path);
  if (d == NULL)
    return 0;
  while ((de = readdir (d)) != NULL)
    {
      if (de->d_name[0] == '.')
        continue;
      if (fstatat (dirfd (d), de->d_name, &st, 0) == 0 && S_ISDIR (st.st_mode)
          && st.st_dev == root_st.st_dev && st.st_ino == root_st.st_ino)
        {
          snprintf (what, cap, "runc init (pid %d) holds fd %s on the rootfs \"%s\"", (int) parent,
                    de->d_name, rootfs);
          return 1;
        }
    }
  return 0;
}
