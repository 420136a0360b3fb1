/* lib/subprocess.c: work in a forked child, bounded in time, its errno and
 * message carried back, nothing left behind. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "subprocess.h"
#include "tap.h"
#include "testutil.h"

/* pid is a child of ours that has exited and is not reaped yet; looked at
 * without reaping it (WNOWAIT). */
static bool
unreaped_child (pid_t pid)
{
  siginfo_t si = { 0 };
  return waitid (P_PID, (id_t) pid, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == pid;
}

static int
work_ok (void *arg, nsfd_error_t *err)
{
  (void) err;
  /* Runs in the child: this write must not show in the parent. */
  *(int *) arg = 42;
  return 0;
}

static int
work_enoent (void *arg, nsfd_error_t *err)
{
  return nsfd_make_error (err, ENOENT, "opening \"%s\"", (const char *) arg);
}

static int
work_no_errno (void *arg, nsfd_error_t *err)
{
  (void) arg;
  return nsfd_make_error (err, 0, "the lower is not a directory");
}

static int
work_signal (void *arg, nsfd_error_t *err)
{
  (void) arg, (void) err;
  /* SIGKILL: AddressSanitizer would turn a SIGSEGV into an exit status. */
  raise (SIGKILL);
  return 0;
}

static int
work_exit (void *arg, nsfd_error_t *err)
{
  (void) arg, (void) err;
  _exit (3);
}

static int
work_sleep (void *arg, nsfd_error_t *err)
{
  (void) arg, (void) err;
  sleep (30);
  return 0;
}

static int
work_long_message (void *arg, nsfd_error_t *err)
{
  char big[3 * NSFD_CHILD_MAX_TEXT];
  (void) arg;
  memset (big, 'x', sizeof (big) - 1);
  big[sizeof (big) - 1] = '\0';
  return nsfd_make_error (err, EPERM, "%s", big);
}

static long
elapsed_ms (const struct timespec *a)
{
  struct timespec b;
  clock_gettime (CLOCK_MONOTONIC, &b);
  return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

int
main (void)
{
  int before = tu_count_fds (), value = 0, r;
  nsfd_error_t err = NULL;
  struct timespec t0;

  CHECK (nsfd_run_in_child (work_ok, &value, 2000, "the work", &err) == 0 && err == NULL, "success returns 0");
  CHECK (value == 0, "the work ran in another process (the parent's variable is untouched)");

  r = nsfd_run_in_child (work_enoent, "/no/such", 2000, "the work", &err);
  CHECK (r < 0 && err && err->status == ENOENT, "the child's errno is carried back (%d, %d)", r,
         err ? err->status : -1);
  CHECK (err && strcmp (nsfd_error_text (err), "opening \"/no/such\": No such file or directory") == 0,
         "and its message, as it was: %s", err ? nsfd_error_text (err) : "(none)");
  nsfd_error_free (&err);

  r = nsfd_run_in_child (work_no_errno, NULL, 2000, "the work", &err);
  CHECK (r < 0 && err && err->status == 0 && strcmp (err->msg, "the lower is not a directory") == 0,
         "a failure without errno stays without errno: %s", err ? err->msg : "(none)");
  nsfd_error_free (&err);

  r = nsfd_run_in_child (work_long_message, NULL, 2000, "the work", &err);
  CHECK (r < 0 && err && strlen (err->msg) == NSFD_CHILD_MAX_TEXT - 1, "a long message is cut, errno kept");
  nsfd_error_free (&err);

  r = nsfd_run_in_child (work_signal, NULL, 2000, "the work", &err);
  CHECK (r < 0 && err && err->status == EIO, "a child killed by a signal fails");
  CHECK_STR_CONTAINS (err ? err->msg : "", "the work: the worker process died without a result (killed by signal 9)",
                      "the message names the signal: %s", err ? err->msg : "(none)");
  nsfd_error_free (&err);

  r = nsfd_run_in_child (work_exit, NULL, 2000, "the work", &err);
  CHECK_STR_CONTAINS (err ? err->msg : "", "died without a result (exit status 3)",
                      "a child that exits without a result: %s", err ? err->msg : "(none)");
  nsfd_error_free (&err);

  clock_gettime (CLOCK_MONOTONIC, &t0);
  r = nsfd_run_in_child (work_sleep, NULL, 300, "building the root", &err);
  CHECK (r < 0 && err && strstr (err->msg, "building the root took longer than 300 ms"),
         "a child past its time fails with ETIMEDOUT: %s", err ? err->msg : "(none)");
  CHECK (elapsed_ms (&t0) < 5000, "and is killed, not waited for (%ld ms)", elapsed_ms (&t0));
  nsfd_error_free (&err);

  CHECK (nsfd_run_in_child (work_ok, &value, 0, "the work", &err) < 0 && err && err->status == EINVAL,
         "no time limit is refused");
  nsfd_error_free (&err);

  {
    pid_t left = -1;
    r = nsfd_run_in_child_unreaped (work_ok, &value, 2000, "the work", &left, &err);
    CHECK (r == 0 && left > 0, "unreaped: success, and the child's pid is handed over (%d)", (int) left);
    CHECK (unreaped_child (left), "the child is left for the caller to reap");
    nsfd_child_reap (left);
    CHECK (tu_no_children (), "nsfd_child_reap reaps it");
    left = -1;
    r = nsfd_run_in_child_unreaped (work_enoent, "/no/such", 2000, "the work", &left, &err);
    CHECK (r < 0 && err && err->status == ENOENT && left > 0, "unreaped: the work's failure is carried, pid handed over");
    nsfd_error_free (&err);
    nsfd_child_reap (left);
    left = -1;
    r = nsfd_run_in_child_unreaped (work_signal, NULL, 2000, "the work", &left, &err);
    CHECK (r < 0 && left == -1 && tu_no_children (), "unreaped: a child that died without a result is reaped here");
    nsfd_error_free (&err);
    {
      cleanup_child pid_t scoped = -1;
      CHECK (nsfd_run_in_child_unreaped (work_ok, &value, 2000, "the work", &scoped, &err) == 0,
             "cleanup_child: a scoped pid");
    }
    CHECK (tu_no_children (), "cleanup_child reaps at the end of its scope");
  }

  CHECK (tu_count_fds () == before, "no fd left (%d before, %d after)", before, tu_count_fds ());
  CHECK (tu_no_children (), "no child left, running or zombie");
  TAP_DONE ();
}
