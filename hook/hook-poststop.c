/* poststop: release the layer and remove whatever is left for this container
 * (a mounter still waiting because the container never got to createContainer,
 * the socket, the runtime directory).  Idempotent. */
#include "hook.h"

int
hook_poststop (struct hook_ctx *ctx, nsfd_error_t *err)
{
  return nsfd_session_end (&ctx->session, err);
}
