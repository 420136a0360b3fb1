/* The modern handshake's socket side: SOCK_SEQPACKET, one message per
 * packet, fds as SCM_RIGHTS received close-on-exec, bounded waits. */
#include "handshake.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "scm-rights.h"

_Static_assert (NSFD_HS_MAX_FDS + 1 <= NSFD_SCM_MAX_FDS, "the handshake's fds fit one SCM_RIGHTS message");

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
nsfd_hs_wait (int fd, short events, unsigned timeout_ms, nsfd_error_t *err)
{
  int64_t deadline = now_ms () + timeout_ms;

  for (;;)
    {
      struct pollfd p = { .fd = fd, .events = events };
      int left = -1, r;

      if (timeout_ms != NSFD_HS_NO_TIMEOUT)
        {
          int64_t d = deadline - now_ms ();
          left = d < 0 ? 0 : (d > INT32_MAX ? INT32_MAX : (int) d);
        }
      r = poll (&p, 1, left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return nsfd_make_error (err, errno, "poll on fd %d", fd);
      if (r == 0)
        return nsfd_make_error (err, ETIMEDOUT, "no answer from the peer within %u ms", timeout_ms);
      if (p.revents & POLLNVAL)
        return nsfd_make_error (err, EBADF, "poll on fd %d", fd);
      /* Readable data wins over a hang-up: the last message may be queued. */
      if (p.revents & events)
        return 0;
      if (p.revents & (POLLHUP | POLLERR))
        return nsfd_make_error (err, EPIPE, "the peer closed the connection");
    }
}

static int
fill_addr (const char *path, struct sockaddr_un *addr, nsfd_error_t *err)
{
  memset (addr, 0, sizeof (*addr));
  addr->sun_family = AF_UNIX;
  if (path == NULL || *path == '\0')
    return nsfd_make_error (err, EINVAL, "empty socket path");
  if (strlen (path) >= sizeof (addr->sun_path))
    return nsfd_make_error (err, ENAMETOOLONG, "socket path `%s`", path);
  strcpy (addr->sun_path, path);
  return 0;
}

int
nsfd_hs_listen (const char *path, mode_t mode, uid_t uid, gid_t gid, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  struct sockaddr_un addr;
  int r;

  r = fill_addr (path, &addr, err);
  if (r < 0)
    return r;
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nsfd_make_error (err, errno, "creating a socket for `%s`", path);
  if (bind (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0)
    return nsfd_make_error (err, errno, "binding `%s`", path);
  /* Nobody can connect before listen(), so permissions set here are in
   * place before the first peer arrives. */
  if (fchmodat (AT_FDCWD, path, mode, 0) < 0)
    {
      r = nsfd_make_error (err, errno, "chmod `%s`", path);
      goto fail;
    }
  if ((uid != (uid_t) -1 || gid != (gid_t) -1)
      && fchownat (AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    {
      r = nsfd_make_error (err, errno, "chown `%s`", path);
      goto fail;
    }
  if (listen (fd, 8) < 0)
    {
      r = nsfd_make_error (err, errno, "listening on `%s`", path);
      goto fail;
    }
  return nsfd_take_fd (&fd);

fail:
  (void) unlink (path);
  return r;
}

int
nsfd_hs_accept (int listen_fd, unsigned timeout_ms, nsfd_error_t *err)
{
  int r, fd;

  for (;;)
    {
      r = nsfd_hs_wait (listen_fd, POLLIN, timeout_ms, err);
      if (r < 0)
        return nsfd_error_wrap (err, "waiting for a connection");
      fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0)
        break;
      /* The peer may have given up between poll and accept. */
      if (errno == EAGAIN || errno == ECONNABORTED || errno == EINTR)
        continue;
      return nsfd_make_error (err, errno, "accepting a connection");
    }
  /* Waits are done with poll(); the socket itself stays blocking for sends. */
  (void) fcntl (fd, F_SETFL, 0);
  return fd;
}

int
nsfd_hs_connect (const char *path, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  struct sockaddr_un addr;
  int r;

  r = fill_addr (path, &addr, err);
  if (r < 0)
    return r;
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nsfd_make_error (err, errno, "creating a socket for `%s`", path);
  if (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0)
    return nsfd_make_error (err, errno, "connecting to `%s`", path);
  return nsfd_take_fd (&fd);
}

int
nsfd_hs_peer_cred (int sock, struct ucred *out, nsfd_error_t *err)
{
  socklen_t len = sizeof (*out);

  if (getsockopt (sock, SOL_SOCKET, SO_PEERCRED, out, &len) < 0)
    return nsfd_make_error (err, errno, "SO_PEERCRED on fd %d", sock);
  if (len != sizeof (*out))
    return nsfd_make_error (err, EPROTO, "SO_PEERCRED returned %u bytes", (unsigned) len);
  return 0;
}

int
nsfd_hs_send (int sock, const struct nsfd_hs_msg *m, nsfd_error_t *err)
{
  uint8_t buf[NSFD_HS_MAX_MSG];
  int fds[NSFD_HS_MAX_FDS];
  size_t len = 0, nfds = 0;
  int r;

  r = nsfd_hs_encode (m, buf, sizeof (buf), &len, fds, &nfds, err);
  if (r < 0)
    return r;
  if (nsfd_scm_send (sock, buf, len, fds, nfds, 0, err) < 0)
    return nsfd_error_wrap (err, "sending a handshake message");
  return 0;
}

int
nsfd_hs_recv (int sock, unsigned timeout_ms, struct nsfd_hs_msg *out, nsfd_error_t *err)
{
  uint8_t buf[NSFD_HS_MAX_MSG];
  /* Room for one more fd than allowed so that an excess shows as a count
   * the decoder names; the kernel cuts anything beyond (MSG_CTRUNC). */
  int fds[NSFD_HS_MAX_FDS + 1];
  size_t n = 0, nfds = 0;
  int r;

  nsfd_hs_msg_init (out);
  r = nsfd_hs_wait (sock, POLLIN, timeout_ms, err);
  if (r < 0)
    return nsfd_error_wrap (err, "waiting for a handshake message");
  /* Its messages are the handshake's own: the peer is told them as they are. */
  r = nsfd_scm_recv (sock, buf, sizeof (buf), &n, fds, NSFD_ARRAY_SIZE (fds), &nfds, MSG_DONTWAIT, err);
  if (r < 0)
    return r;
  if (n == 0)
    {
      for (size_t k = 0; k < nfds; k++)
        (void) close (fds[k]);
      return nsfd_make_error (err, EPIPE, "the peer closed the connection");
    }
  /* decode owns the fds from here, on every path. */
  return nsfd_hs_decode (buf, n, fds, nfds, out, err);
}
