/* libFuzzer target: the legacy (origin) protocol server.  lib/legacy.c has no
 * pure decoder: nsfd_legacy_serve reads a socket byte by byte, so the input is
 * written into one end of a SOCK_STREAM socketpair (then shut down for
 * writing) and the server runs on the other end with a bounded timeout.  A
 * thread on the client end reads (and closes) whatever the server sends, as a
 * real client does, so the server never blocks on a full socket buffer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "handshake.h"
#include "namespaces.h"

#define MAX_INPUT 4096

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static struct nsfd_ns_set self;
static int self_ready;

static void *
drain (void *arg)
{
  int sock = *(int *) arg;
  for (;;)
    {
      char b[64];
      union
      {
        char buf[CMSG_SPACE (sizeof (int) * 16)];
        struct cmsghdr align;
      } control;
      struct iovec iov = { .iov_base = b, .iov_len = sizeof (b) };
      struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                           .msg_controllen = sizeof (control.buf) };
      ssize_t n = recvmsg (sock, &mh, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      for (struct cmsghdr *c = CMSG_FIRSTHDR (&mh); c; c = CMSG_NXTHDR (&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
          for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN (0)) / sizeof (int); k++)
            {
              int fd;
              memcpy (&fd, CMSG_DATA (c) + k * sizeof (int), sizeof (int));
              close (fd);
            }
    }
  return NULL;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  nsfd_error_t err = NULL;
  pthread_t th;
  int sv[2];
  int ret;

  if (!self_ready)
    {
      uint32_t mask = 0;
      for (int k = 0; k < NSFD_LEGACY_NFDS; k++)
        mask |= 1u << nsfd_legacy_order[k];
      if (nsfd_ns_open_self (mask, &self, &err) < 0)
        {
          fprintf (stderr, "fuzz-legacy: %s\n", nsfd_error_text (err));
          abort ();
        }
      self_ready = 1;
    }
  if (size > MAX_INPUT)
    return 0;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    abort ();
  if (size && send (sv[0], data, size, MSG_NOSIGNAL) != (ssize_t) size)
    abort ();
  (void) shutdown (sv[0], SHUT_WR);
  if (pthread_create (&th, NULL, drain, &sv[0]) != 0)
    abort ();
  ret = nsfd_legacy_serve (sv[1], &self, 2000, &err);
  fuzz_check_error (&err, ret);
  /* The server is done with its end: closing it ends the drain thread. */
  close (sv[1]);
  pthread_join (th, NULL);
  close (sv[0]);
  return 0;
}
