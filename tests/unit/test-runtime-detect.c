/* lib/runtime-detect.c: telling that the createContainer hook runs under a
 * "runc init" that holds the rootfs open.  A fake runc init is this same
 * program copied to <tmp>/runc and run as "runc init ROOTFS hold": it opens
 * ROOTFS (as runc 1.3.6+ does), forks the "hook", which runs the detection on
 * itself and reports through its exit code. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime-detect.h"
#include "tap.h"
#include "testutil.h"

#define FAKE_ENV "NSFD_I_FAKE_RUNC"

static char tmp[64];

/* argv: <any name> <any word> ROOTFS hold|nohold|other DIR */
static int
fake_runtime (int argc, char **argv)
{
  int held = -1, status;
  pid_t hook;

  if (argc < 4)
    return 90;
  if (strcmp (argv[3], "hold") == 0)
    held = open (argv[2], O_RDONLY | O_DIRECTORY); /* no CLOEXEC, like a long-lived handle */
  else if (strcmp (argv[3], "other") == 0 && argc > 4)
    held = open (argv[4], O_RDONLY | O_DIRECTORY);
  hook = fork ();
  if (hook == 0)
    {
      char what[512] = "";
      int r = nsfd_runtime_pivots_preopened_root (getpid (), argv[2], what, sizeof (what));
      printf ("# detection: %d%s%s\n", r, *what ? ": " : "", what);
      fflush (stdout);
      _exit (r == 1 ? 10 : r == 0 ? 11 : 12);
    }
  status = tu_wait (hook);
  if (held >= 0)
    close (held);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 91;
}

static int
copy_self (const char *dst)
{
  int in = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC), out;
  struct stat st;
  ssize_t n;
  if (in < 0 || fstat (in, &st) < 0)
    return -1;
  out = open (dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (out < 0)
    {
      close (in);
      return -1;
    }
  for (off_t off = 0; off < st.st_size; off += n)
    if ((n = sendfile (out, in, NULL, (size_t) (st.st_size - off))) <= 0)
      break;
  close (in);
  close (out);
  return 0;
}

/* Runs the fake runtime (path exe) with argv0 and word; returns the
 * detection's exit code (10 detected, 11 not). */
static int
run_fake (const char *exe, const char *argv0, const char *word, const char *rootfs, const char *mode,
          const char *other)
{
  pid_t pid = tu_fork ();
  int status;
  if (pid == 0)
    {
      char *argv[] = { (char *) argv0, (char *) word, (char *) rootfs, (char *) mode, (char *) other, NULL };
      setenv (FAKE_ENV, "1", 1);
      execv (exe, argv);
      _exit (92);
    }
  status = tu_wait (pid);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 93;
}

static int
body (void)
{
  char what[256] = "", runc[128], crun[128], rootfs[128], other[128];
  int r;

  r = nsfd_runtime_pivots_preopened_root (getpid (), "/", what, sizeof (what));
  CHECK (r == 0, "a normal parent: 0");
  CHECK (what[0] == '\0', "  nothing described");
  CHECK (nsfd_runtime_pivots_preopened_root (0x3ffffff, "/", what, sizeof (what)) == 0, "a missing pid: 0");
  CHECK (nsfd_runtime_pivots_preopened_root (1, "/", what, sizeof (what)) == 0, "pid 1 (parent 0): 0");

  snprintf (runc, sizeof (runc), "%s/runc", tmp);
  snprintf (crun, sizeof (crun), "%s/crun", tmp);
  snprintf (rootfs, sizeof (rootfs), "%s/rootfs", tmp);
  snprintf (other, sizeof (other), "%s/other", tmp);
  mkdir (rootfs, 0755);
  mkdir (other, 0755);
  CHECK (copy_self (runc) == 0 && copy_self (crun) == 0, "copies of this program named runc and crun");

  CHECK (run_fake (runc, runc, "init", rootfs, "hold", NULL) == 10, "runc init holding the rootfs: detected");
  CHECK (run_fake (runc, "runc", "init", rootfs, "hold", NULL) == 10, "  also with a bare argv[0]");
  CHECK (run_fake (runc, runc, "init", rootfs, "nohold", NULL) == 11, "runc init without the fd: not detected");
  CHECK (run_fake (runc, runc, "init", rootfs, "other", other) == 11, "runc init holding another directory: not detected");
  CHECK (run_fake (runc, runc, "create", rootfs, "hold", NULL) == 11, "runc with another subcommand: not detected");
  CHECK (run_fake (crun, crun, "init", rootfs, "hold", NULL) == 11, "crun holding the rootfs: not detected");
  {
    char missing[160];
    snprintf (missing, sizeof (missing), "%s/missing", tmp);
    CHECK (run_fake (runc, runc, "init", missing, "hold", NULL) == 11, "missing rootfs: not detected");
  }
  TAP_DONE ();
}

int
main (int argc, char **argv)
{
  if (getenv (FAKE_ENV))
    return fake_runtime (argc, argv);
  TAP_SKIP_UNLESS_ROOT ();
  return tu_run_in_tmpdir (tmp, sizeof (tmp), "rtdetect", body);
}
