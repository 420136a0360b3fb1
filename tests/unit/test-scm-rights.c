/* lib/scm-rights.c over socketpairs: fds arrive close-on-exec and whole;
 * too many fds, cut data and foreign control messages are refused with
 * every received fd closed; drain empties a socket, closing what it held. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "scm-rights.h"
#include "tap.h"
#include "testutil.h"

static int sv[2];

static bool
same_inode (int a, int b)
{
  struct stat sa, sb;
  return fstat (a, &sa) == 0 && fstat (b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void
close_fds (int *fds, size_t n)
{
  for (size_t k = 0; k < n; k++)
    close (fds[k]);
}

/* Sends data with n copies of fd (opened without CLOEXEC: it must come
 * back with it anyway). */
static int
send_copies (const char *data, size_t len, int fd, size_t n)
{
  int fds[NSFD_SCM_MAX_FDS] = { 0 };
  nsfd_error_t err = NULL;
  int r;

  for (size_t k = 0; k < n; k++)
    fds[k] = dup (fd);
  r = nsfd_scm_send (sv[0], data, len, fds, n, 0, &err);
  if (r < 0)
    printf ("# send: %s\n", nsfd_error_text (err));
  nsfd_error_free (&err);
  close_fds (fds, n);
  return r;
}

static void
test_pass (int file)
{
  char buf[64];
  int fds[4];
  size_t len = 0, n = 0;
  nsfd_error_t err = NULL;
  bool cloexec = true, same = true;

  CHECK (send_copies ("hello", 5, file, 3) == 0, "three fds and five bytes sent");
  CHECK (nsfd_scm_recv (sv[1], buf, sizeof (buf), &len, fds, 4, &n, 0, &err) == 0 && len == 5
             && memcmp (buf, "hello", 5) == 0 && n == 3,
         "received: the data and three fds (%zu)", n);
  for (size_t k = 0; k < n; k++)
    {
      cloexec = cloexec && (fcntl (fds[k], F_GETFD) & FD_CLOEXEC);
      same = same && same_inode (fds[k], file);
    }
  CHECK (n == 3 && cloexec, "every fd arrives close-on-exec");
  CHECK (n == 3 && same, "every fd is the file sent");
  close_fds (fds, n);

  CHECK (send_copies ("x", 1, file, 0) == 0, "a message without fds sent");
  CHECK (nsfd_scm_recv (sv[1], buf, sizeof (buf), &len, fds, 4, &n, 0, &err) == 0 && len == 1 && n == 0,
         "received without fds");
}

