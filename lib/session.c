#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer.h"
#include "log.h"
#include "mountpoints.h"
#include "rundir.h"

/* How long a mounter still waiting gets to go after SIGTERM. */
#define MOUNTER_STOP_MS 2000

static void __attribute__ ((format (printf, 3, 4)))
report (const struct nsfd_session *s, enum nsfd_log_level level, const char *fmt, ...)
{
  char msg[2048];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof (msg), fmt, ap);
  va_end (ap);
  if (s->report)
    s->report (level, s->id, msg);
  else
    nsfd_log (NSFD_LOG_DEBUG, s->id, "%s", msg);
}

int
nsfd_session_init (struct nsfd_session *s, const char *mode, const char *config_path, nsfd_error_t *err)
{
  memset (s, 0, sizeof (*s));
  s->mode = mode;
  nsfd_plan_init (&s->plan);
  nsfd_config_defaults (&s->cfg);
  if (nsfd_config_load (config_path, config_path != NULL, &s->cfg, err) < 0)
    {
      /* Without the admin's choice of sinks, an error must still be seen. */
      nsfd_log_set_sinks (NSFD_LOG_SINK_STDERR | NSFD_LOG_SINK_SYSLOG);
      return nsfd_error_wrap (err, "nsfdsuds config");
    }
  nsfd_log_set_level ((enum nsfd_log_level) s->cfg.log_level);
  nsfd_log_set_sinks (s->cfg.log_sinks);
  return 0;
}

void
nsfd_session_free (struct nsfd_session *s)
{
  nsfd_plan_free (&s->plan);
  nsfd_request_free (&s->req);
  nsfd_config_free (&s->cfg);
  free (s->mount_points);
  s->mount_points = NULL;
}

int
nsfd_session_decide (struct nsfd_session *s, const char *id, const struct nsfd_annotations *a, nsfd_error_t *err)
{
  s->id = id;
  if (!nsfd_policy_maybe_activated (a))
    return 0;
  if (nsfd_policy_parse (a, &s->req, err) < 0)
    return -1;
  if (!s->req.activated)
    return 0;
  if (nsfd_policy_check_container_id (id, err) < 0)
    return -1;
  return 1;
}

int
nsfd_session_resolve (struct nsfd_session *s, const char *bundle, nsfd_error_t *err)
{
  return nsfd_plan_resolve (&s->cfg, s->id, bundle, &s->req, &s->plan, err);
}

int
nsfd_session_resolve_with (struct nsfd_session *s, const char *bundle, struct nsfd_oci_config *oci,
                           nsfd_error_t *err)
{
  return nsfd_plan_resolve_with (&s->cfg, s->id, bundle, &s->req, oci, &s->plan, err);
}

int
nsfd_session_open_layer (struct nsfd_session *s, nsfd_error_t *err)
{
  if (nsfd_plan_open_layer (&s->plan, &s->cfg, err) < 0)
    return -1;
  if (s->plan.lower_changed)
    report (s, NSFD_LOG_WARNING, "the image under layer %s changed; now %s (accepted)", s->plan.layer.path,
            s->plan.layer.lower_id ? s->plan.layer.lower_id : "?");
  return 0;
}

int
nsfd_session_acquire (struct nsfd_session *s, pid_t pid, nsfd_error_t *err)
{
  if (nsfd_layer_acquire (&s->plan.layer, s->id, pid, s->mode, err) < 0)
    return -1;
  s->acquired = true;
  return 0;
}

int
nsfd_session_update_pid (struct nsfd_session *s, pid_t pid, nsfd_error_t *err)
{
  return nsfd_layer_update_pid (&s->plan.layer, s->id, pid, err);
}

int
nsfd_session_rundir_create (struct nsfd_session *s, nsfd_error_t *err)
{
  int fd = nsfd_rundir_create (s->cfg.run_dir, s->id, err);
  if (fd >= 0)
    s->rundir_made = true;
  return fd;
}

int
nsfd_session_rundir_path (const struct nsfd_session *s, const char *name, char *buf, size_t cap, nsfd_error_t *err)
{
  return nsfd_rundir_path (s->cfg.run_dir, s->id, name, buf, cap, err);
}

int
nsfd_session_overlay_spec (struct nsfd_session *s, const char *staging, const char *stubs_dir,
                           struct nsfd_overlay_spec *spec, nsfd_error_t *err)
{
  const struct nsfd_plan *p = &s->plan;
  size_t n_keep = 0, n_mps = 0;

