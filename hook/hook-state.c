/* The OCI state on stdin: the runtime writes it and closes the pipe; both
 * size and time are bounded (a writer that never writes nor closes must not
 * hold a container start forever). */
#include <errno.h>

#include "cleanup.h"
#include "hook.h"

#define STATE_READ_TIMEOUT_MS 10000

int
hook_read_state (struct nsfd_oci_state *st, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;

  if (nsfd_read_all_fd_timeout (0, NSFD_OCI_MAX_JSON, STATE_READ_TIMEOUT_MS, &buf, &len, err) < 0)
    {
      if ((*err)->status == EFBIG)
        return nsfd_make_error (err, EFBIG, "OCI state on stdin is larger than %d bytes", NSFD_OCI_MAX_JSON);
      if ((*err)->status == ETIMEDOUT)
        return nsfd_make_error (err, ETIMEDOUT, "reading the OCI state from stdin");
      return nsfd_error_wrap (err, "reading the OCI state from stdin");
    }
  if (nsfd_oci_state_parse (buf, len, st, err) < 0)
    return nsfd_error_wrap (err, "OCI state on stdin");
  return 0;
}
