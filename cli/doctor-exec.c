/* Child processes for doctor (runtime --version, the probe container, its
 * delete): started in their own process group so a terminal's Ctrl-C reaches
 * doctor only, which then cleans up; every wait is bounded. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "doctor.h"

static int
open_out (const char *path)
{
  if (path == NULL)
    return open ("/dev/null", O_WRONLY | O_CLOEXEC);
  return open (path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
}

pid_t
nsfd_doctor_spawn (char *const argv[], const char *out_path, const char *err_path)
{
  int in = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = open_out (out_path);
  int errfd = open_out (err_path);
  pid_t pid = -1;

  if (in >= 0 && out >= 0 && errfd >= 0)
    pid = fork ();
  if (pid == 0)
    {
      sigset_t none;
      (void) setpgid (0, 0);
      sigemptyset (&none);
      (void) sigprocmask (SIG_SETMASK, &none, NULL);
      signal (SIGTERM, SIG_DFL);
      signal (SIGINT, SIG_DFL);
      signal (SIGHUP, SIG_DFL);
      if (dup2 (in, 0) < 0 || dup2 (out, 1) < 0 || dup2 (errfd, 2) < 0)
        _exit (127);
      execv (argv[0], argv);
      dprintf (2, "cannot execute \"%s\": %s\n", argv[0], strerror (errno));
      _exit (127);
    }
  if (pid > 0)
    (void) setpgid (pid, pid); /* also from here: no race with the child's own call */
  nsfd_closep (&in);
  nsfd_closep (&out);
  nsfd_closep (&errfd);
  return pid;
}

size_t
nsfd_doctor_wait (pid_t *pids, int *status, size_t n, long long deadline_ms, bool interruptible)
{
  size_t running;
  for (;;)
    {
      running = 0;
      for (size_t i = 0; i < n; i++)
        {
          int st;
          if (pids[i] <= 0)
            continue;
          pid_t r = waitpid (pids[i], &st, WNOHANG);
          if (r == pids[i] || (r < 0 && errno == ECHILD))
            {
              status[i] = r == pids[i] ? st : -1;
              pids[i] = 0;
            }
          else
            running++;
        }
      if (running == 0 || nsfd_now_ms () >= deadline_ms || (interruptible && nsfd_doctor_signal))
        return running;
      struct timespec ts = { 0, 5 * 1000 * 1000 };
      (void) nanosleep (&ts, NULL);
    }
}

void
nsfd_doctor_kill (pid_t pid)
{
  if (pid <= 0)
    return;
  (void) kill (-pid, SIGKILL);
  (void) kill (pid, SIGKILL);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

int
nsfd_doctor_run (char *const argv[], const char *out_path, const char *err_path, unsigned timeout_ms)
{
  pid_t pid = nsfd_doctor_spawn (argv, out_path, err_path);
  int st = -1;
  if (pid < 0)
    return -1;
  if (nsfd_doctor_wait (&pid, &st, 1, nsfd_now_ms () + timeout_ms, false) > 0)
    {
      nsfd_doctor_kill (pid);
      return -1;
    }
  return st;
}

static void
trim (char *s)
{
  size_t n = strlen (s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';
}

void
nsfd_doctor_file_line (const char *path, bool last, char *buf, size_t cap)
{
  cleanup_file FILE *f = fopen (path, "re");
  char line[1024];
  int lines = 0;

  buf[0] = '\0';
  if (f == NULL)
    return;
  while (fgets (line, sizeof (line), f) && lines++ < 10000)
    {
      trim (line);
      if (line[0] == '\0')
        continue;
      /* Control characters from a runtime's message stay out of our output. */
      for (char *p = line; *p; p++)
        if ((unsigned char) *p < 0x20)
          *p = ' ';
      snprintf (buf, cap, "%s", line);
      if (!last)
        return;
    }
}
