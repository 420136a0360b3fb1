/* /proc readers (see procfs.h). */
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

/* Reads /proc/<pid>/stat into buf and points *fields at the space before
 * field 3 (state): comm may hold spaces and parentheses, so the fields start
 * after the last ')'.  0 or -errno. */
static int
read_stat (pid_t pid, char *buf, size_t cap, char **fields)
{
  char path[64];
  cleanup_close int fd = -1;
  ssize_t n;
  char *p;

  if (pid <= 0)
    return errno = EINVAL, -1;
  snprintf (path, sizeof (path), "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  do
    n = read (fd, buf, cap - 1);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return errno = EIO, -1;
  buf[n] = '\0';
  p = strrchr (buf, ')');
  if (p == NULL || p[1] != ' ' || p[2] == '\0')
    return errno = EIO, -1;
  *fields = p + 1;
  return 0;
}

/* The text of field number want (>= 3) given the space before field 3. */
static const char *
stat_field (const char *p, int want)
{
  for (int field = 3; field < want && p; field++)
    p = strchr (p + 1, ' ');
  return p ? p + 1 : NULL;
}

int
nsfd_proc_start_time (pid_t pid, unsigned long long *out)
{
  char buf[1024], *p;
  const char *f;
  int r = read_stat (pid, buf, sizeof (buf), &p);

  if (r < 0)
    return r;
  /* A zombie has finished: it holds nothing. */
  if (p[1] == 'Z' || p[1] == 'X')
    return errno = ESRCH, -1;
  f = stat_field (p, 22);
  if (f == NULL || *f < '0' || *f > '9')
    return errno = EIO, -1;
  *out = strtoull (f, NULL, 10);
  return 0;
}

int
nsfd_proc_parent (pid_t pid, pid_t *out)
{
  char buf[1024], *p;
  const char *f;
  long v;
  int r = read_stat (pid, buf, sizeof (buf), &p);

  if (r < 0)
    return r;
  f = stat_field (p, 4);
  if (f == NULL || *f < '0' || *f > '9')
    return errno = EIO, -1;
  v = strtol (f, NULL, 10);
  if (v < 0 || v > INT_MAX)
    return errno = EIO, -1;
  *out = (pid_t) v;
  return 0;
}

int
nsfd_boot_id (char out[64])
{
  cleanup_close int fd = open ("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0)
    return -1;
  n = read (fd, out, 63);
  if (n <= 0)
    return errno = EIO, -1;
  out[n] = '\0';
  out[strcspn (out, "\n")] = '\0';
  return 0;
}

bool
nsfd_proc_is (pid_t pid, unsigned long long start)
{
  unsigned long long now;
  return pid > 0 && nsfd_proc_start_time (pid, &now) == 0 && now == start;
}
