/* nsfdsuds-hook: one executable for every stage it is registered at.
 *   createRuntime    host side: prepare the layer, start the mounter, return
 *   createContainer  container side: hand our namespaces to the mounter, wait
 *   poststop         release the layer, remove what is left
 * The shared story (config, activation, plan, layer, release) is
 * lib/session.c; these files add the handshake and the mounter.  See
 * docs/architecture.md. */
#pragma once

#include "error.h"
#include "oci.h"
#include "session.h"

struct hook_ctx
{
  const char *stage;
  struct nsfd_oci_state state;
  struct nsfd_session session;
};

int hook_create_runtime (struct hook_ctx *ctx, nsfd_error_t *err);
int hook_create_container (struct hook_ctx *ctx, nsfd_error_t *err);
int hook_poststop (struct hook_ctx *ctx, nsfd_error_t *err);

/* The mounter: runs detached after createRuntime returns; never returns. */
__attribute__ ((noreturn)) void hook_mounter_run (struct hook_ctx *ctx, int listen_fd, int pidfd);
/* Builds the root in the container's mount namespace mnt_fd, from a forked
 * worker bounded by the handshake timeout (hook-worker.c).  A worker that
 * answered is left unreaped in *unreaped (nsfd_child_reap), so that the agent
 * can be answered first. */
int hook_worker_assemble (struct hook_ctx *ctx, int mnt_fd, pid_t *unreaped, nsfd_error_t *err);

/* The state on stdin, bounded in size and time (hook-state.c). */
int hook_read_state (struct nsfd_oci_state *st, nsfd_error_t *err);

/* The session's report callback: the system log and stderr as configured. */
void hook_report (enum nsfd_log_level level, const char *id, const char *msg);
