/* libFuzzer target: the admin configuration file, and the prefix check made
 * with a parsed one. */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct nsfd_config c;
  nsfd_error_t err = NULL;
  char *buf = fuzz_copy_exact (data, size);
  int ret;

  if (buf == NULL)
    return 0;
  memset (&c, 0, sizeof (c));
  ret = nsfd_config_parse (buf, size, &c, &err);
  fuzz_check_error (&err, ret);
  if (ret == 0)
    {
      for (size_t i = 0; i < c.n_allowed_volume_prefixes; i++)
        if (!nsfd_config_volume_allowed (&c, c.allowed_volume_prefixes[i]))
          abort (); /* a prefix allows itself */
      (void) nsfd_config_volume_allowed (&c, "/");
      (void) nsfd_config_volume_allowed (&c, "/tmp/x/vols/a");
    }
  nsfd_config_free (&c);
  free (buf);
  return 0;
}