static void
test_refused (int file)
{
  char buf[64];
  int fds[NSFD_SCM_MAX_FDS];
  size_t len = 99, n = 99;
  nsfd_error_t err = NULL;
  int before = tu_count_fds (), on = 1;

  CHECK (send_copies ("many", 4, file, 8) == 0, "eight fds sent");
  CHECK (nsfd_scm_recv (sv[1], buf, sizeof (buf), &len, fds, 2, &n, 0, &err) < 0 && err && err->status == EBADMSG
             && n == 0 && len == 0,
         "room for two: refused with EBADMSG, nothing returned");
  CHECK (err && (strstr (err->msg, "control data truncated (too many fds)") == err->msg
                 || strstr (err->msg, "more than 2 fds received") == err->msg),
         "message: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  CHECK (tu_count_fds () == before, "every fd received was closed (%d, %d)", before, tu_count_fds ());

  /* CMSG_SPACE of 3 ints holds 4 on 64-bit: the fourth is counted, not kept. */
  CHECK (send_copies ("four", 4, file, 4) == 0, "four fds sent");
  CHECK (nsfd_scm_recv (sv[1], buf, sizeof (buf), &len, fds, 3, &n, 0, &err) < 0 && err && err->status == EBADMSG,
         "room for three: four refused (%s)", err ? err->msg : "");
  nsfd_error_free (&err);
  CHECK (tu_count_fds () == before, "and closed");

  CHECK (send_copies ("0123456789abcdef", 16, file, 2) == 0, "sixteen bytes and two fds sent");
  CHECK (nsfd_scm_recv (sv[1], buf, 10, &len, fds, 4, &n, 0, &err) < 0 && err && err->status == EMSGSIZE && n == 0,
         "ten bytes of room: refused with EMSGSIZE");
  CHECK_STR_CONTAINS (err ? err->msg : "", "message larger than 10 bytes", "message: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  CHECK (tu_count_fds () == before, "the fds of the cut message were closed");

  /* With SO_PASSCRED every message carries SCM_CREDENTIALS as well. */
  CHECK (setsockopt (sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof (on)) == 0, "SO_PASSCRED on");
  CHECK (send_copies ("cred", 4, file, 1) == 0, "a message that will carry credentials");
  CHECK (nsfd_scm_recv (sv[1], buf, sizeof (buf), &len, fds, 4, &n, 0, &err) < 0 && err && err->status == EBADMSG,
         "foreign control data refused: %s", err ? err->msg : "");
  CHECK_STR_CONTAINS (err ? err->msg : "", "unexpected control message (level 1, type 2)", "it names the type");
  nsfd_error_free (&err);
  on = 0;
  (void) setsockopt (sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof (on));
  CHECK (tu_count_fds () == before, "its fd was closed too");

  CHECK (nsfd_scm_recv (sv[1], buf, sizeof (buf), &len, fds, 4, &n, MSG_DONTWAIT, &err) < 0 && err
             && err->status == EAGAIN,
         "nothing left: EAGAIN with MSG_DONTWAIT");
  nsfd_error_free (&err);
  CHECK (nsfd_scm_send (sv[0], "x", 1, fds, NSFD_SCM_MAX_FDS + 1, 0, &err) < 0 && err && err->status == EINVAL,
         "sending more than %d fds is refused", NSFD_SCM_MAX_FDS);
  nsfd_error_free (&err);
  CHECK (nsfd_scm_send (sv[0], "", 0, NULL, 0, 0, &err) < 0 && err && err->status == EINVAL,
         "sending no data is refused");
  nsfd_error_free (&err);
  CHECK (nsfd_scm_recv (sv[1], buf, sizeof (buf), &len, fds, NSFD_SCM_MAX_FDS + 1, &n, 0, &err) < 0 && err
             && err->status == EINVAL,
         "room for more than %d fds is refused", NSFD_SCM_MAX_FDS);
  nsfd_error_free (&err);
}

static void
test_drain (int file)
{
  char buf[8];
  int fds[2];
  size_t len, n;
  nsfd_error_t err = NULL;
  int before = tu_count_fds (), sent = 0;

  for (int i = 0; i < 3; i++)
    sent += send_copies ("d", 1, file, 2) == 0;
  CHECK (sent == 3 && nsfd_scm_drain (sv[1]) == 3, "three queued messages drained");
  CHECK (tu_count_fds () == before, "their fds were closed (%d, %d)", before, tu_count_fds ());
  CHECK (nsfd_scm_drain (sv[1]) == 0, "an empty socket: nothing to drain, no wait");
  for (int i = 0; i < NSFD_SCM_DRAIN_MAX + 2; i++)
    (void) send_copies ("d", 1, file, 1);
  CHECK (nsfd_scm_drain (sv[1]) == NSFD_SCM_DRAIN_MAX, "at most %d at a time", NSFD_SCM_DRAIN_MAX);
  CHECK (nsfd_scm_drain (sv[1]) == 2, "the rest on the next call");
  CHECK (tu_count_fds () == before, "and no fd is left");

  close (sv[0]);
  sv[0] = -1;
  CHECK (nsfd_scm_recv (sv[1], buf, sizeof (buf), &len, fds, 2, &n, 0, &err) == 0 && len == 0 && n == 0,
         "the peer gone: end of stream, len 0");
  CHECK (nsfd_scm_drain (sv[1]) == 0, "draining a closed peer stops at once");
}

int
main (void)
{
  int before = tu_count_fds ();
  int file = open ("/proc/self/exe", O_RDONLY); /* no O_CLOEXEC on purpose */

  CHECK (file >= 0, "a file to pass");
  CHECK (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "seqpacket socketpair");
  test_pass (file);
  test_refused (file);
  test_drain (file);
  close (sv[1]);
  close (file);
  CHECK (tu_count_fds () == before, "no fd leaked overall (%d before, %d after)", before, tu_count_fds ());
  TAP_DONE ();
}
