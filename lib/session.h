/* An activated container on this node, from the admin config to the
 * release of its layer: the story the hook stages and the runtime wrapper
 * share.  Each step is one call; the executables only add what is theirs
 * (the hook's handshake and mounter, the wrapper's private namespace and its
 * exec of the real runtime).
 *
 *   nsfd_session_init         the admin config, and logging set up from it
 *   nsfd_session_decide       is this container ours (annotations, id)?
 *   nsfd_session_resolve      the plan: volume, rootfs, base volume (no I/O on the volume)
 *   nsfd_session_open_layer   open or create the layer; the image-change policy
 *   nsfd_session_acquire      record this container as the layer's holder
 *   nsfd_session_overlay_spec what overlay assembly needs, from the plan's fds
 *   nsfd_session_release      give the layer back and remove <runDir>/<id>
 *   nsfd_session_end          the same for a container set up earlier, from its record
 *
 * The library logs at debug level only; what a user or an admin must hear
 * (an accepted image change, a mounter stopped, a layer that could not be
 * released) goes to the report callback the executable sets. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "oci.h"
#include "overlay.h"
#include "plan.h"
#include "policy.h"

struct nsfd_session
{
  const char *mode;          /* "hook" or "runtime": written to holder.json */
  struct nsfd_config cfg;
  const char *id;            /* borrowed from the caller (state or argv) */
  struct nsfd_request req;
  struct nsfd_plan plan;
  bool acquired;             /* this session wrote the holder record */
  bool rundir_made;          /* this session made <runDir>/<id>/ */
  /* Called for what must be heard but is not an error (NULL: not told). */
  void (*report) (enum nsfd_log_level level, const char *id, const char *msg);
  /* Filled by nsfd_session_overlay_spec. */
  struct nsfd_mount_point *mount_points;
  const char *keep_out[2];
};

/* mode: "hook" or "runtime".  config_path NULL: the default path (a missing
 * file there gives the defaults).  Sets the log level and sinks from it. */
int nsfd_session_init (struct nsfd_session *s, const char *mode, const char *config_path, nsfd_error_t *err);
void nsfd_session_free (struct nsfd_session *s);
#define cleanup_session __attribute__ ((cleanup (nsfd_session_free)))

/* 1: the container asks for a persistent root and its id is usable; 0: not
 * ours (no annotation of ours, or a sandbox); <0: our annotations are wrong
 * (fail closed).  Cheap: nothing but the annotations and the id is read. */
int nsfd_session_decide (struct nsfd_session *s, const char *id, const struct nsfd_annotations *a,
                         nsfd_error_t *err);

/* The plan for the container of bundle (absolute). */
int nsfd_session_resolve (struct nsfd_session *s, const char *bundle, nsfd_error_t *err);
/* The same from a config.json the caller has read; *oci moves into the plan. */
int nsfd_session_resolve_with (struct nsfd_session *s, const char *bundle, struct nsfd_oci_config *oci,
                               nsfd_error_t *err);

/* Opens (or creates) the layer, applying the image-change policy; an accepted
 * change is reported (warning). */
int nsfd_session_open_layer (struct nsfd_session *s, nsfd_error_t *err);

/* Records pid as the holder.  Busy: EBUSY naming the holder. */
int nsfd_session_acquire (struct nsfd_session *s, pid_t pid, nsfd_error_t *err);
/* The wrapper learns the container's pid after the runtime's create. */
int nsfd_session_update_pid (struct nsfd_session *s, pid_t pid, nsfd_error_t *err);

/* Makes <runDir>/<id>/ (with newroot/ and stubs/) and returns an fd of it;
 * EEXIST while another create for the same id is in progress. */
int nsfd_session_rundir_create (struct nsfd_session *s, nsfd_error_t *err);
/* "<runDir>/<id>/<name>" into buf. */
int nsfd_session_rundir_path (const struct nsfd_session *s, const char *name, char *buf, size_t cap,
                              nsfd_error_t *err);

/* Fills spec for nsfd_overlay_assemble.  staging NULL: mount on the rootfs
 * directly (wrapper); else assemble at staging and carry the runtime's
 * mounts (hook).  stubs_dir: where a stub layer may be built (NULL: none).
 * The spec borrows from s. */
int nsfd_session_overlay_spec (struct nsfd_session *s, const char *staging, const char *stubs_dir,
                               struct nsfd_overlay_spec *spec, nsfd_error_t *err);

/* Releases the layer if this session acquired it and removes <runDir>/<id>
 * if this session made it.  Never fails: what cannot be undone is logged at
 * debug level. */
void nsfd_session_release (struct nsfd_session *s);

/* For a container set up earlier (poststop, the wrapper's delete; s->id set
 * by nsfd_session_decide or directly): stops a mounter still waiting,
 * releases the layer named in <runDir>/<id>/record and removes <runDir>/<id>.
 * 0 also when there was nothing. */
int nsfd_session_end (struct nsfd_session *s, nsfd_error_t *err);

/* 1 when <runDir>/<id>/record says nsfdsuds-runtime set this container up. */
bool nsfd_session_set_up_by_wrapper (const struct nsfd_config *cfg, const char *id);
