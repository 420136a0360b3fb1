/* libFuzzer target: the modern handshake's message decoder.
 * Byte 0 chooses how many fds "arrived" with the message (0..9), the next
 * ones which (one of our own namespace fds, or /dev/null as a non-namespace
 * fd); the rest is the message.  nsfd_hs_decode owns the fds it is given, so
 * each run hands it fresh dups and checks afterwards that all are closed. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "handshake.h"
#include "namespaces.h"

#define POOL (NSFD_NS_COUNT + 1)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int pool[POOL];
static int pool_ready;

static void
pool_init (void)
{
  struct nsfd_ns_set self;
  nsfd_error_t err = NULL;

  if (nsfd_ns_open_self ((1u << NSFD_NS_COUNT) - 1, &self, &err) < 0)
    {
      fprintf (stderr, "fuzz-hs-decode: %s\n", nsfd_error_text (err));
      abort ();
    }
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    pool[i] = self.fd[i]; /* -1 for a type this kernel lacks: decode must cope */
  pool[NSFD_NS_COUNT] = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  pool_ready = 1;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  int fds[NSFD_HS_MAX_FDS + 2], given[NSFD_HS_MAX_FDS + 2];
  size_t n_fds = 0;
  struct nsfd_hs_msg m;
  nsfd_error_t err = NULL;
  char *buf;
  int ret;

  if (!pool_ready)
    pool_init ();
  if (size < 1)
    return 0;
  n_fds = data[0] % (NSFD_HS_MAX_FDS + 2);
  data++, size--;
  if (size < n_fds)
    return 0;
  for (size_t k = 0; k < n_fds; k++)
    {
      int src = pool[data[k] % POOL];
      fds[k] = src >= 0 ? fcntl (src, F_DUPFD_CLOEXEC, 3) : -1;
      given[k] = fds[k];
    }
  data += n_fds, size -= n_fds;

  buf = fuzz_copy_exact (data, size);
  if (buf == NULL)
    return 0;
  ret = nsfd_hs_decode (buf, size, fds, n_fds, &m, &err);
  fuzz_check_error (&err, ret);
  if (ret == 0)
    {
      /* Whatever decoded must encode again. */
      uint8_t out[NSFD_HS_MAX_MSG];
      int out_fds[NSFD_HS_MAX_FDS];
      size_t len = 0, n_out = 0;
      int r2 = nsfd_hs_encode (&m, out, sizeof (out), &len, out_fds, &n_out, &err);
      if (m.type == NSFD_HS_RESULT || m.type == NSFD_HS_REQUEST)
        {
          if (r2 < 0 || len != size || memcmp (out, buf, len) != 0)
            abort ();
        }
      nsfd_error_free (&err);
    }
  nsfd_hs_msg_free (&m);
  free (buf);

  /* decode must close every fd it was given, on every path (this thread
   * opened nothing since, so a number still open is one of ours). */
  for (size_t k = 0; k < n_fds; k++)
    if (given[k] >= 0 && fcntl (given[k], F_GETFD) >= 0)
      {
        fprintf (stderr, "fuzz-hs-decode: fd %d (#%zu of %zu) left open, decode returned %d\n", given[k], k,
                 n_fds, ret);
        abort ();
      }
  return 0;
}
