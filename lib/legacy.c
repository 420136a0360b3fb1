/* The origin tool's protocol on SOCK_STREAM (docs/protocol.md, "Legacy").
 * Client: one write of {42, 44, 43}.  Server: reads one byte at a time;
 * 42 start, 44 -> one byte 44 with six SCM_RIGHTS fds (ipc, mnt, net, pid,
 * user, uts), 43 end, 45 client error, anything else invalid. */
#include "handshake.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

const enum nsfd_ns_index nsfd_legacy_order[NSFD_LEGACY_NFDS] = {
  NSFD_NS_IPC, NSFD_NS_MNT, NSFD_NS_NET, NSFD_NS_PID, NSFD_NS_USER, NSFD_NS_UTS,
};

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of a timeout that started at start; never 0 unless the
 * caller asked for no limit, so an expired deadline still times out. */
static unsigned
left_ms (unsigned timeout_ms, int64_t start)
{
  int64_t d;

  if (timeout_ms == NSFD_HS_NO_TIMEOUT)
    return NSFD_HS_NO_TIMEOUT;
  d = (int64_t) timeout_ms - (now_ms () - start);
  return d < 1 ? 1 : (unsigned) d;
}

/* Bounded by the serve deadline: a client that sends the fds command again
 * and again without reading would otherwise fill the socket buffer and
 * block the server in sendmsg for ever. */
