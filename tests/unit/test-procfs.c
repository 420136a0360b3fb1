/* lib/procfs.c: start time, parent and boot id from /proc, and the zombie
 * rule (a finished process holds nothing). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"
#include "tap.h"
#include "testutil.h"

/* Waits (at most 5 s) until pid is a zombie: its start time then fails. */
static int
wait_zombie (pid_t pid)
{
  unsigned long long st;
  for (int i = 0; i < 500; i++)
    {
      int r = nsfd_proc_start_time (pid, &st);
      if (r < 0)
        return r;
      usleep (10000);
    }
  return 0;
}

int
main (void)
{
  unsigned long long self = 0, again = 0, child_start = 0;
  char boot[64], boot2[64];
  pid_t parent = 0, child;
  int r;

  CHECK (nsfd_proc_start_time (getpid (), &self) == 0 && self > 0, "own start time %llu", self);
  CHECK (nsfd_proc_start_time (getpid (), &again) == 0 && again == self, "the same when read again");
  CHECK (nsfd_proc_start_time (0x3ffffff, &again) < 0 && errno == ENOENT, "a missing pid: ENOENT");
  CHECK (nsfd_proc_start_time (0, &again) < 0 && nsfd_proc_start_time (-1, &again) < 0, "pid 0 and -1 fail");
  CHECK (nsfd_proc_is (getpid (), self), "nsfd_proc_is: ourselves, with our start time");
  CHECK (!nsfd_proc_is (getpid (), self + 1), "  not with another start time (a pid reused)");
  CHECK (!nsfd_proc_is (0x3ffffff, self) && !nsfd_proc_is (0, 0) && !nsfd_proc_is (-1, 0),
         "  not a missing pid, 0 or -1");
  CHECK (nsfd_proc_parent (getpid (), &parent) == 0 && parent == getppid (), "own parent is getppid () (%d)",
         (int) parent);
  CHECK (nsfd_proc_parent (0x3ffffff, &parent) < 0 && errno == ENOENT, "parent of a missing pid: ENOENT");

  /* A name with spaces and parentheses: fields are found after the last ')'. */
  child = tu_fork ();
  if (child == 0)
    {
      prctl (PR_SET_NAME, "a) b (c", 0, 0, 0);
      pause ();
      _exit (0);
    }
  usleep (50000);
  CHECK (child > 0 && nsfd_proc_start_time (child, &child_start) == 0 && child_start >= self,
         "a child named \"a) b (c\": start time %llu", child_start);
  CHECK (nsfd_proc_parent (child, &parent) == 0 && parent == getpid (), "its parent is us");
  if (child > 0)
    kill (child, SIGKILL);
  r = wait_zombie (child);
  CHECK (r < 0 && errno == ESRCH, "a zombie's start time fails with ESRCH (%d)", r);
  CHECK (!nsfd_proc_is (child, child_start), "nsfd_proc_is: not a zombie, even with its start time");
  CHECK (nsfd_proc_parent (child, &parent) == 0 && parent == getpid (), "a zombie still has its parent");
  CHECK (tu_wait (child) >= 0 && tu_no_children (), "child reaped");
  CHECK (nsfd_proc_start_time (child, &again) < 0, "a reaped child has no start time");

  CHECK (nsfd_boot_id (boot) == 0 && strlen (boot) == 36 && strchr (boot, '\n') == NULL, "boot id: %s", boot);
  CHECK (nsfd_boot_id (boot2) == 0 && strcmp (boot, boot2) == 0, "the same boot id twice");
  TAP_DONE ();
}
