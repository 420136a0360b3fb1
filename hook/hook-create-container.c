/* createContainer, container side: we run inside the container's namespaces
 * before pivot_root.  Hand our namespace fds to the mounter waiting for this
 * container and wait for its verdict; a failure stops the container. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "fault.h"
#include "handshake.h"
#include "hook.h"
#include "log.h"
#include "rundir.h"

int
hook_create_container (struct hook_ctx *ctx, nsfd_error_t *err)
{
  cleanup_close int sock = -1;
  struct nsfd_hs_msg out, in;
  char path[4096];
  const char *id = ctx->state.id;
  uint32_t all = (1u << NSFD_NS_COUNT) - 1;
  int r;

  memset (&out, 0, sizeof (out));
  memset (&in, 0, sizeof (in));
  nsfd_ns_set_init (&out.ns);
  nsfd_ns_set_init (&in.ns);

  if (nsfd_session_rundir_path (&ctx->session, NSFD_RUNDIR_SOCKET, path, sizeof (path), err) < 0)
    return -1;
  sock = nsfd_hs_connect (path, err);
  if (sock < 0)
    return nsfd_error_wrap (err, "no mounter is waiting for this container (is nsfdsuds-hook also "
                            "registered at createRuntime, and did it succeed?)");
  nsfd_log_step (id, "agent: connected");
  if (nsfd_ns_open_self (all, &out.ns, err) < 0)
    return nsfd_error_wrap (err, "opening this container's namespaces");
  out.type = NSFD_HS_FDS;
  out.id = (char *) id;
  r = nsfd_hs_send (sock, &out, err);
  nsfd_ns_set_close (&out.ns);
  if (r < 0)
    return nsfd_error_wrap (err, "sending the container's namespaces to the mounter");
  NSFD_FAULT ("agent-after-send");
  nsfd_log_step (id, "agent: namespaces sent");
  /* The mounter bounds its own work by the same timeout; allow for both. */
  if (nsfd_hs_recv (sock, ctx->session.cfg.handshake_timeout_ms * 2 + 1000, &in, err) < 0)
    return nsfd_error_wrap (err, "waiting for the mounter's answer");
  if (in.type != NSFD_HS_RESULT)
    {
      nsfd_hs_msg_free (&in);
      return nsfd_make_error (err, EPROTO, "the mounter answered with an unexpected message");
    }
  if (in.status != 0)
    {
      /* The mounter's errno and message, as it sent them. */
      r = nsfd_error_set (err, in.status > 0 ? in.status : 0, in.text ? in.text : "failed");
      nsfd_hs_msg_free (&in);
      return r;
    }
  nsfd_hs_msg_free (&in);
  nsfd_log (NSFD_LOG_DEBUG, id, "persistent root in place");
  return 0;
}
