/* The mount worker: a child of the mounter that joins the container's mount
 * namespace, builds the persistent root there and exits.  The mounter itself
 * never changes namespace; the worker's {errno, message} comes back over a
 * pipe, bounded by the handshake timeout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "fault.h"
#include "hook.h"
#include "mounttable.h"
#include "overlay.h"
#include "rundir.h"

struct result
{
  int status;
  char text[2048];
};

static __attribute__ ((noreturn)) void
worker (struct hook_ctx *ctx, int mnt_fd, const char *staging, const char *stubs, int out)
{
  struct nsfd_session *s = &ctx->session;
  nsfd_error_t werr = NULL;
  struct nsfd_overlay_spec spec;
  struct result res = { 0 };

  /* With the image as the lower every mount point exists (the runtime made
   * them); a base volume may lack them. */
  if (nsfd_session_overlay_spec (s, staging, s->plan.lower_path ? stubs : NULL, &spec, &werr) < 0)
    ;
  /* Load what the assembly needs while our root is still the host's. */
  else if (nsfd_mounttable_load (&werr) < 0)
    ;
  else if (setns (mnt_fd, CLONE_NEWNS) < 0)
    nsfd_make_error (&werr, errno, "entering the container's mount namespace");
  else
    {
      NSFD_FAULT ("worker-after-setns");
      spec.reopen_layers = true;
      (void) nsfd_overlay_assemble (&spec, &werr);
    }
  if (werr)
    {
      res.status = werr->status ? werr->status : EIO;
      snprintf (res.text, sizeof (res.text), "%s", nsfd_error_text (werr));
    }
  (void) !write (out, &res, sizeof (res));
  _exit (werr ? 1 : 0);
}

int
hook_worker_assemble (struct hook_ctx *ctx, int mnt_fd, nsfd_error_t *err)
{
  unsigned timeout = ctx->session.cfg.handshake_timeout_ms;
  char staging[4096], stubs[4096];
  cleanup_close int rd = -1;
  struct result res = { 0 };
  struct pollfd p;
  ssize_t n = -1;
  int pfd[2], r;
  pid_t pid;

  if (nsfd_session_rundir_path (&ctx->session, NSFD_RUNDIR_STAGING, staging, sizeof (staging), err) < 0
      || nsfd_session_rundir_path (&ctx->session, NSFD_RUNDIR_STUBS, stubs, sizeof (stubs), err) < 0)
    return -1;
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return nsfd_make_error (err, errno, "pipe");
  rd = pfd[0];
  pid = fork ();
  if (pid < 0)
    {
      close (pfd[1]);
      return nsfd_make_error (err, errno, "fork of the mount worker");
    }
  if (pid == 0)
    worker (ctx, mnt_fd, staging, stubs, pfd[1]);
  close (pfd[1]);
  p.fd = rd;
  p.events = POLLIN;
  r = poll (&p, 1, (int) timeout);
  if (r > 0)
    n = read (rd, &res, sizeof (res));
  if (r <= 0)
    kill (pid, SIGKILL);
  (void) waitpid (pid, NULL, 0);
  if (r <= 0)
    return nsfd_make_error (err, ETIMEDOUT, "building the persistent root took longer than %u ms", timeout);
  if (n != (ssize_t) sizeof (res))
    return nsfd_make_error (err, EIO, "the mount worker died without a result");
  res.text[sizeof (res.text) - 1] = '\0';
  /* The worker's errno, not a generic one: the agent and the log see it. */
  if (res.status != 0)
    return nsfd_error_set (err, res.status, res.text);
  return 0;
}
