/* Running the real runtime: exec'd for everything that is not ours, or run
 * as a child (signals passed on) when we must act after it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "log.h"
#include "oci.h"
#include "runtime.h"

/* At most this much of `runtime state` output is read, and it is waited
 * for at most this long (runc and crun answer in milliseconds). */
#define STATE_MAX 65536
#define STATE_TIMEOUT_MS 10000

const char *
runtime_real (const struct nsfd_config *cfg)
{
  const char *env = getenv ("NSFDSUDS_RUNTIME");
  return env && *env ? env : cfg->runtime_path;
}

void
runtime_exec (const char *path, char **argv)
{
  char *saved = argv[0];
  argv[0] = (char *) path;
  execv (path, argv);
  argv[0] = saved;
  fprintf (stderr, "nsfdsuds-runtime: cannot execute the runtime \"%s\": %s "
           "(set runtimePath in the nsfdsuds config)\n", path, strerror (errno));
  _exit (127);
}

static pid_t child_pid;

static void
forward (int sig)
{
  if (child_pid > 0)
    kill (child_pid, sig);
}

int
runtime_run (const char *path, char **argv)
{
  struct sigaction sa = { .sa_handler = forward };
  int status;
  pid_t r;

  child_pid = fork ();
  if (child_pid < 0)
    return -1;
  if (child_pid == 0)
    {
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      runtime_exec (path, argv);
    }
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  sigaction (SIGQUIT, &sa, NULL);
  do
    r = waitpid (child_pid, &status, 0);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -1 : status;
}

int
runtime_exit_code (int status)
{
  if (status < 0)
    return 1;
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 1;
}

static pid_t
pid_from_file (const char *path)
{
  char buf[32] = { 0 };
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  pid_t pid;
  if (fd < 0 || read (fd, buf, sizeof (buf) - 1) <= 0)
    return 0;
  pid = (pid_t) atoi (buf);
  return pid > 0 ? pid : 0;
}

/* `runtime [--root R] state ID`, its stdout into buf (or, with errors, its
 * stderr, stdout going to /dev/null); *status gets its wait status (-1 when
 * it could not be run or did not answer in time).  A runtime that hangs
 * (its state directory on a stuck filesystem, a wedged lock) must not hold
 * the wrapper, and the engine waiting on it, forever: after STATE_TIMEOUT_MS
 * it is killed and the answer is "unknown", which every caller treats as the
 * cautious case. */
static size_t
read_state (const char *runtime, const struct nsfd_runtime_args *a, bool errors, char *buf, size_t cap, int *status)
{
  int pfd[2];
  size_t len = 0;
  long long deadline = nsfd_now_ms () + STATE_TIMEOUT_MS;
  bool late = false;
  pid_t c;

  *status = -1;
  buf[0] = '\0';
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return 0;
  c = fork ();
  if (c == 0)
    {
      char *argv[6];
      int n = 0;
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      dup2 (pfd[1], errors ? 2 : 1);
      if (errors)
        {
          int null = open ("/dev/null", O_WRONLY | O_CLOEXEC);
          if (null >= 0)
            dup2 (null, 1);
        }
      argv[n++] = (char *) runtime;
      if (a->root)
        {
          argv[n++] = (char *) "--root";
          argv[n++] = (char *) a->root;
        }
      argv[n++] = (char *) "state";
      argv[n++] = (char *) a->id;
      argv[n] = NULL;
      execv (runtime, argv);
      _exit (127);
    }
  close (pfd[1]);
  /* Read to the end (what does not fit is dropped): the runtime must not
   * die of SIGPIPE, its exit status is an answer too. */
  while (c > 0)
    {
      char spill[512];
      struct pollfd p = { .fd = pfd[0], .events = POLLIN };
      long long left = deadline - nsfd_now_ms ();
      ssize_t n;
      int pr = left > 0 ? poll (&p, 1, (int) left) : 0;
      if (pr < 0 && errno == EINTR)
        continue;
      if (pr <= 0)
        {
          late = pr == 0;
          break;
        }
      n = len < cap - 1 ? read (pfd[0], buf + len, cap - 1 - len) : read (pfd[0], spill, sizeof (spill));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      if (len < cap - 1)
        len += (size_t) n;
    }
  close (pfd[0]);
  /* Its output closed but it may not have exited: bounded the same way. */
  if (c > 0 && !late)
    {
      cleanup_close int pidfd = (int) syscall (SYS_pidfd_open, c, 0);
      int pr = -1;
      while (pidfd >= 0)
        {
          long long left = deadline - nsfd_now_ms ();
          struct pollfd p = { .fd = pidfd, .events = POLLIN };
          pr = left > 0 ? poll (&p, 1, (int) left) : 0;
          if (pr >= 0 || errno != EINTR)
            break;
        }
      /* Without a pidfd (older kernel) the closed output is taken as its exit. */
      late = pidfd >= 0 && pr == 0;
      while (!late && waitpid (c, status, 0) < 0 && errno == EINTR)
        ;
    }
  if (c > 0 && late)
    {
      kill (c, SIGKILL);
      while (waitpid (c, NULL, 0) < 0 && errno == EINTR)
        ;
      *status = -1;
      len = 0;
      nsfd_log (NSFD_LOG_WARNING, a->id, "\"%s state %s\" did not answer within %d ms; it was killed and its "
                "answer taken as unknown (run it by hand to see why it hangs: its --root on a stuck filesystem, "
                "a lock held by another call)", runtime, a->id, STATE_TIMEOUT_MS);
    }
  buf[len] = '\0';
  return len;
}

pid_t
runtime_container_pid (const char *runtime, const struct nsfd_runtime_args *a)
{
  cleanup_free char *buf = NULL;
  struct nsfd_oci_state st = { 0 };
  pid_t pid = a->pid_file ? pid_from_file (a->pid_file) : 0;
  size_t len;
  int status;

  if (pid > 0)
    return pid;
  if ((buf = malloc (STATE_MAX)) == NULL)
    return -1;
  len = read_state (runtime, a, false, buf, STATE_MAX, &status);
  if (status == -1)
    return -1;
  if (len > 0 && nsfd_oci_state_parse (buf, len, &st, NULL) == 0)
    pid = st.pid;
  nsfd_oci_state_free (&st);
  return pid;
}

bool
runtime_container_unknown (const char *runtime, const struct nsfd_runtime_args *a)
{
  char buf[4096];
  int status;

  /* A failed state alone could be anything; runc ("container does not
   * exist") and crun ("container `ID` does not exist") say which. */
  (void) read_state (runtime, a, true, buf, sizeof (buf), &status);
  return status != -1 && WIFEXITED (status) && WEXITSTATUS (status) != 0 && strstr (buf, "does not exist") != NULL;
}
