/* The wrapper's part of create: a private mount namespace in which the
 * persistent overlay is the rootfs before the real runtime opens it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cleanup.h"
#include "fault.h"
#include "overlay.h"
#include "rundir.h"
#include "runtime.h"

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

/* A slave of the host's namespace: host mounts made later still propagate
 * here, nothing made here goes back. */
static int
enter_private_namespace (nsfd_error_t *err)
{
  if (unshare (CLONE_NEWNS) < 0)
    return nsfd_make_error (err, errno, "unshare(CLONE_NEWNS)");
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return nsfd_make_error (err, errno, "making the private mount namespace a slave of the host's");
  return 0;
}

static int
write_record (struct nsfd_session *s, nsfd_error_t *err)
{
  cleanup_close int idfd = -1;
  struct nsfd_record rec = { 0 };
  char p[4096];

  idfd = nsfd_rundir_open (s->cfg.run_dir, s->id, err);
  if (idfd < 0)
    return -1;
  /* Staging and stubs served their purpose (in the private namespace). */
  if (nsfd_session_rundir_path (s, NSFD_RUNDIR_STAGING, p, sizeof (p), NULL) == 0)
    (void) rmdir (p);
  if (nsfd_session_rundir_path (s, NSFD_RUNDIR_STUBS, p, sizeof (p), NULL) == 0)
    (void) rmdir (p);
  rec.by_wrapper = true;
  snprintf (rec.layer_path, sizeof (rec.layer_path), "%s", s->plan.layer.path);
  return nsfd_record_write (idfd, &rec, err);
}

int
runtime_prepare_root (struct nsfd_session *s, nsfd_error_t *err)
{
  return runtime_prepare_root_checked (s, NULL, NULL, err);
}

int
runtime_prepare_root_checked (struct nsfd_session *s, runtime_layer_check check, void *ctx, nsfd_error_t *err)
{
  struct nsfd_overlay_spec spec;
  cleanup_close int idfd = -1;
  char stubs[4096];

  idfd = nsfd_session_rundir_create (s, err);
  if (idfd < 0)
    return -1;
  /* Everything is opened after unshare so that the overlay's layers belong
   * to this namespace and their fds can be used as they are. */
  if (enter_private_namespace (err) < 0 || nsfd_session_open_layer (s, err) < 0
      || (check && check (s, ctx, err) < 0) || nsfd_session_acquire (s, getpid (), err) < 0)
    goto fail;
  nsfd_log_step (s->id, "namespace, layer opened and acquired");
  NSFD_FAULT ("wrapper-after-acquire");
  if (nsfd_session_rundir_path (s, NSFD_RUNDIR_STUBS, stubs, sizeof (stubs), err) < 0
      || nsfd_session_overlay_spec (s, NULL, stubs, &spec, err) < 0 || nsfd_overlay_assemble (&spec, err) < 0)
    goto fail;
  nsfd_log_step (s->id, "overlay mounted");
  NSFD_FAULT ("wrapper-after-overlay");
  /* The runtime will bind the volume into the container; here it finds an
   * empty read-only directory instead, so nothing writes to the upper
   * directory behind the overlay's back. */
  if ((!s->plan.req.keep_volume_visible && hide_volume (&s->plan, err) < 0) || write_record (s, err) < 0)
    goto fail;
  return 0;
fail:
  nsfd_session_release (s);
  return -1;
}

int
runtime_after_start (struct nsfd_session *s, const struct nsfd_runtime_args *a, int status, bool running)
{
  cleanup_error nsfd_error_t err = NULL;
  pid_t pid;

  if (status != 0 || !running)
    {
      nsfd_session_release (s);
      return runtime_exit_code (status);
    }
  pid = runtime_container_pid (runtime_real (&s->cfg), a);
  if (pid <= 0 || nsfd_session_update_pid (s, pid, &err) < 0)
    {
      nsfd_log (NSFD_LOG_WARNING, a->id, "could not record the container's pid on layer %s: %s", s->plan.layer.path,
                err ? nsfd_error_text (err) : "no pid");
      return 0;
    }
  /* In the runtime directory too: a create of this id under another
   * runtime root is then refused instead of handed this directory. */
  if (nsfd_record_set_container (s->cfg.run_dir, a->id, pid, &err) < 0)
    nsfd_log (NSFD_LOG_WARNING, a->id, "could not record the container's pid in its runtime directory: %s",
              nsfd_error_text (err));
  return 0;
}