static int
send_fds (int sock, const struct nsfd_ns_set *ns, unsigned timeout_ms, int64_t start, nsfd_error_t *err)
{
  unsigned char cmd = NSFD_LEGACY_FDS;
  int fds[NSFD_LEGACY_NFDS];
  union
  {
    char buf[CMSG_SPACE (sizeof (fds))];
    struct cmsghdr align;
  } control;
  struct iovec iov = { .iov_base = &cmd, .iov_len = 1 };
  struct msghdr mh = { 0 };
  struct cmsghdr *c;
  ssize_t n;

  for (int k = 0; k < NSFD_LEGACY_NFDS; k++)
    fds[k] = ns->fd[nsfd_legacy_order[k]];
  memset (&control, 0, sizeof (control));
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.buf;
  mh.msg_controllen = sizeof (control.buf);
  c = CMSG_FIRSTHDR (&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (fds));
  memcpy (CMSG_DATA (c), fds, sizeof (fds));
  mh.msg_controllen = c->cmsg_len;
  for (;;)
    {
      if (nsfd_hs_wait (sock, POLLOUT, left_ms (timeout_ms, start), err) < 0)
        return nsfd_error_wrap (err, "waiting for the client to take the namespace fds");
      n = sendmsg (sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      break;
    }
  if (n < 0)
    return nsfd_make_error (err, errno, "sending the namespace fds");
  if (n != 1)
    return nsfd_make_error (err, EPROTO, "sending the namespace fds: nothing sent");
  return 0;
}

int
nsfd_legacy_serve (int client, const struct nsfd_ns_set *ns, unsigned timeout_ms, nsfd_error_t *err)
{
  int64_t start = now_ms ();
  int started = 0, r;

  for (int k = 0; k < NSFD_LEGACY_NFDS; k++)
    if (ns->fd[nsfd_legacy_order[k]] < 0)
      return nsfd_make_error (err, EINVAL, "legacy serve: no %s namespace fd to send",
                              nsfd_ns_name (nsfd_legacy_order[k]));
  for (;;)
    {
      unsigned char cmd;
      ssize_t n;

      r = nsfd_hs_wait (client, POLLIN, left_ms (timeout_ms, start), err);
      if (r < 0)
        return nsfd_error_wrap (err, "waiting for a command from the client");
      do
        n = recv (client, &cmd, 1, MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      if (n < 0 && errno == EAGAIN)
        continue;
      if (n < 0)
        return nsfd_make_error (err, errno, "reading a command from the client");
      /* The origin read an uninitialised byte here; end of stream before
       * the end command is an error. */
      if (n == 0)
        return nsfd_make_error (err, EPIPE, "the client closed the connection before the end command");
      switch (cmd)
        {
        case NSFD_LEGACY_START:
          if (started)
            return nsfd_make_error (err, EPROTO, "duplicate start command from the client");
          started = 1;
          break;
        case NSFD_LEGACY_FDS:
          if (!started)
            return nsfd_make_error (err, EPROTO, "fds command before the start command");
          r = send_fds (client, ns, timeout_ms, start, err);
          if (r < 0)
            return r;
          break;
        case NSFD_LEGACY_END:
          if (!started)
            return nsfd_make_error (err, EPROTO, "end command before the start command");
          return 0;
        case NSFD_LEGACY_ERROR:
          return nsfd_make_error (err, EPROTO, "the client reported an error");
        default:
          return nsfd_make_error (err, EPROTO, "invalid command %d from the client", (int) cmd);
        }
    }
}

int
nsfd_legacy_request (int sock, unsigned timeout_ms, struct nsfd_ns_set *out, nsfd_error_t *err)
{
  static const unsigned char cmds[] = { NSFD_LEGACY_START, NSFD_LEGACY_FDS, NSFD_LEGACY_END };
  int fds[NSFD_LEGACY_NFDS];
  union
  {
    /* Exactly room for six fds, as the origin: more shows up as MSG_CTRUNC. */
    char buf[CMSG_SPACE (sizeof (fds))];
    struct cmsghdr align;
  } control;
  unsigned char cmd = 0;
  struct iovec iov = { .iov_base = &cmd, .iov_len = 1 };
  struct msghdr mh = { 0 };
  struct cmsghdr *c;
  struct nsfd_ns_set got;
  size_t nfds = 0;
  ssize_t n;
  int r = 0;

  nsfd_ns_set_init (out);
  /* One write, as the origin client: its server reads byte by byte, so the
   * split does not matter to it, but other peers might expect this. */
  do
    n = send (sock, cmds, sizeof (cmds), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return nsfd_make_error (err, errno, "sending the commands");
  if (n != (ssize_t) sizeof (cmds))
    return nsfd_make_error (err, EPROTO, "short write of the commands (%zd of 3 bytes)", n);

  r = nsfd_hs_wait (sock, POLLIN, timeout_ms, err);
  if (r < 0)
    return nsfd_error_wrap (err, "waiting for the namespace fds");
  memset (&control, 0, sizeof (control));
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.buf;
  mh.msg_controllen = sizeof (control.buf);
  do
    n = recvmsg (sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return nsfd_make_error (err, errno, "receiving the namespace fds");

  /* Take every fd first so that each is closed on any error below. */
  for (c = CMSG_FIRSTHDR (&mh); c; c = CMSG_NXTHDR (&mh, c))
    {
      size_t count;

      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        {
          if (r == 0)
            r = nsfd_make_error (err, EBADMSG, "unexpected level or type for ancillary data");
          continue;
        }
      if (r == 0 && c->cmsg_len != CMSG_LEN (sizeof (fds)))
        r = nsfd_make_error (err, EBADMSG, "unexpected length for ancillary data (%zu fds, expected %d)",
                             (size_t) ((c->cmsg_len - CMSG_LEN (0)) / sizeof (int)), NSFD_LEGACY_NFDS);
      count = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
      for (size_t k = 0; k < count; k++)
        {
          int fd;
          memcpy (&fd, CMSG_DATA (c) + k * sizeof (int), sizeof (int));
          if (nfds < NSFD_LEGACY_NFDS)
            fds[nfds++] = fd;
          else
            (void) close (fd);
        }
    }
  if (r == 0 && n == 0)
    r = nsfd_make_error (err, EPIPE, "the server closed the connection without sending fds");
  if (r == 0 && (mh.msg_flags & MSG_CTRUNC))
    r = nsfd_make_error (err, EBADMSG, "ancillary data truncated (more than %d fds)", NSFD_LEGACY_NFDS);
  if (r == 0 && nfds != NSFD_LEGACY_NFDS)
    r = nsfd_make_error (err, EBADMSG, "received %zu fds, expected %d", nfds, NSFD_LEGACY_NFDS);
  if (r == 0 && cmd != NSFD_LEGACY_FDS)
    r = nsfd_make_error (err, EBADMSG, "unexpected reply byte %d (expected %d)", (int) cmd,
                         NSFD_LEGACY_FDS);

  nsfd_ns_set_init (&got);
  for (size_t k = 0; k < nfds; k++)
    got.fd[nsfd_legacy_order[k]] = fds[k];
  /* The origin did not check what it got; a privileged receiver must. */
  for (size_t k = 0; r == 0 && k < nfds; k++)
    if (nsfd_ns_check_type (fds[k], nsfd_legacy_order[k], err) < 0)
      r = nsfd_error_wrap (err, "legacy fd #%zu", k);
  if (r < 0)
    {
      nsfd_ns_set_close (&got);
      return r;
    }
  *out = got;
  return 0;
}
