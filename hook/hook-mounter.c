/* The mounter: the host-privileged half.  It waits (bounded) for the
 * container's own createContainer hook to hand over the container's
 * namespaces, checks who sent them and that they are the container's, then
 * builds the persistent root inside the container's mount namespace from a
 * forked worker and answers with the result. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "fault.h"
#include "handshake.h"
#include "hook.h"
#include "log.h"
#include "mounttable.h"
#include "overlay.h"
#include "plan.h"
#include "rundir.h"
#include "runtime-detect.h"
#include "scm-rights.h"
#include "subprocess.h"

static volatile sig_atomic_t stop_requested;

static void
on_term (int sig)
{
  (void) sig;
  stop_requested = 1;
}

static void
reply (int sock, int status, const char *text)
{
  struct nsfd_hs_msg m = { .type = NSFD_HS_RESULT, .status = status, .text = (char *) text };
  nsfd_ns_set_init (&m.ns);
  (void) nsfd_hs_send (sock, &m, NULL);
}

static int
check_namespaces (struct hook_ctx *ctx, const struct nsfd_hs_msg *m, int pidfd, nsfd_error_t *err)
{
  const struct nsfd_plan *plan = &ctx->session.plan;
  cleanup_close int init_mnt = -1;
  int same;

  if (m->ns.fd[NSFD_NS_MNT] < 0)
    return nsfd_make_error (err, EINVAL, "no mount namespace was sent");
  if (plan->oci.has_user_namespace && m->ns.fd[NSFD_NS_USER] < 0)
    return nsfd_make_error (err, EINVAL, "the container has a user namespace but none was sent");

  init_mnt = nsfd_ns_open_from_pidfd (pidfd, NSFD_NS_MNT, NULL);
  if (init_mnt < 0)
    {
      /* Kernels before 6.11: read it through /proc, then make sure the pid
       * still names the process the pidfd pins. */
      char path[64];
      snprintf (path, sizeof (path), "/proc/%d/ns/mnt", (int) ctx->state.pid);
      init_mnt = open (path, O_RDONLY | O_CLOEXEC);
      if (init_mnt < 0)
        return nsfd_make_error (err, errno, "opening the mount namespace of the container's init");
      if (syscall (SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
        return nsfd_make_error (err, errno, "the container's init (pid %d) is gone", (int) ctx->state.pid);
    }
  same = nsfd_ns_same (init_mnt, m->ns.fd[NSFD_NS_MNT], err);
  if (same < 0)
    return -1;
  if (!same)
    return nsfd_make_error (err, EPERM, "the mount namespace sent is not the one of container \"%s\"", ctx->state.id);
  return 0;
}

/* Closing a unix socket with the peer's message unread makes the peer's next
 * recv fail with ECONNRESET, and its error wins over our answer still queued
 * for it: a peer that sent before we answered (an agent refused for its uid)
 * would never see why.  Stop further sends, discard what was sent (closing any
 * fds that came with it), then close. */
static void
close_peer (int sock)
{
  (void) shutdown (sock, SHUT_RD);
  (void) nsfd_scm_drain (sock);
  (void) close (sock);
}

/* 1: peer refused, keep waiting; 0: done; -1: failed, container must not start. */
static int
serve_one (struct hook_ctx *ctx, int sock, int pidfd)
{
  const struct nsfd_plan *plan = &ctx->session.plan;
  cleanup_error nsfd_error_t err = NULL;
  struct nsfd_hs_msg m;
  struct ucred cred;
  char what[512];
  cleanup_child pid_t worker = -1;
  int r;

  memset (&m, 0, sizeof (m));
  nsfd_ns_set_init (&m.ns);
  NSFD_FAULT ("mounter-after-accept");
  if (nsfd_hs_peer_cred (sock, &cred, &err) < 0)
    return 1;
  if (cred.uid != plan->root_uid)
    {
      nsfd_log (NSFD_LOG_WARNING, ctx->state.id, "refused a connection from uid %u pid %d: not the container's root (uid %u)",
                (unsigned) cred.uid, (int) cred.pid, (unsigned) plan->root_uid);
      reply (sock, EPERM, "refused: not this container's root user");
      return 1;
    }
  if (nsfd_hs_recv (sock, ctx->session.cfg.handshake_timeout_ms, &m, &err) < 0)
    {
      nsfd_log (NSFD_LOG_WARNING, ctx->state.id, "refused a connection from pid %d: %s", (int) cred.pid,
                nsfd_error_text (err));
      reply (sock, EPROTO, nsfd_error_text (err));
      return 1;
    }
  if (m.type != NSFD_HS_FDS || (m.id != NULL && strcmp (m.id, ctx->state.id) != 0))
    {
      nsfd_log (NSFD_LOG_WARNING, ctx->state.id, "refused a connection from pid %d: wrong message or container id",
                (int) cred.pid);
      reply (sock, EPROTO, "refused: expected this container's namespaces");
      nsfd_hs_msg_free (&m);
      return 1;
    }
  if (check_namespaces (ctx, &m, pidfd, &err) < 0)
    {
      nsfd_log (NSFD_LOG_WARNING, ctx->state.id, "refused a connection from pid %d: %s", (int) cred.pid,
                nsfd_error_text (err));
      reply (sock, EPERM, nsfd_error_text (err));
      nsfd_hs_msg_free (&m);
      return 1;
    }

  nsfd_log_step (ctx->state.id, "mounter: peer and namespaces checked");
  if (nsfd_runtime_pivots_preopened_root (cred.pid, plan->rootfs, what, sizeof (what)))
    {
      nsfd_make_error (&err, ENOTSUP,
                       "this runtime pivots into a rootfs it opened before any hook ran (%s): runc 1.3.6+, "
                       "1.4.3+ and 1.5 ignore a root prepared by a hook, so the container would run on a "
                       "throw-away root. Use the runtime wrapper nsfdsuds-runtime for this runtime "
                       "(docs/runtime-wrapper.md)", what);
      r = -1;
    }
  else
    r = hook_worker_assemble (ctx, m.ns.fd[NSFD_NS_MNT], &worker, &err);
  nsfd_hs_msg_free (&m);
  nsfd_log_step (ctx->state.id, "mounter: worker done");
  if (r < 0)
    {
      nsfd_log (NSFD_LOG_ERROR, ctx->state.id, "persistent root not set up: %s", nsfd_error_text (err));
      reply (sock, err->status ? err->status : EIO, nsfd_error_text (err));
      return -1;
    }
  NSFD_FAULT ("worker-before-reply");
  reply (sock, 0, "ok");
  nsfd_log_step (ctx->state.id, "mounter: answered");
  /* Logged after the answer: the container is waiting for it. */
  nsfd_log (NSFD_LOG_INFO, ctx->state.id, "persistent root set up: layer %s, rootfs %s", plan->layer.path, plan->rootfs);
  return 0;
}

