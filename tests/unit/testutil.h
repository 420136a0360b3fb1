/* Helpers the unit tests share: temporary trees, small files, forked test
 * bodies, private mount namespaces, the openat2 probe and the test data
 * directory.  Test code only; include after tap.h.  Everything is static
 * inline so a test that uses only part of it builds without unused-function
 * warnings. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

/* A string that may be NULL, for messages. */
#define S(x) ((x) ? (x) : "(null)")

/* Upper bound for a file under tests/unit/data (they are a few KiB). */
#define TU_DATA_MAX (1024 * 1024)

/* nftw callback of tu_rm_tree: remove what can be removed and go on. */
static inline int
tu_rm_cb (const char *p, const struct stat *st, int flag, struct FTW *f)
{
  (void) st, (void) flag, (void) f;
  (void) remove (p);
  return 0;
}

/* Removes a test's temporary tree, best effort.  FTW_PHYS: a symlink a test
 * planted is removed, never followed; FTW_MOUNT: a mount left behind is not
 * entered, so nothing outside the tree can be removed. */
static inline void
tu_rm_tree (const char *path)
{
  (void) nftw (path, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Debian 12's valgrind answers openat2 with ENOSYS: detect it, never fake it. */
static inline bool
tu_have_openat2 (void)
{
  struct open_how how = { .flags = O_PATH | O_CLOEXEC };
  long fd = syscall (SYS_openat2, AT_FDCWD, "/", &how, sizeof (how));
  if (fd >= 0)
    close ((int) fd);
  return fd >= 0 || errno != ENOSYS;
}

/* In main (): skip the whole test (exit 77) where openat2 is missing. */
#define TU_SKIP_UNLESS_OPENAT2()                                               \
  do                                                                           \
    {                                                                          \
      if (!tu_have_openat2 ())                                                 \
        {                                                                      \
          printf ("1..0 # SKIP openat2 returns ENOSYS here (valgrind?)\n");    \
          return 77;                                                           \
        }                                                                      \
    }                                                                          \
  while (0)

/* Writes text to name below dirfd (AT_FDCWD: a plain path), created 0644 or
 * truncated; a symlink as the last component is refused, not followed.  A
 * failure is only reported as a comment: the check that needed the file
 * then fails. */
static inline void
tu_write_at (int dirfd, const char *name, const char *text)
{
  size_t len = strlen (text), done = 0;
  int fd = openat (dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  while (fd >= 0 && done < len)
    {
      ssize_t n = write (fd, text + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += (size_t) n;
    }
  if (fd < 0 || done < len)
    printf ("# writing %s: %s\n", name, fd < 0 ? strerror (errno) : "short write");
  if (fd >= 0)
    close (fd);
}

static inline void
tu_write_file (const char *path, const char *text)
{
  tu_write_at (AT_FDCWD, path, text);
}

/* The first 8 KiB of path (a symlink as the last component is not followed)
 * in a static buffer that the next call reuses.  "" when it cannot be read,
 * so that a check comparing it fails instead of crashing. */
static inline const char *
tu_slurp (const char *path)
{
  static char buf[8192];
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, buf, sizeof (buf) - 1) : -1;
  if (fd >= 0)
    close (fd);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

/* path of rel in the source tree: ctest sets NSFD_TEST_SRCDIR; by hand from
 * build/tests/unit, ../.. is a guess.  Returns buf. */
static inline const char *
tu_src_path (char *buf, size_t size, const char *rel)
{
  const char *src = getenv ("NSFD_TEST_SRCDIR");
  snprintf (buf, size, "%s/%s", src ? src : "../..", rel);
  return buf;
}

/* Reads tests/unit/data/<name> into a new NUL-terminated buffer (*buf, *len;
 * the caller frees it).  Prints why and returns -1 when it cannot. */
static inline int
tu_read_data (const char *name, char **buf, size_t *len)
{
  char rel[512], path[4096];
  struct stat st;
  char *b = NULL;
  size_t done = 0;
  int fd, saved;

  snprintf (rel, sizeof (rel), "tests/unit/data/%s", name);
  tu_src_path (path, sizeof (path), rel);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0)
    goto fail;
  if (!S_ISREG (st.st_mode) || st.st_size > TU_DATA_MAX)
    {
      errno = EFBIG;
      goto fail;
    }
  b = malloc ((size_t) st.st_size + 1);
  if (b == NULL)
    goto fail;
  while (done < (size_t) st.st_size)
    {
      ssize_t n = read (fd, b + done, (size_t) st.st_size - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = EIO; /* shrank while read */
          goto fail;
        }
      done += (size_t) n;
    }
  close (fd);
  b[done] = '\0';
  *buf = b;
  *len = done;
  return 0;

fail:
  saved = errno;
  printf ("# cannot read %s: %s\n", path, strerror (saved));
  free (b);
  if (fd >= 0)
    close (fd);
  errno = saved;
  return -1;
}

/* fork () after flushing stdout, so that TAP lines still buffered are not
 * printed twice (by the parent and by the child's exit ()). */
static inline pid_t
tu_fork (void)
{
  fflush (stdout);
  return fork ();
}

/* Waits for pid through EINTR; returns its wait status, or -1 (also for a
 * failed fork's pid, which must never turn into "any child"). */
static inline int
tu_wait (pid_t pid)
{
  int status;
  if (pid <= 0)
    return -1;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return status;
}

/* Makes the temporary directory /tmp/I-<module>-XXXXXX (the I- prefix keeps
 * parallel work apart) into tmp.  Returns 0, or -1 after saying why. */
static inline int
tu_make_tmpdir (char *tmp, size_t size, const char *module)
{
  snprintf (tmp, size, "/tmp/I-%s-XXXXXX", module);
  if (mkdtemp (tmp) == NULL)
    {
      printf ("not ok - mkdtemp %s: %s\n", tmp, strerror (errno));
      return -1;
    }
  return 0;
}

/* The main () of a test that works in a temporary directory: makes
 * /tmp/I-<module>-XXXXXX in tmp, runs body in a forked child and returns its
 * exit code.  The parent removes the tree whatever the child did (failed,
 * exited early, crashed) and reports a death by signal as a failure. */
static inline int
tu_run_in_tmpdir (char *tmp, size_t size, const char *module, int (*body) (void))
{
  pid_t pid;
  int status;

  if (tu_make_tmpdir (tmp, size, module) < 0)
    return 1;
  pid = tu_fork ();
  if (pid == 0)
    exit (body ());
  status = tu_wait (pid);
  tu_rm_tree (tmp);
  if (status < 0)
    {
      printf ("not ok - running the test body: %s\n", strerror (errno));
      return 1;
    }
  if (!WIFEXITED (status))
    {
      printf ("not ok - test body died with signal %d\n", WTERMSIG (status));
      return 1;
    }
  return WEXITSTATUS (status);
}

/* Moves the calling process (a forked child) into a new mount namespace and
 * makes every mount in it private: nothing it mounts reaches the host, and
 * all of it vanishes when the process exits.  Returns 0, or -1 with errno. */
static inline int
tu_private_mounts (void)
{
  if (unshare (CLONE_NEWNS) < 0)
    return -1;
  return mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

/* How many fds this process has open (for leak checks): -1 when
 * /proc/self/fd cannot be read. */
static inline int
tu_count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (d == NULL)
    return -1;
  while ((e = readdir (d)) != NULL)
    n += e->d_name[0] != '.';
  closedir (d);
  return n - 1; /* the DIR's own fd */
}

/* true when this process has no child left, zombie or running. */
static inline bool
tu_no_children (void)
{
  return waitpid (-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

