/* nsfdsuds-runtime: a thin OCI runtime wrapper for runtimes that pivot into a
 * root they opened before any hook runs (runc 1.3.6+, 1.4.3+, 1.5).  For
 * `create`/`run` of an activated container it mounts the persistent overlay
 * on the bundle's rootfs inside a private mount namespace (a slave of the
 * host's) and runs the real runtime there, so the runtime builds the container
 * on the overlay.  Everything else is exec'd unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fault.h"
#include "config.h"
#include "layer.h"
#include "mounttable.h"
#include "log.h"
#include "oci.h"
#include "overlay.h"
#include "plan.h"
#include "policy.h"
#include "rundir.h"
#include "runtime-args.h"

static const char *
real_runtime (const struct nsfd_config *cfg)
{
  const char *env = getenv ("NSFDSUDS_RUNTIME");
  if (env && *env)
    return env;
  return cfg->runtime_path;
}

static __attribute__ ((noreturn)) void
exec_runtime (const char *path, char **argv)
{
  char *saved = argv[0];
  argv[0] = (char *) path;
  execv (path, argv);
  argv[0] = saved;
  fprintf (stderr, "nsfdsuds-runtime: cannot execute the runtime \"%s\": %s "
           "(set runtimePath in the nsfdsuds config)\n", path, strerror (errno));
  _exit (127);
}

/* Runs the real runtime as a child, passing signals on, and returns its
 * wait status. */
static pid_t child_pid;
static void
forward (int sig)
{
  if (child_pid > 0)
    kill (child_pid, sig);
}

static int
run_runtime (const char *path, char **argv)
{
  struct sigaction sa = { .sa_handler = forward };
  int status;
  pid_t r;

  child_pid = fork ();
  if (child_pid < 0)
    return -1;
  if (child_pid == 0)
    {
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      exec_runtime (path, argv);
    }
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  sigaction (SIGQUIT, &sa, NULL);
  do
    r = waitpid (child_pid, &status, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -1;
  return status;
}

static int
exit_code (int status)
{
  if (status < 0)
    return 1;
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 1;
}

static int
read_pid_file (const char *path, pid_t *pid)
{
  char buf[32] = { 0 };
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read (fd, buf, sizeof (buf) - 1) <= 0)
    return -1;
  *pid = (pid_t) atoi (buf);
  return *pid > 0 ? 0 : -1;
}

/* The container's init pid after create: from --pid-file, else
 * /proc/<runtime state>... keep it simple and robust: ask the runtime. */
static pid_t
container_pid (const char *runtime, const struct nsfd_runtime_args *a)
{
  pid_t pid = 0;
  int pfd[2];
  pid_t c;
  char buf[65536];
  size_t len = 0;
  cleanup_free char *root_opt = NULL;

  if (a->pid_file && read_pid_file (a->pid_file, &pid) == 0)
    return pid;
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return 0;
  c = fork ();
  if (c == 0)
    {
      char *argv[6];
      int n = 0;
      dup2 (pfd[1], 1);
      argv[n++] = (char *) runtime;
      if (a->root)
        {
          argv[n++] = (char *) "--root";
          argv[n++] = (char *) a->root;
        }
      argv[n++] = (char *) "state";
      argv[n++] = (char *) a->id;
      argv[n] = NULL;
      execv (runtime, argv);
      _exit (127);
    }
  close (pfd[1]);
  for (;;)
    {
      ssize_t n = read (pfd[0], buf + len, sizeof (buf) - 1 - len);
      if (n <= 0)
        break;
      len += (size_t) n;
      if (len >= sizeof (buf) - 1)
        break;
    }
  close (pfd[0]);
  if (c > 0)
    (void) waitpid (c, NULL, 0);
  buf[len] = '\0';
  {
    struct nsfd_oci_state st = { 0 };
    if (nsfd_oci_state_parse (buf, len, &st, NULL) == 0)
      pid = st.pid;
    nsfd_oci_state_free (&st);
  }
  return pid;
}

/* Mounts an empty tmpfs over the persistent volume (in this namespace only),
 * its root owned by host root, mode 0555.  Its mount is never read-only: in a
 * user-namespaced container the runtime's bind of it has locked flags, and
 * runc 1.3.6+ fails when a requested "rw" would clear a locked read-only flag
 * (it reads them with statfs, so a read-only superblock counts too).  There
 * the container's root, not mapped to host root, cannot write to it anyway;
 * without a user namespace the superblock is made read-only. */
