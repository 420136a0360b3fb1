/* nsfd_run_in_child (see subprocess.h). */
#include "subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

struct child_result
{
  int failed;
  int status;  /* errno, 0 when the failure had none */
  char text[NSFD_CHILD_MAX_TEXT];
};

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__ ((noreturn))
child_main (int (*fn) (void *, nsfd_error_t *), void *arg, int out)
{
  struct child_result res;
  nsfd_error_t e = NULL;
  const char *p = (const char *) &res;
  size_t off = 0;

  memset (&res, 0, sizeof (res));
  if (fn (arg, &e) < 0)
    {
      res.failed = 1;
      res.status = e ? e->status : 0;
      /* The whole message, strerror included. */
      snprintf (res.text, sizeof (res.text), "%s", e && e->msg ? e->msg : "failed without a message");
    }
  while (off < sizeof (res))
    {
      ssize_t n = write (out, p + off, sizeof (res) - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      off += (size_t) n;
    }
  _exit (res.failed ? 1 : 0);
}

/* Reads the result until it is whole, the pipe ends, or the deadline.
 * Returns the bytes read, or -1 (errno ETIMEDOUT or poll's). */
static ssize_t
read_result (int fd, struct child_result *res, int64_t deadline)
{
  char *p = (char *) res;
  size_t off = 0;

  while (off < sizeof (*res))
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      int64_t left = deadline - now_ms ();
      ssize_t n;
      int r;

      if (left <= 0)
        {
          errno = ETIMEDOUT;
          return -1;
        }
      r = poll (&pfd, 1, left > INT32_MAX ? INT32_MAX : (int) left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return -1;
      if (r == 0)
        continue; /* the deadline check above ends it */
      n = read (fd, p + off, sizeof (*res) - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      off += (size_t) n;
    }
  return (ssize_t) off;
}

/* Waits for pid; with kill_first it is sent SIGKILL before. */
static int
reap (pid_t pid, bool kill_first)
{
  int wstatus = 0;

  if (kill_first)
    (void) kill (pid, SIGKILL);
  while (waitpid (pid, &wstatus, 0) < 0)
    if (errno != EINTR)
      return 0;
  return wstatus;
}

static int
died_error (const char *what, int wstatus, nsfd_error_t *err)
{
  if (WIFSIGNALED (wstatus))
    return nsfd_make_error (err, EIO, "%s: the worker process died without a result (killed by signal %d)", what,
                            WTERMSIG (wstatus));
  return nsfd_make_error (err, EIO, "%s: the worker process died without a result (exit status %d)", what,
                          WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) : -1);
}

void
nsfd_child_reap (pid_t pid)
{
  if (pid > 0)
    (void) reap (pid, false);
}

int
nsfd_run_in_child (int (*fn) (void *arg, nsfd_error_t *err), void *arg, unsigned timeout_ms, const char *what,
                   nsfd_error_t *err)
{
  return nsfd_run_in_child_unreaped (fn, arg, timeout_ms, what, NULL, err);
}

int
nsfd_run_in_child_unreaped (int (*fn) (void *arg, nsfd_error_t *err), void *arg, unsigned timeout_ms,
                            const char *what, pid_t *unreaped, nsfd_error_t *err)
{
  struct child_result res;
  cleanup_close int rd = -1;
  int pfd[2], r;
  int64_t deadline;
  ssize_t got;
  pid_t pid;

  if (fn == NULL || timeout_ms == 0)
    return nsfd_make_error (err, EINVAL, "%s: no work or no time limit given", what);
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return nsfd_make_error (err, errno, "%s: pipe", what);
  deadline = now_ms () + timeout_ms;
  pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      close (pfd[0]);
      close (pfd[1]);
      return nsfd_make_error (err, e, "%s: fork", what);
    }
  if (pid == 0)
    {
      close (pfd[0]);
      child_main (fn, arg, pfd[1]);
    }
  close (pfd[1]);
  rd = pfd[0];

  memset (&res, 0, sizeof (res));
  got = read_result (rd, &res, deadline);
  if (got < 0)
    {
      int e = errno;
      (void) reap (pid, true);
      if (e == ETIMEDOUT)
        return nsfd_make_error (err, ETIMEDOUT, "%s took longer than %u ms", what, timeout_ms);
      return nsfd_make_error (err, e, "%s: reading the worker's result", what);
    }
  if (got != (ssize_t) sizeof (res))
    return died_error (what, reap (pid, true), err);
  /* A whole result means the child is in _exit: this wait is short, and a
   * caller with an answer to give may do it first. */
  if (unreaped)
    *unreaped = pid;
  else
    (void) reap (pid, false);
  if (!res.failed)
    return 0;
  res.text[sizeof (res.text) - 1] = '\0';
  /* The text already ends in strerror: made without a status so that it is
   * not added twice, then given the child's errno. */
  r = nsfd_make_error (err, 0, "%s", res.text);
  if (err && *err)
    (*err)->status = res.status;
  return res.status > 0 ? -res.status : r;
}
