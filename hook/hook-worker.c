/* The mount worker: a child of the mounter that joins the container's mount
 * namespace, builds the persistent root there and exits.  The mounter itself
 * never changes namespace; the worker's errno and message come back whole,
 * bounded by the handshake timeout (lib/subprocess.c). */
#include <errno.h>
#include <sched.h>

#include "fault.h"
#include "hook.h"
#include "log.h"
#include "overlay.h"
#include "rundir.h"
#include "subprocess.h"

struct work
{
  struct hook_ctx *ctx;
  int mnt_fd;
  char staging[4096], stubs[4096];
};

static int
assemble_in_namespace (void *arg, nsfd_error_t *err)
{
  struct work *w = arg;
  struct nsfd_session *s = &w->ctx->session;
  struct nsfd_overlay_spec spec;

  /* With the image as the lower every mount point exists (the runtime made
   * them); a base volume may lack them. */
  if (nsfd_session_overlay_spec (s, w->staging, s->plan.lower_path ? w->stubs : NULL, &spec, err) < 0)
    return -1;
  nsfd_log_step (s->id, "worker: started");
  if (setns (w->mnt_fd, CLONE_NEWNS) < 0)
    return nsfd_make_error (err, errno, "entering the container's mount namespace");
  NSFD_FAULT ("worker-after-setns");
  spec.reopen_layers = true;
  return nsfd_overlay_assemble (&spec, err);
}

int
hook_worker_assemble (struct hook_ctx *ctx, int mnt_fd, pid_t *unreaped, nsfd_error_t *err)
{
  struct work w = { .ctx = ctx, .mnt_fd = mnt_fd };

  if (nsfd_session_rundir_path (&ctx->session, NSFD_RUNDIR_STAGING, w.staging, sizeof (w.staging), err) < 0
      || nsfd_session_rundir_path (&ctx->session, NSFD_RUNDIR_STUBS, w.stubs, sizeof (w.stubs), err) < 0)
    return -1;
  return nsfd_run_in_child_unreaped (assemble_in_namespace, &w, ctx->session.cfg.handshake_timeout_ms,
                                     "building the persistent root", unreaped, err);
}
