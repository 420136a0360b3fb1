/* Entry point: one config read decides; `create`/`run` (and `restore`) of an
 * activated container gets its persistent root, `delete` of one we set up
 * releases it, `checkpoint` of one records its layer, everything else is the
 * real runtime exec'd unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fault.h"
#include "log.h"
#include "rundir.h"
#include "runtime.h"

static void
report (enum nsfd_log_level level, const char *id, const char *msg)
{
  nsfd_log (level, id, "%s", msg);
}

/* delete ID: only containers we set up have a runtime directory; one stat
 * decides.  After the runtime's delete succeeded, the layer is free.  When
 * it failed because the runtime no longer has the container (a checkpoint
 * removed it and we were killed before cleaning up), our leftovers go and the
 * delete succeeds: nothing of the container is left. */
static int
wrapper_delete (struct nsfd_session *s, const struct nsfd_runtime_args *a, char **argv)
{
  cleanup_error nsfd_error_t err = NULL;
  char p[4096];
  struct stat st;
  int status;

  if (nsfd_policy_check_container_id (a->id, NULL) < 0
      || nsfd_rundir_path (s->cfg.run_dir, a->id, NULL, p, sizeof (p), NULL) < 0 || lstat (p, &st) < 0)
    runtime_exec (runtime_real (&s->cfg), argv);
  status = runtime_run (runtime_real (&s->cfg), argv);
  if (status != 0)
    return runtime_end_if_gone (s, a, "delete") ? 0 : runtime_exit_code (status);
  s->id = a->id;
  if (nsfd_session_end (s, &err) < 0)
    nsfd_log (NSFD_LOG_WARNING, a->id, "%s", nsfd_error_text (err));
  return 0;
}

/* The bundle of create/run as an absolute path into buf; NULL when it cannot
 * be told (the runtime will say why). */
static const char *
bundle_path (const struct nsfd_runtime_args *a, char buf[PATH_MAX])
{
  const char *b = a->bundle && *a->bundle ? a->bundle : ".";
  return realpath (b, buf);
}

/* 1: activated; 0: not ours (exec the runtime); <0: our annotations are
 * wrong.  A bundle we cannot read is not ours to judge.  *oci keeps the
 * config read here, for the plan. */
static int
decide (struct nsfd_session *s, const struct nsfd_runtime_args *a, const char *bundle,
        struct nsfd_oci_config *oci, nsfd_error_t *err)
{
  cleanup_close int bfd = open (bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);

  if (bfd < 0 || nsfd_oci_config_read_at (bfd, oci, NULL) < 0)
    return 0;
  return nsfd_session_decide (s, a->id, &oci->annotations, err);
}

/* create/run of an activated container: the root, then the real runtime on
 * it; the layer is held until delete (or until a foreground run ends). */
static int
wrapper_create (struct nsfd_session *s, const struct nsfd_runtime_args *a, const char *bundle,
                struct nsfd_oci_config *oci, char **argv, nsfd_error_t *err)
{
  int status;

  nsfd_log_step (a->id, "config and activation");
  if (nsfd_session_resolve_with (s, bundle, oci, err) < 0 || runtime_prepare_root (s, err) < 0)
    return -1;
  nsfd_log_step (a->id, "root prepared");
  runtime_log_success (s, "persistent root on %s (layer %s)", s->plan.rootfs, s->plan.layer.path);
  NSFD_FAULT ("wrapper-before-exec");
  status = runtime_run (runtime_real (&s->cfg), argv);
  NSFD_FAULT ("wrapper-after-runtime");
  nsfd_log_step (a->id, "runtime exited");
  return runtime_after_start (s, a, status, strcmp (a->cmd, "run") != 0 || a->detach);
}

int
main (int argc, char **argv)
{
  struct nsfd_runtime_args a;
  cleanup_session struct nsfd_session s;
  cleanup_error nsfd_error_t err = NULL;
  const char *config = getenv ("NSFDSUDS_CONFIG"), *bundle;
  char bundle_buf[PATH_MAX];
  cleanup_oci_config struct nsfd_oci_config oci = { 0 };
  int r;

  nsfd_log_init ("nsfdsuds-runtime", NSFD_LOG_INFO, NSFD_LOG_SINK_STDERR);
  nsfd_runtime_args_parse (argc, argv, &a);
  if (nsfd_session_init (&s, "runtime", config && *config ? config : NULL, &err) < 0)
    {
      /* Without our config we cannot tell where the runtime is either. */
      nsfd_log (NSFD_LOG_ERROR, a.id, "%s", nsfd_error_text (err));
      return 1;
    }
  s.report = report;
  if (a.cmd && a.id && strcmp (a.cmd, "delete") == 0)
    return wrapper_delete (&s, &a, argv);
  if (a.cmd && a.id && strcmp (a.cmd, "checkpoint") == 0)
    return runtime_checkpoint (&s, &a, argv);
  if (a.cmd == NULL || a.id == NULL
      || (strcmp (a.cmd, "create") != 0 && strcmp (a.cmd, "run") != 0 && strcmp (a.cmd, "restore") != 0)
      || (bundle = bundle_path (&a, bundle_buf)) == NULL)
    runtime_exec (runtime_real (&s.cfg), argv);
  r = decide (&s, &a, bundle, &oci, &err);
  if (r == 0)
    runtime_exec (runtime_real (&s.cfg), argv);
  if (r > 0 && strcmp (a.cmd, "restore") == 0 && (r = runtime_restore (&s, &a, bundle, argv, &err)) >= 0)
    return r;
  if (r > 0 && strcmp (a.cmd, "restore") != 0 && (r = wrapper_create (&s, &a, bundle, &oci, argv, &err)) >= 0)
    return r;
  nsfd_log (NSFD_LOG_ERROR, a.id, "the container cannot get its persistent root: %s", nsfd_error_text (err));
  runtime_log_for_engine (&a, "the container cannot get its persistent root", nsfd_error_text (err));
  return 1;
}
