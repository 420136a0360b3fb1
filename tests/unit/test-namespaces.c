/* lib/namespaces.c: names and flags, list parsing, opening our own
 * namespaces, type checks with NS_GET_NSTYPE, identity, pidfd lookup. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "namespaces.h"
#include "tap.h"
#include "testutil.h"

int
main (void)
{
  cleanup_ns_set struct nsfd_ns_set self;
  nsfd_error_t err = NULL;
  uint32_t mask = 0;
  int pipefd[2], r;
  char tmpl[] = "/tmp/A-test-ns-XXXXXX";
  int file;

  for (int i = 0; i < NSFD_NS_COUNT; i++)
    {
      CHECK (nsfd_ns_from_name (nsfd_ns_name (i)) == i, "name round trip %s", nsfd_ns_name (i));
      CHECK (nsfd_ns_from_clone_flag (nsfd_ns_clone_flag (i)) == i, "flag round trip %s", nsfd_ns_name (i));
    }
  CHECK (nsfd_ns_from_name ("mount") == NSFD_NS_MNT, "mount is an alias of mnt");
  CHECK (nsfd_ns_from_name ("bogus") == -1, "unknown name");
  CHECK (nsfd_ns_from_clone_flag (CLONE_NEWNS) == NSFD_NS_MNT, "CLONE_NEWNS is mnt");
  CHECK (nsfd_ns_from_clone_flag (0) == -1 && nsfd_ns_from_clone_flag (CLONE_VM) == -1, "unknown flags");

  CHECK (nsfd_ns_parse_list ("mnt,net,user", &mask, &err) == 0
             && mask == ((1u << NSFD_NS_MNT) | (1u << NSFD_NS_NET) | (1u << NSFD_NS_USER)),
         "parse mnt,net,user");
  CHECK (nsfd_ns_parse_list ("all", &mask, &err) == 0 && mask == (1u << NSFD_NS_COUNT) - 1, "parse all");
  CHECK (nsfd_ns_parse_list ("mnt,bogus", &mask, &err) < 0, "parse rejects unknown");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "bogus", "error names the bad type");
  nsfd_error_free (&err);
  CHECK (nsfd_ns_parse_list ("", &mask, &err) < 0, "parse rejects empty");
  nsfd_error_free (&err);
  CHECK (nsfd_ns_parse_list (",", &mask, &err) < 0, "parse rejects only commas");
  nsfd_error_free (&err);

  nsfd_ns_set_init (&self);
  r = nsfd_ns_open_self ((1u << NSFD_NS_COUNT) - 1, &self, &err);
  CHECK (r == 0, "open all of /proc/self/ns");
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    {
      if (self.fd[i] < 0)
        continue;
      CHECK (fcntl (self.fd[i], F_GETFD) & FD_CLOEXEC, "%s fd is CLOEXEC", nsfd_ns_name (i));
      CHECK (nsfd_ns_check_type (self.fd[i], i, &err) == 0, "%s fd has its type", nsfd_ns_name (i));
    }
  CHECK (self.fd[NSFD_NS_MNT] >= 0 && self.fd[NSFD_NS_NET] >= 0, "mnt and net present");

  r = nsfd_ns_check_type (self.fd[NSFD_NS_NET], NSFD_NS_MNT, &err);
  CHECK (r < 0, "net fd is not a mnt namespace");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "is a net namespace, expected mnt", "message says both types");
  nsfd_error_free (&err);

  CHECK (pipe2 (pipefd, O_CLOEXEC) == 0, "pipe");
  CHECK (nsfd_ns_check_type (pipefd[0], NSFD_NS_MNT, &err) < 0, "pipe is not a namespace");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "not a namespace", "message for a pipe");
  nsfd_error_free (&err);
  close (pipefd[0]);
  close (pipefd[1]);

  file = mkstemp (tmpl);
  CHECK (file >= 0, "temp file");
  unlink (tmpl);
  CHECK (nsfd_ns_check_type (file, NSFD_NS_UTS, &err) < 0, "regular file is not a namespace");
  nsfd_error_free (&err);
  close (file);
  CHECK (nsfd_ns_check_type (-1, NSFD_NS_UTS, &err) < 0, "-1 is refused");
  nsfd_error_free (&err);

  {
    cleanup_close int again = open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    CHECK (nsfd_ns_same (again, self.fd[NSFD_NS_MNT], &err) == 1, "same mnt namespace");
    CHECK (nsfd_ns_same (again, self.fd[NSFD_NS_NET], &err) == 0, "mnt is not net");
    CHECK (nsfd_ns_same (-1, again, &err) < 0, "bad fd is an error");
    nsfd_error_free (&err);
  }

  {
    cleanup_close int pidfd = (int) syscall (SYS_pidfd_open, getpid (), 0);
    int fd = pidfd >= 0 ? nsfd_ns_open_from_pidfd (pidfd, NSFD_NS_MNT, &err) : -1;
    if (pidfd < 0 || (fd < 0 && err && (err->status == ENOTTY || err->status == EINVAL)))
      printf ("# pidfd namespace ioctls not supported here\n");
    else
      {
        CHECK (fd >= 0, "mnt namespace through a pidfd");
        CHECK (nsfd_ns_same (fd, self.fd[NSFD_NS_MNT], &err) == 1, "it is our mnt namespace");
      }
    if (fd >= 0)
      close (fd);
    nsfd_error_free (&err);
  }

  nsfd_error_free (&err);
  TAP_DONE ();
}
