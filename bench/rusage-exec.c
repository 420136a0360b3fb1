/* rusage-exec OUT LABEL CMD [ARG...]: run CMD and append the peak RSS of CMD and
 * of every process it leaves behind to OUT, one line each:
 *
 *   LABEL main|descendant PID MAXRSS_KIB
 *
 * Built for bench/run.sh to measure the hook's processes where the runtime
 * starts them.  We return CMD's exit status as soon as CMD exits (a runtime
 * waits for its hook); a forked reaper, a child subreaper, stays behind with
 * its stdio on /dev/null and collects the processes CMD detached (the
 * mounter).  wait4 reports RUSAGE_BOTH: a process's figure includes the
 * children it reaped itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  int st[2], out, code = 1;
  pid_t reaper, cmd;

  if (argc < 4)
    {
      fprintf (stderr, "usage: rusage-exec OUT LABEL CMD [ARG...]\n");
      return 2;
    }
  /* Opened now: a createContainer hook's root is pivoted away later. */
  out = open (argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (out < 0 || pipe2 (st, O_CLOEXEC) < 0)
    {
      perror ("rusage-exec");
      return 2;
    }
  reaper = fork ();
  if (reaper < 0)
    {
      perror ("rusage-exec: fork");
      return 2;
    }
  if (reaper > 0)
    {
      close (st[1]);
      if (read (st[0], &code, sizeof (code)) != (ssize_t) sizeof (code))
        code = 1;
      return code;
    }

  close (st[0]);
  (void) prctl (PR_SET_CHILD_SUBREAPER, 1);
  cmd = fork ();
  if (cmd < 0)
    _exit (2);
  if (cmd == 0)
    {
      execvp (argv[3], argv + 3);
      perror ("rusage-exec: exec");
      _exit (127);
    }
  {
    int dn = open ("/dev/null", O_RDWR);
    if (dn >= 0)
      {
        dup2 (dn, 0);
        dup2 (dn, 1);
        dup2 (dn, 2);
        if (dn > 2)
          close (dn);
      }
  }
  for (;;)
    {
      struct rusage ru;
      int ws;
      pid_t p = wait4 (-1, &ws, 0, &ru);
      if (p < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      dprintf (out, "%s %s %d %ld\n", argv[2], p == cmd ? "main" : "descendant", (int) p, ru.ru_maxrss);
      if (p == cmd)
        {
          code = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
          (void) write (st[1], &code, sizeof (code));
          close (st[1]);
        }
    }
  _exit (0);
}
