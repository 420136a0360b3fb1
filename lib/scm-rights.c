/* SCM_RIGHTS send and receive (see scm-rights.h). */
#include "scm-rights.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

union scm_control
{
  char buf[CMSG_SPACE (sizeof (int) * NSFD_SCM_MAX_FDS)];
  struct cmsghdr align;
};

int
nsfd_scm_send (int sock, const void *data, size_t len, const int *fds, size_t n_fds, int flags,
               nsfd_error_t *err)
{
  union scm_control control;
  struct iovec iov = { .iov_base = (void *) data, .iov_len = len };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
  ssize_t n;

  if (data == NULL || len == 0 || n_fds > NSFD_SCM_MAX_FDS || (n_fds > 0 && fds == NULL))
    return nsfd_make_error (err, EINVAL, "sending %zu bytes with %zu fds", len, n_fds);
  if (n_fds > 0)
    {
      struct cmsghdr *c;

      memset (&control, 0, sizeof (control));
      mh.msg_control = control.buf;
      mh.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
      c = CMSG_FIRSTHDR (&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
      memcpy (CMSG_DATA (c), fds, sizeof (int) * n_fds);
    }
  do
    n = sendmsg (sock, &mh, flags | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return nsfd_make_error (err, errno, "sendmsg on fd %d", sock);
  if ((size_t) n != len)
    return nsfd_make_error (err, EPROTO, "short send (%zd of %zu bytes)", n, len);
  return 0;
}

static void
close_all (int *fds, size_t *n)
{
  for (size_t k = 0; k < *n; k++)
    (void) close (fds[k]);
  *n = 0;
}

/* Takes every SCM_RIGHTS fd of a received message, the ones beyond max
 * closed at once; anything else in the control data is refused (the fds
 * are still taken so that they get closed). */
static int
collect_fds (struct msghdr *mh, int *fds, size_t max, size_t *n, nsfd_error_t *err)
{
  int r = 0;

  for (struct cmsghdr *c = CMSG_FIRSTHDR (mh); c; c = CMSG_NXTHDR (mh, c))
    {
      size_t count;

      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        {
          if (r == 0)
            r = nsfd_make_error (err, EBADMSG, "unexpected control message (level %d, type %d)",
                                 c->cmsg_level, c->cmsg_type);
          continue;
        }
      count = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
      for (size_t k = 0; k < count; k++)
        {
          int fd;
          memcpy (&fd, CMSG_DATA (c) + k * sizeof (int), sizeof (int));
          if (*n < max)
            fds[(*n)++] = fd;
          else
            {
              (void) close (fd);
              if (r == 0)
                r = nsfd_make_error (err, EBADMSG, "more than %zu fds received", max);
            }
        }
    }
  return r;
}

int
nsfd_scm_recv (int sock, void *buf, size_t cap, size_t *len, int *fds, size_t max_fds, size_t *n_fds,
               int flags, nsfd_error_t *err)
{
  union scm_control control;
  struct iovec iov = { .iov_base = buf, .iov_len = cap };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
  ssize_t n;
  int r;

  *len = 0;
  *n_fds = 0;
  if (buf == NULL || cap == 0 || max_fds > NSFD_SCM_MAX_FDS || (max_fds > 0 && fds == NULL))
    return nsfd_make_error (err, EINVAL, "receiving into %zu bytes with room for %zu fds", cap, max_fds);
  memset (&control, 0, sizeof (control));
  mh.msg_control = control.buf;
  /* Room for max_fds: the kernel cuts (MSG_CTRUNC) and closes the rest. */
  mh.msg_controllen = max_fds > 0 ? CMSG_SPACE (sizeof (int) * max_fds) : 0;
  if (mh.msg_controllen == 0)
    mh.msg_control = NULL;
  do
    n = recvmsg (sock, &mh, flags | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return nsfd_make_error (err, errno, "recvmsg on fd %d", sock);

  r = collect_fds (&mh, fds, max_fds, n_fds, err);
  if (r == 0 && (mh.msg_flags & MSG_CTRUNC))
    r = nsfd_make_error (err, EBADMSG, "control data truncated (too many fds)");
  if (r == 0 && (mh.msg_flags & MSG_TRUNC))
    r = nsfd_make_error (err, EMSGSIZE, "message larger than %zu bytes", cap);
  if (r < 0)
    {
      close_all (fds, n_fds);
      return r;
    }
  *len = (size_t) n;
  return 0;
}

int
nsfd_scm_drain (int sock)
{
  char data[4096];
  int fds[NSFD_SCM_MAX_FDS];
  int drained = 0;

  for (int i = 0; i < NSFD_SCM_DRAIN_MAX; i++)
    {
      size_t len, n_fds;
      /* Without err the return is -errno.  A refused message (EBADMSG,
       * EMSGSIZE) was consumed and its fds closed: it counts.  Any other
       * error (EAGAIN: nothing left) or the end of the stream stops. */
      int r = nsfd_scm_recv (sock, data, sizeof (data), &len, fds, NSFD_SCM_MAX_FDS, &n_fds, MSG_DONTWAIT, NULL);
      if (r < 0 && r != -EBADMSG && r != -EMSGSIZE)
        break;
      close_all (fds, &n_fds);
      if (r == 0 && len == 0)
        break;
      drained++;
    }
  return drained;
}
