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
#include "scm-rights.h"

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
  const unsigned char cmd = NSFD_LEGACY_FDS;
  int fds[NSFD_LEGACY_NFDS];

  for (int k = 0; k < NSFD_LEGACY_NFDS; k++)
    fds[k] = ns->fd[nsfd_legacy_order[k]];
  for (;;)
    {
      nsfd_error_t local = NULL;

      if (nsfd_hs_wait (sock, POLLOUT, left_ms (timeout_ms, start), err) < 0)
        return nsfd_error_wrap (err, "waiting for the client to take the namespace fds");
      if (nsfd_scm_send (sock, &cmd, 1, fds, NSFD_LEGACY_NFDS, MSG_DONTWAIT, &local) == 0)
        return 0;
      if (local->status != EAGAIN)
        {
          nsfd_error_free (err);
          *err = local;
          return nsfd_error_wrap (err, "sending the namespace fds");
        }
      nsfd_error_free (&local);
    }
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

/* The origin did not check what it got; a privileged receiver must. */
static int
check_reply (size_t n, unsigned char cmd, const int *fds, size_t nfds, nsfd_error_t *err)
{
  if (n == 0)
    return nsfd_make_error (err, EPIPE, "the server closed the connection without sending fds");
  if (nfds == 0)
    return nsfd_make_error (err, EBADMSG, "received %zu fds, expected %d", nfds, NSFD_LEGACY_NFDS);
  if (nfds != NSFD_LEGACY_NFDS)
    return nsfd_make_error (err, EBADMSG, "unexpected length for ancillary data (%zu fds, expected %d)", nfds,
                            NSFD_LEGACY_NFDS);
  if (cmd != NSFD_LEGACY_FDS)
    return nsfd_make_error (err, EBADMSG, "unexpected reply byte %d (expected %d)", (int) cmd, NSFD_LEGACY_FDS);
  for (size_t k = 0; k < nfds; k++)
    if (nsfd_ns_check_type (fds[k], nsfd_legacy_order[k], err) < 0)
      return nsfd_error_wrap (err, "legacy fd #%zu", k);
  return 0;
}

int
nsfd_legacy_request (int sock, unsigned timeout_ms, struct nsfd_ns_set *out, nsfd_error_t *err)
{
  static const unsigned char cmds[] = { NSFD_LEGACY_START, NSFD_LEGACY_FDS, NSFD_LEGACY_END };
  int fds[NSFD_LEGACY_NFDS];
  unsigned char cmd = 0;
  size_t n = 0, nfds = 0;
  ssize_t sent;
  int r;

  nsfd_ns_set_init (out);
  /* One write, as the origin client: its server reads byte by byte, so the
   * split does not matter to it, but other peers might expect this. */
  do
    sent = send (sock, cmds, sizeof (cmds), MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0)
    return nsfd_make_error (err, errno, "sending the commands");
  if (sent != (ssize_t) sizeof (cmds))
    return nsfd_make_error (err, EPROTO, "short write of the commands (%zd of 3 bytes)", sent);

  r = nsfd_hs_wait (sock, POLLIN, timeout_ms, err);
  if (r < 0)
    return nsfd_error_wrap (err, "waiting for the namespace fds");
  /* Exactly room for six fds, as the origin: more shows up as MSG_CTRUNC. */
  r = nsfd_scm_recv (sock, &cmd, 1, &n, fds, NSFD_LEGACY_NFDS, &nfds, MSG_DONTWAIT, err);
  if (r < 0)
    return nsfd_error_wrap (err, "receiving the namespace fds");
  r = check_reply (n, cmd, fds, nfds, err);
  if (r < 0)
    {
      for (size_t k = 0; k < nfds; k++)
        (void) close (fds[k]);
      return r;
    }
  for (size_t k = 0; k < nfds; k++)
    out->fd[nsfd_legacy_order[k]] = fds[k];
  return 0;
}
