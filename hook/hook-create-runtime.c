/* createRuntime, host side: everything that needs host privilege and host
 * paths is prepared here (volume checks, the layer, the exclusive-use record,
 * the socket); then the mounter waits detached and the hook returns. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "fault.h"
#include "handshake.h"
#include "hook.h"
#include "layer.h"
#include "log.h"
#include "plan.h"
#include "rundir.h"

#define READY_TIMEOUT_MS 5000

static int
pidfd_open_compat (pid_t pid)
{
  return (int) syscall (SYS_pidfd_open, pid, 0);
}

int
hook_create_runtime (struct hook_ctx *ctx, nsfd_error_t *err)
{
  cleanup_plan struct nsfd_plan plan;
  cleanup_close int pidfd = -1;
  cleanup_close int idfd = -1;
  cleanup_close int listen_fd = -1;
  int ready[2] = { -1, -1 };
  char sock_path[4096];
  const char *id = ctx->state.id;
  struct nsfd_record rec = { 0 };
  struct pollfd p;
  char byte = 0;
  pid_t child;

  nsfd_plan_init (&plan);
  if (ctx->state.pid <= 0)
    return nsfd_make_error (err, EINVAL, "the OCI state has no pid: register nsfdsuds-hook at createRuntime "
                            "(where the runtime reports the container's host pid)");
  if (nsfd_plan_resolve (&ctx->cfg, id, ctx->state.bundle, &ctx->req, &plan, err) < 0)
    return -1;
  /* The pidfd pins the container's init: the namespaces we are later handed
   * are checked against it, never looked up by a pid that may be reused. */
  pidfd = pidfd_open_compat (ctx->state.pid);
  if (pidfd < 0)
    return nsfd_make_error (err, errno, "pidfd_open of the container's init (pid %d)", (int) ctx->state.pid);
  if (nsfd_plan_open_layer (&plan, &ctx->cfg, err) < 0)
    return -1;
  if (plan.lower_changed)
    nsfd_log (NSFD_LOG_WARNING, id, "the image under layer %s changed; now %s (accepted)",
              plan.layer.path, plan.layer.lower_id ? plan.layer.lower_id : "?");
  if (nsfd_layer_acquire (&plan.layer, id, ctx->state.pid, "hook", err) < 0)
    return -1;
  NSFD_FAULT ("runtime-after-acquire");

  idfd = nsfd_rundir_create (ctx->cfg.run_dir, id, err);
  if (idfd < 0)
    goto fail_release;
  NSFD_FAULT ("runtime-after-rundir");
  if (nsfd_rundir_path (ctx->cfg.run_dir, id, NSFD_RUNDIR_SOCKET, sock_path, sizeof (sock_path), err) < 0)
    goto fail_remove;
  listen_fd = nsfd_hs_listen (sock_path, 0600, plan.root_uid, plan.root_gid, err);
  if (listen_fd < 0)
    goto fail_remove;
  if (pipe2 (ready, O_CLOEXEC) < 0)
    {
      nsfd_make_error (err, errno, "pipe");
      goto fail_remove;
    }

  child = fork ();
  if (child < 0)
    {
      nsfd_make_error (err, errno, "fork of the mounter");
      goto fail_remove;
    }
  if (child == 0)
    {
      close (ready[0]);
      hook_mounter_run (ctx, &plan, nsfd_take_fd (&listen_fd), nsfd_take_fd (&pidfd), ready[1]);
    }
  close (ready[1]);
  nsfd_closep (&listen_fd);
  NSFD_FAULT ("runtime-after-fork");

  snprintf (rec.layer_path, sizeof (rec.layer_path), "%s", plan.layer.path);
  rec.mounter_pid = child;
  (void) nsfd_proc_start_time (child, &rec.mounter_start);
  if (nsfd_record_write (idfd, &rec, err) < 0)
    {
      kill (child, SIGKILL);
      (void) waitpid (child, NULL, 0);
      close (ready[0]);
      goto fail_remove;
    }

  /* Return only once the mounter has let go of our stdout/stderr, so the
   * runtime is not left waiting on them. */
  p.fd = ready[0];
  p.events = POLLIN;
  if (poll (&p, 1, READY_TIMEOUT_MS) <= 0 || read (ready[0], &byte, 1) != 1 || byte != 'R')
    {
      close (ready[0]);
      kill (child, SIGKILL);
      (void) waitpid (child, NULL, 0);
      nsfd_make_error (err, EIO, "the mounter for container \"%s\" did not start", id);
      goto fail_remove;
    }
  close (ready[0]);
  nsfd_log (NSFD_LOG_DEBUG, id, "mounter %d waiting on %s (layer %s)", (int) child, sock_path, plan.layer.path);
  return 0;

fail_remove:
  (void) nsfd_rundir_remove (ctx->cfg.run_dir, id, NULL);
fail_release:
  (void) nsfd_layer_release (plan.layer.dir_fd, id, NULL);
  return -1;
}
