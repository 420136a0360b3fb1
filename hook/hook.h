/* nsfdsuds-hook: one executable for every stage it is registered at.
 *   createRuntime    host side: prepare the layer, start the mounter, return
 *   createContainer  container side: hand our namespaces to the mounter, wait
 *   poststop         release the layer, remove what is left
 * See docs/architecture.md. */
#pragma once

#include "config.h"
#include "error.h"
#include "oci.h"
#include "policy.h"

struct hook_ctx
{
  const char *stage;
  struct nsfd_config cfg;
  struct nsfd_oci_state state;
  struct nsfd_request req;
};

/* 1 when nsfdsuds-runtime already put the persistent root in place for this
 * container (both registered, e.g. CRI-O hooks.d plus the wrapper runtime). */
int hook_wrapper_owns (struct hook_ctx *ctx);

int hook_create_runtime (struct hook_ctx *ctx, nsfd_error_t *err);
int hook_create_container (struct hook_ctx *ctx, nsfd_error_t *err);
int hook_poststop (struct hook_ctx *ctx, nsfd_error_t *err);

/* The mounter: runs detached after createRuntime returns; never returns. */
struct nsfd_plan;
__attribute__ ((noreturn)) void hook_mounter_run (struct hook_ctx *ctx, struct nsfd_plan *plan,
                                                  int listen_fd, int pidfd, int ready_fd);