static int
hide_volume (const struct nsfd_plan *plan, nsfd_error_t *err)
{
  cleanup_close int fsfd = -1;
  cleanup_close int mfd = -1;

  fsfd = fsopen ("tmpfs", FSOPEN_CLOEXEC);
  if (fsfd < 0)
    return nsfd_make_error (err, errno, "fsopen(\"tmpfs\")");
  if (fsconfig (fsfd, FSCONFIG_SET_STRING, "source", "nsfdsuds-hidden", 0) < 0
      || fsconfig (fsfd, FSCONFIG_SET_STRING, "size", "4k", 0) < 0
      || fsconfig (fsfd, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0
      || (!plan->oci.has_user_namespace && fsconfig (fsfd, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
      || fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return nsfd_make_error (err, errno, "creating the tmpfs that hides the persistent volume");
  mfd = fsmount (fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  if (mfd < 0)
    return nsfd_make_error (err, errno, "fsmount of the tmpfs that hides the persistent volume");
  /* Onto the directory opened and checked by the plan, not a path again. */
  if (move_mount (mfd, "", plan->volume_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return nsfd_make_error (err, errno, "hiding the persistent volume \"%s\"", plan->volume_path);
  return 0;
}

/* Sets up the persistent root in a new private mount namespace. */
static int
prepare_root (const struct nsfd_config *cfg, struct nsfd_plan *plan, nsfd_error_t *err)
{
  const char *keep_out[1];
  struct nsfd_overlay_spec spec = { 0 };
  cleanup_free struct nsfd_mount_point *mps = NULL;
  char stubs[4096];
  size_t n_mps = 0;

  if (unshare (CLONE_NEWNS) < 0)
    return nsfd_make_error (err, errno, "unshare(CLONE_NEWNS)");
  /* A slave of the host's namespace: host mounts made later still propagate
   * here, nothing made here goes back. */
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return nsfd_make_error (err, errno, "making the private mount namespace a slave of the host's");
  /* Everything is opened after unshare so that the overlay's layers belong to
   * this namespace. */
  if (nsfd_plan_open_layer (plan, cfg, err) < 0)
    return -1;
  if (plan->lower_changed)
    nsfd_log (NSFD_LOG_WARNING, plan->id,
              "the image under layer %s changed; now %s (accepted)", plan->layer.path,
              plan->layer.lower_id ? plan->layer.lower_id : "?");
  if (nsfd_layer_acquire (&plan->layer, plan->id, getpid (), "runtime", err) < 0)
    return -1;
  NSFD_FAULT ("wrapper-after-acquire");

  spec.rootfs = plan->rootfs;
  spec.lower = plan->lower_path;
  spec.upper = plan->upper_path;
  spec.work = plan->work_path;
  spec.upper_check_fd = plan->layer.upper_fd;
  spec.work_check_fd = plan->layer.work_fd;
  spec.lower_check_fd = plan->lower_fd;
  spec.staging = NULL;
  spec.keep_out = keep_out;
  spec.n_keep_out = 0;
  if (nsfd_mount_points_from_config (&plan->oci, &mps, &n_mps, err) < 0)
    goto fail;
  if (nsfd_rundir_path (cfg->run_dir, plan->id, NSFD_RUNDIR_STUBS, stubs, sizeof (stubs), err) < 0)
    goto fail;
  spec.stubs_dir = stubs;
  spec.mount_points = mps;
  spec.n_mount_points = n_mps;
  if (nsfd_overlay_assemble (&spec, err) < 0)
    goto fail;
  NSFD_FAULT ("wrapper-after-overlay");

  if (!plan->req.keep_volume_visible)
    {
      /* The runtime will bind the volume into the container; here it finds an
       * empty read-only directory instead, so nothing writes to the upper
       * directory behind the overlay's back. */
      if (hide_volume (plan, err) < 0)
        goto fail;
    }
  return 0;
fail:
  (void) nsfd_layer_release (plan->layer.dir_fd, plan->id, NULL);
  return -1;
}

static int
write_record (const struct nsfd_config *cfg, const struct nsfd_plan *plan, nsfd_error_t *err)
{
  cleanup_close int idfd = -1;
  struct nsfd_record rec = { 0 };
  char p[4096];

  idfd = nsfd_rundir_open (cfg->run_dir, plan->id, err);
  if (idfd < 0)
    return -1;
  /* Staging and stubs served their purpose (in the private namespace). */
  if (nsfd_rundir_path (cfg->run_dir, plan->id, NSFD_RUNDIR_STAGING, p, sizeof (p), NULL) == 0)
    (void) rmdir (p);
  if (nsfd_rundir_path (cfg->run_dir, plan->id, NSFD_RUNDIR_STUBS, p, sizeof (p), NULL) == 0)
    (void) rmdir (p);
  rec.by_wrapper = true;
  snprintf (rec.layer_path, sizeof (rec.layer_path), "%s", plan->layer.path);
  return nsfd_record_write (idfd, &rec, err);
}

static void
release_from_record (const struct nsfd_config *cfg, const char *id)
{
  cleanup_error nsfd_error_t err = NULL;
  cleanup_close int idfd = nsfd_rundir_open (cfg->run_dir, id, &err);
  struct nsfd_record rec;

  if (idfd < 0)
    return;
  if (nsfd_record_read (idfd, &rec, &err) == 0 && rec.layer_path[0] == '/')
    {
      cleanup_close int lfd = nsfd_open_checked (rec.layer_path, O_RDONLY | O_DIRECTORY, -1, &err);
      if (lfd >= 0)
        (void) nsfd_layer_release (lfd, id, &err);
    }
  (void) nsfd_rundir_remove (cfg->run_dir, id, NULL);
}

/* containerd's runc shim and CRI-O report a failed create with the last
 * error line of the runtime's --log file, not its stderr: append ours there,
 * in the format asked for (logrus json or text), so the reason reaches the
 * user (kubectl describe).  Best effort. */
static void
log_for_engine (const struct nsfd_runtime_args *a, const char *what, const char *msg)
{
  char esc[8192], line[8448], when[32];
  cleanup_close int fd = -1;
  size_t o = 0;
  time_t now = time (NULL);
  struct tm tm;
  int json = a->log_format && strcmp (a->log_format, "json") == 0;
  int n;

  if (a->log == NULL || a->log[0] == '\0')
    return;
  for (const char *s = what; *s && o + 8 < sizeof (esc); s++)
    esc[o++] = *s;
  for (const char *s = ": "; *s && o + 8 < sizeof (esc); s++)
    esc[o++] = *s;
  for (const unsigned char *s = (const unsigned char *) msg; *s && o + 8 < sizeof (esc); s++)
    {
      if (*s == '"' || *s == '\\')
        {
          esc[o++] = '\\';
          esc[o++] = (char) *s;
        }
      else if (*s < 0x20)
        o += (size_t) snprintf (esc + o, sizeof (esc) - o, "\\u%04x", *s);
      else
        esc[o++] = (char) *s;
    }
  esc[o] = '\0';
  gmtime_r (&now, &tm);
  strftime (when, sizeof (when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (json)
    n = snprintf (line, sizeof (line), "{\"level\":\"error\",\"msg\":\"nsfdsuds-runtime: %s\",\"time\":\"%s\"}\n",
                  esc, when);
  else
    n = snprintf (line, sizeof (line), "time=\"%s\" level=error msg=\"nsfdsuds-runtime: %s\"\n", when, esc);
  fd = open (a->log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || n <= 0)
    return;
  (void) !write (fd, line, (size_t) n < sizeof (line) ? (size_t) n : sizeof (line) - 1);
}

static int
load_config (struct nsfd_config *cfg, nsfd_error_t *err)
{
  const char *path = getenv ("NSFDSUDS_CONFIG");
  nsfd_config_defaults (cfg);
  if (nsfd_config_load (path && *path ? path : NULL, path && *path, cfg, err) < 0)
    return -1;
  nsfd_log_set_level ((enum nsfd_log_level) cfg->log_level);
  nsfd_log_set_sinks (cfg->log_sinks);
  return 0;
}

int
main (int argc, char **argv)
{
  struct nsfd_runtime_args a;
  struct nsfd_config cfg = { 0 };
  cleanup_error nsfd_error_t err = NULL;
  struct nsfd_oci_config oci = { 0 };
  struct nsfd_request req = { 0 };
  cleanup_plan struct nsfd_plan plan;
  cleanup_close int bfd = -1;
  char cwd[4096];
  const char *bundle;
  int status, rc;
  struct stat st;

  nsfd_plan_init (&plan);
  nsfd_log_init ("nsfdsuds-runtime", NSFD_LOG_INFO, NSFD_LOG_SINK_STDERR);
  nsfd_runtime_args_parse (argc, argv, &a);

  if (load_config (&cfg, &err) < 0)
    {
      /* Without our config we cannot tell where the runtime is either. */
      nsfd_log (NSFD_LOG_ERROR, a.id, "nsfdsuds config: %s", nsfd_error_text (err));
      return 1;
    }

  if (a.cmd && a.id && strcmp (a.cmd, "delete") == 0)
    {
      char p[4096];
      /* One stat decides: only containers we set up have a runtime directory. */
      if (nsfd_policy_check_container_id (a.id, NULL) < 0
          || nsfd_rundir_path (cfg.run_dir, a.id, NULL, p, sizeof (p), NULL) < 0 || lstat (p, &st) < 0)
        exec_runtime (real_runtime (&cfg), argv);
      status = run_runtime (real_runtime (&cfg), argv);
      if (status == 0)
        release_from_record (&cfg, a.id);
      nsfd_config_free (&cfg);
      return exit_code (status);
    }

  if (a.cmd == NULL || a.id == NULL || (strcmp (a.cmd, "create") != 0 && strcmp (a.cmd, "run") != 0))
    exec_runtime (real_runtime (&cfg), argv);

  bundle = a.bundle;
  if (bundle == NULL || *bundle == '\0')
    bundle = getcwd (cwd, sizeof (cwd));
  if (bundle == NULL)
    exec_runtime (real_runtime (&cfg), argv);
  bfd = open (bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (bfd < 0 || nsfd_oci_config_read_at (bfd, &oci, &err) < 0)
    {
      /* Not ours to judge: the runtime reports a broken bundle itself. */
      nsfd_error_free (&err);
      nsfd_oci_config_free (&oci);
      exec_runtime (real_runtime (&cfg), argv);
    }
  if (!nsfd_policy_maybe_activated (&oci.annotations))
    {
      nsfd_oci_config_free (&oci);
      exec_runtime (real_runtime (&cfg), argv);
    }
  rc = nsfd_policy_parse (&oci.annotations, &req, &err);
  nsfd_oci_config_free (&oci);
  if (rc < 0 || (req.activated && nsfd_policy_check_container_id (a.id, &err) < 0))
    goto fail;
  if (!req.activated)
    {
      nsfd_request_free (&req);
      exec_runtime (real_runtime (&cfg), argv);
    }
  if (bundle[0] != '/')
    {
      if (realpath (bundle, cwd) == NULL)
        {
          nsfd_make_error (&err, errno, "bundle \"%s\"", bundle);
          goto fail;
        }
      bundle = cwd;
    }
  if (nsfd_plan_resolve (&cfg, a.id, bundle, &req, &plan, &err) < 0)
    goto fail;
  {
    int idfd = nsfd_rundir_create (cfg.run_dir, a.id, &err);
    if (idfd < 0)
      goto fail;
    close (idfd);
  }
  if (prepare_root (&cfg, &plan, &err) < 0)
    {
      (void) nsfd_rundir_remove (cfg.run_dir, a.id, NULL);
      goto fail;
    }
  if (write_record (&cfg, &plan, &err) < 0)
    {
      (void) nsfd_layer_release (plan.layer.dir_fd, plan.id, NULL);
      (void) nsfd_rundir_remove (cfg.run_dir, a.id, NULL);
      goto fail;
    }
  nsfd_log (NSFD_LOG_INFO, a.id, "persistent root on %s (layer %s)", plan.rootfs, plan.layer.path);

  NSFD_FAULT ("wrapper-before-exec");
  status = run_runtime (real_runtime (&cfg), argv);
  NSFD_FAULT ("wrapper-after-runtime");
  if (status != 0 || (strcmp (a.cmd, "run") == 0 && !a.detach))
    {
      /* Failed, or a foreground run that has ended: the layer is free. */
      (void) nsfd_layer_release (plan.layer.dir_fd, plan.id, NULL);
      (void) nsfd_rundir_remove (cfg.run_dir, plan.id, NULL);
    }
  else
    {
      pid_t pid = container_pid (real_runtime (&cfg), &a);
      if (pid <= 0 || nsfd_layer_update_pid (&plan.layer, plan.id, pid, &err) < 0)
        {
          nsfd_log (NSFD_LOG_WARNING, a.id, "could not record the container's pid on layer %s: %s",
                    plan.layer.path, err ? nsfd_error_text (err) : "no pid");
          nsfd_error_free (&err);
        }
    }
  nsfd_request_free (&req);
  nsfd_config_free (&cfg);
  return exit_code (status);

fail:
  nsfd_log (NSFD_LOG_ERROR, a.id, "the container cannot get its persistent root: %s", nsfd_error_text (err));
  log_for_engine (&a, "the container cannot get its persistent root", nsfd_error_text (err));
  nsfd_request_free (&req);
  nsfd_config_free (&cfg);
  return 1;
}