  memset (spec, 0, sizeof (*spec));
  spec->rootfs = p->rootfs;
  spec->lower = p->lower_path;
  spec->lower_fd = p->lower_fd;
  spec->upper = p->upper_path;
  spec->upper_fd = p->layer.upper_fd;
  spec->work = p->work_path;
  spec->work_fd = p->layer.work_fd;
  spec->staging = staging;
  spec->stubs_dir = stubs_dir;
  if (staging != NULL)
    {
      /* Hook mode: the runtime's mounts are in place; the persistent volume
       * (unless asked) and the base volume stay behind in the old root. */
      if (!p->req.keep_volume_visible)
        s->keep_out[n_keep++] = p->persist_target;
      if (p->lower_target)
        s->keep_out[n_keep++] = p->lower_target;
      spec->keep_out = s->keep_out;
      spec->n_keep_out = n_keep;
      return 0;
    }
  /* Wrapper: nothing is mounted yet; the stub layer must provide every
   * mount point config.json names that the lower lacks. */
  free (s->mount_points);
  s->mount_points = NULL;
  if (nsfd_mount_points_from_config (&p->oci, &s->mount_points, &n_mps, err) < 0)
    return -1;
  spec->mount_points = s->mount_points;
  spec->n_mount_points = n_mps;
  return 0;
}

void
nsfd_session_release (struct nsfd_session *s)
{
  cleanup_error nsfd_error_t err = NULL;
  if (s->acquired && nsfd_layer_release (s->plan.layer.dir_fd, s->id, &err) < 0)
    nsfd_log (NSFD_LOG_DEBUG, s->id, "releasing layer %s: %s", s->plan.layer.path, nsfd_error_text (err));
  s->acquired = false;
  nsfd_error_free (&err);
  if (s->rundir_made && nsfd_rundir_remove (s->cfg.run_dir, s->id, &err) < 0)
    nsfd_log (NSFD_LOG_DEBUG, s->id, "removing the runtime directory: %s", nsfd_error_text (err));
  s->rundir_made = false;
}

/* A mounter still waiting for a container that will never come: SIGTERM,
 * then SIGKILL if it has not gone within MOUNTER_STOP_MS.  The pidfd pins the
 * process, so a pid reused meanwhile is never signalled; the wait is an fd
 * event, not a poll loop. */
static void
stop_mounter (const struct nsfd_session *s, const struct nsfd_record *rec)
{
  cleanup_close int pidfd = -1;
  struct pollfd p;

  if (rec->mounter_pid <= 1)
    return;
  pidfd = (int) syscall (SYS_pidfd_open, rec->mounter_pid, 0);
  /* The start time is checked after the pidfd is taken: then the pidfd
   * names the recorded process, not a successor with its pid. */
  if (pidfd < 0 || !nsfd_proc_is (rec->mounter_pid, rec->mounter_start))
    return;
  report (s, NSFD_LOG_INFO, "stopping mounter %d that is still waiting", (int) rec->mounter_pid);
  if (syscall (SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0) < 0)
    return;
  p.fd = pidfd;
  p.events = POLLIN;
  if (poll (&p, 1, MOUNTER_STOP_MS) <= 0)
    (void) syscall (SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

int
nsfd_session_end (struct nsfd_session *s, nsfd_error_t *err)
{
  cleanup_close int idfd = -1;
  struct nsfd_record rec;
  const char *id = s->id;

  idfd = nsfd_rundir_open (s->cfg.run_dir, id, err);
  if (idfd < 0)
    {
      if ((*err)->status != ENOENT)
        return -1;
      nsfd_error_free (err);
      return 0;
    }
  if (nsfd_record_read (idfd, &rec, err) == 0)
    {
      stop_mounter (s, &rec);
      if (rec.layer_path[0] == '/')
        {
          cleanup_close int lfd = nsfd_open_checked (rec.layer_path, O_RDONLY | O_DIRECTORY, -1, err);
          if (lfd < 0 || nsfd_layer_release (lfd, id, err) < 0)
            {
              report (s, NSFD_LOG_WARNING, "releasing layer %s: %s", rec.layer_path, nsfd_error_text (*err));
              nsfd_error_free (err);
            }
        }
    }
  else
    nsfd_error_free (err);
  if (nsfd_rundir_remove (s->cfg.run_dir, id, err) < 0)
    return nsfd_error_wrap (err, "removing the runtime directory");
  return 0;
}

bool
nsfd_session_set_up_by_wrapper (const struct nsfd_config *cfg, const char *id)
{
  cleanup_close int idfd = nsfd_rundir_open (cfg->run_dir, id, NULL);
  struct nsfd_record rec;
  return idfd >= 0 && nsfd_record_read (idfd, &rec, NULL) == 0 && rec.by_wrapper;
}