/* Detached from the runtime: own session, stdio on /dev/null since the fork
 * (the system log is where the mounter reports), SIGTERM/SIGINT end the wait. */
static void
detach (void)
{
  struct sigaction sa = { .sa_handler = on_term };

  setsid ();
  /* At debug level the lines also go to stderr, /dev/null now, where a
   * tracer (strace -e trace=write) still sees the step timings. */
  nsfd_log_set_sinks (NSFD_LOG_SINK_SYSLOG | (nsfd_log_get_level () >= NSFD_LOG_DEBUG ? NSFD_LOG_SINK_STDERR : 0));
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
}

/* Waits for the agent until deadline: 1 a connection is pending, 0 keep
 * waiting (a signal), -1 give up (deadline, or the container's init died
 * first: the runtime failed before createContainer and nobody will come). */
static int
wait_for_agent (struct hook_ctx *ctx, int listen_fd, int pidfd, long long deadline)
{
  struct pollfd p[2] = { { .fd = listen_fd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
  long long left = deadline - nsfd_now_ms ();
  int pr;

  if (left <= 0)
    {
      nsfd_log (NSFD_LOG_ERROR, ctx->state.id,
                "the container did not reach createContainer within %u s (is nsfdsuds-hook registered "
                "at createContainer?); giving up and releasing the layer",
                ctx->session.cfg.mounter_lifetime_ms / 1000);
      return -1;
    }
  pr = poll (p, 2, left > INT_MAX ? INT_MAX : (int) left);
  if (pr <= 0)
    return 0; /* signal or timeout: the caller's loop decides */
  if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
    {
      nsfd_log (NSFD_LOG_INFO, ctx->state.id, "the container's init exited before createContainer; giving up");
      return -1;
    }
  return 1;
}

/* The socket and the scratch directories served their purpose; on failure
 * the layer and the runtime directory go too. */
static void
mounter_cleanup (struct hook_ctx *ctx, int result)
{
  static const char *const names[] = { NSFD_RUNDIR_SOCKET, NSFD_RUNDIR_STAGING, NSFD_RUNDIR_STUBS };
  char p[4096];

  for (size_t i = 0; i < NSFD_ARRAY_SIZE (names); i++)
    if (nsfd_session_rundir_path (&ctx->session, names[i], p, sizeof (p), NULL) == 0)
      (void) (i == 0 ? unlink (p) : rmdir (p));
  /* The session was copied at fork with the layer acquired and the
   * runtime directory made. */
  if (result != 0)
    nsfd_session_release (&ctx->session);
}

void
hook_mounter_run (struct hook_ctx *ctx, int listen_fd, int pidfd)
{
  long long deadline = nsfd_now_ms () + ctx->session.cfg.mounter_lifetime_ms;
  int result = -1;

  detach ();
  while (!stop_requested)
    {
      cleanup_error nsfd_error_t err = NULL;
      int sock, r = wait_for_agent (ctx, listen_fd, pidfd, deadline);
      if (r < 0)
        break;
      if (r == 0)
        continue;
      sock = nsfd_hs_accept (listen_fd, 1000, &err);
      if (sock < 0)
        continue;
      nsfd_log_step (ctx->state.id, "mounter: accepted");
      r = serve_one (ctx, sock, pidfd);
      close_peer (sock);
      if (r <= 0)
        {
          result = r;
          break;
        }
    }
  if (stop_requested && result != 0)
    nsfd_log (NSFD_LOG_INFO, ctx->state.id, "mounter stopped before the container was set up");
  close (listen_fd);
  close (pidfd);
  mounter_cleanup (ctx, result);
  _exit (result == 0 ? 0 : 1);
}
