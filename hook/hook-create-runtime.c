/* createRuntime, host side: everything that needs host privilege and host
 * paths is prepared here (volume checks, the layer, the exclusive-use record,
 * the socket); then the mounter waits detached and the hook returns. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
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
#include "rundir.h"

static void
kill_and_reap (pid_t child)
{
  kill (child, SIGKILL);
  (void) waitpid (child, NULL, 0);
}

/* The runtime reads a hook's stdout and stderr until every copy of them is
 * closed, so the mounter is forked with /dev/null on its stdio: it never holds
 * the runtime's pipes and the hook can exit at once, without waiting for the
 * child to be scheduled and let go of them. */
static pid_t
fork_without_stdio (nsfd_error_t *err)
{
  cleanup_close int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  int saved[3];
  pid_t child;
  int e;

  if (devnull >= 0 && devnull < 3)
    {
      /* One of 0-2 was closed: keep /dev/null out of the way of the loop below. */
      int high = fcntl (devnull, F_DUPFD_CLOEXEC, 3);
      close (devnull);
      devnull = high;
    }
  if (devnull < 0)
    return nsfd_make_error (err, errno, "opening /dev/null");
  for (int i = 0; i < 3; i++)
    {
      saved[i] = fcntl (i, F_DUPFD_CLOEXEC, 3);
      if (saved[i] < 0 && errno != EBADF) /* EBADF: it was closed, and is closed again after */
        {
          e = errno;
          while (i-- > 0)
            if (saved[i] >= 0)
              {
                (void) dup2 (saved[i], i);
                close (saved[i]);
              }
            else
              close (i);
          return nsfd_make_error (err, e, "saving the hook's stdio around the fork of the mounter");
        }
      (void) dup2 (devnull, i);
    }
  child = fork ();
  e = errno;
  for (int i = 0; i < 3; i++)
    {
      if (child == 0)
        {
          if (saved[i] >= 0)
            close (saved[i]);
          continue;
        }
      if (saved[i] >= 0)
        {
          (void) dup2 (saved[i], i);
          close (saved[i]);
        }
      else
        close (i);
    }
  if (child < 0)
    return nsfd_make_error (err, e, "fork of the mounter");
  return child;
}

/* Forks the mounter, which takes the listening socket and the pidfd. */
static pid_t
start_mounter (struct hook_ctx *ctx, int *listen_fd, int *pidfd, nsfd_error_t *err)
{
  pid_t child = fork_without_stdio (err);

  if (child < 0)
    return -1;
  if (child == 0)
    hook_mounter_run (ctx, nsfd_take_fd (listen_fd), nsfd_take_fd (pidfd));
  nsfd_closep (listen_fd);
  return child;
}

/* The socket the agent connects to, owned by the container's root. */
static int
listen_socket (struct hook_ctx *ctx, nsfd_error_t *err)
{
  const struct nsfd_plan *plan = &ctx->session.plan;
  char path[4096];

  if (nsfd_session_rundir_path (&ctx->session, NSFD_RUNDIR_SOCKET, path, sizeof (path), err) < 0)
    return -1;
  return nsfd_hs_listen (path, 0600, plan->root_uid, plan->root_gid, err);
}

/* runc runs the createRuntime hooks of a restore too (CRIU's setup-namespaces
 * step, runc 1.3.6), with CRIU's restorer as the container's "init"; no
 * createContainer follows, so hook mode cannot put the layer under the
 * restored processes.  Told by the process's executable. */
static bool
is_criu_restore (pid_t pid)
{
  char link[64], exe[4096];
  ssize_t n;
  const char *base;

  snprintf (link, sizeof (link), "/proc/%d/exe", (int) pid);
  n = readlink (link, exe, sizeof (exe) - 1);
  if (n <= 0)
    return false;
  exe[n] = '\0';
  base = strrchr (exe, '/');
  base = base ? base + 1 : exe;
  return strcmp (base, "criu") == 0 || strncmp (base, "criu ", 5) == 0;
}

int
hook_create_runtime (struct hook_ctx *ctx, nsfd_error_t *err)
{
  struct nsfd_session *s = &ctx->session;
  cleanup_close int pidfd = -1;
  cleanup_close int idfd = -1;
  cleanup_close int listen_fd = -1;
  struct nsfd_record rec = { 0 };
  pid_t child;

  if (ctx->state.pid <= 0)
    return nsfd_make_error (err, EINVAL, "the OCI state has no pid: register nsfdsuds-hook at createRuntime "
                            "(where the runtime reports the container's host pid)");
  if (is_criu_restore (ctx->state.pid))
    return nsfd_make_error (err, EOPNOTSUPP,
                            "this is a restore (CRIU): in hook mode the restored processes would run on the image "
                            "root, without their persistent layer, so nsfdsuds refuses. Restore through the "
                            "runtime wrapper nsfdsuds-runtime (docs/checkpoint.md)");
  if (nsfd_session_resolve (s, ctx->state.bundle, err) < 0)
    return -1;
  nsfd_log_step (ctx->state.id, "plan");
  /* The pidfd pins the container's init: the namespaces we are later handed
   * are checked against it, never looked up by a pid that may be reused. */
  pidfd = (int) syscall (SYS_pidfd_open, ctx->state.pid, 0);
  if (pidfd < 0)
    return nsfd_make_error (err, errno, "pidfd_open of the container's init (pid %d)", (int) ctx->state.pid);
  if (nsfd_session_open_layer (s, err) < 0)
    return -1;
  nsfd_log_step (ctx->state.id, "layer opened, fingerprint checked");
  if (nsfd_session_acquire (s, ctx->state.pid, err) < 0)
    return -1;
  nsfd_log_step (ctx->state.id, "layer acquired");
  NSFD_FAULT ("runtime-after-acquire");

  idfd = nsfd_session_rundir_create (s, err);
  if (idfd < 0)
    goto fail;
  NSFD_FAULT ("runtime-after-rundir");
  listen_fd = listen_socket (ctx, err);
  if (listen_fd < 0)
    goto fail;
  nsfd_log_step (ctx->state.id, "runtime directory and socket");
  child = start_mounter (ctx, &listen_fd, &pidfd, err);
  if (child < 0)
    goto fail;
  nsfd_log_step (ctx->state.id, "mounter forked");
  NSFD_FAULT ("runtime-after-fork");

  snprintf (rec.layer_path, sizeof (rec.layer_path), "%s", s->plan.layer.path);
  rec.mounter_pid = child;
  (void) nsfd_proc_start_time (child, &rec.mounter_start);
  /* Lets a later create of this id tell a failed start's leftovers from a
   * container that runs (nsfd_rundir_create). */
  if (nsfd_proc_start_time (ctx->state.pid, &rec.container_start) == 0)
    rec.container_pid = ctx->state.pid;
  if (nsfd_record_write (idfd, &rec, err) < 0)
    {
      kill_and_reap (child);
      goto fail;
    }
  nsfd_log (NSFD_LOG_DEBUG, ctx->state.id, "mounter %d waiting (layer %s)", (int) child, s->plan.layer.path);
  return 0;

fail:
  nsfd_session_release (s);
  return -1;
}
