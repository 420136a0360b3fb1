/* Passing fds over unix sockets (SCM_RIGHTS), for every protocol that does:
 * the v1 handshake, the legacy protocol and the mounter's clean-up.  Control
 * buffers are bounded, received fds are always close-on-exec, and on any
 * error every fd that arrived is closed. */
#pragma once

#include <stddef.h>

#include "error.h"

/* The most fds one message may carry either way. */
#define NSFD_SCM_MAX_FDS 16

/* sendmsg of len bytes of data (len >= 1) with n_fds fds (at most
 * NSFD_SCM_MAX_FDS; 0 sends none) as one SCM_RIGHTS message.  flags are
 * sendmsg's (MSG_NOSIGNAL is always added); EINTR is retried.  0 when all
 * of data went out; a short send is EPROTO. */
int nsfd_scm_send (int sock, const void *data, size_t len, const int *fds, size_t n_fds, int flags,
                   nsfd_error_t *err);

/* recvmsg of one message into buf (cap >= 1 bytes), with room for max_fds
 * fds (at most NSFD_SCM_MAX_FDS; what fits in the control buffer's padding
 * counts too).  flags are recvmsg's (MSG_CMSG_CLOEXEC is always added);
 * EINTR is retried.  On success *len holds the bytes (0: end of stream) and
 * fds[0 .. *n_fds) the fds, owned by the caller.  Refused, with every fd
 * closed and *n_fds 0: control data other than SCM_RIGHTS (EBADMSG), more
 * fds than max_fds (EBADMSG, "more than N fds received"), control data cut
 * by the kernel (EBADMSG, MSG_CTRUNC), data longer than cap (EMSGSIZE,
 * MSG_TRUNC: seqpacket and datagram sockets only). */
int nsfd_scm_recv (int sock, void *buf, size_t cap, size_t *len, int *fds, size_t max_fds, size_t *n_fds,
                   int flags, nsfd_error_t *err);

/* Discards the messages queued on sock without waiting (at most
 * NSFD_SCM_DRAIN_MAX of them), closing every fd they carry.  Returns how
 * many it discarded.  The socket stays open. */
#define NSFD_SCM_DRAIN_MAX 8
int nsfd_scm_drain (int sock);
