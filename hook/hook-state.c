/* The OCI state on stdin: the runtime writes it and closes the pipe; both
 * size and time are bounded (a writer that never writes nor closes must not
 * hold a container start forever). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "hook.h"

#define STATE_READ_TIMEOUT_MS 10000

/* Waits for input on stdin until deadline; 1 readable, <0 error. */
static int
wait_readable (long long deadline, nsfd_error_t *err)
{
  for (;;)
    {
      struct pollfd p = { .fd = 0, .events = POLLIN };
      long long left = deadline - nsfd_now_ms ();
      int pr;
      if (left <= 0)
        return nsfd_make_error (err, ETIMEDOUT, "reading the OCI state from stdin");
      pr = poll (&p, 1, (int) left);
      if (pr > 0)
        return 1;
      if (pr < 0 && errno != EINTR)
        return nsfd_make_error (err, errno, "waiting for the OCI state on stdin");
    }
}

int
hook_read_state (struct nsfd_oci_state *st, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0, cap = 0;
  long long deadline = nsfd_now_ms () + STATE_READ_TIMEOUT_MS;

  for (;;)
    {
      ssize_t n;
      if (wait_readable (deadline, err) < 0)
        return -1;
      if (len + 4096 + 1 > cap)
        {
          char *n2;
          if (cap >= NSFD_OCI_MAX_JSON + 4096)
            return nsfd_make_error (err, EFBIG, "OCI state on stdin is larger than %d bytes", NSFD_OCI_MAX_JSON);
          n2 = realloc (buf, cap = cap ? cap * 2 : 8192);
          if (n2 == NULL)
            return nsfd_make_error (err, ENOMEM, "reading the OCI state");
          buf = n2;
        }
      n = read (0, buf + len, cap - len - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return nsfd_make_error (err, errno, "reading the OCI state from stdin");
      if (n == 0)
        break;
      len += (size_t) n;
      if (len > NSFD_OCI_MAX_JSON)
        return nsfd_make_error (err, EFBIG, "OCI state on stdin is larger than %d bytes", NSFD_OCI_MAX_JSON);
    }
  if (buf == NULL)
    return nsfd_make_error (err, EINVAL, "no OCI state on stdin");
  buf[len] = '\0';
  if (nsfd_oci_state_parse (buf, len, st, err) < 0)
    return nsfd_error_wrap (err, "OCI state on stdin");
  return 0;
}
