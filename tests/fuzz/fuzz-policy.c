/* libFuzzer target: the annotation policy.  The input is split on NUL and
 * newline into key, value, key, value, ... and given to nsfd_policy_parse as
 * a container's annotations; every value also goes through the path and id
 * validators on their own. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "oci.h"
#include "policy.h"

#define MAX_STRINGS 64

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *strings[MAX_STRINGS];
  struct nsfd_kv items[MAX_STRINGS / 2];
  struct nsfd_annotations a;
  struct nsfd_request req;
  nsfd_error_t err = NULL;
  size_t n;
  int ret;

  n = fuzz_split (data, size, strings, MAX_STRINGS);
  for (size_t i = 0; i + 1 < n; i += 2)
    {
      items[i / 2].key = strings[i];
      items[i / 2].value = strings[i + 1];
    }
  a.items = items;
  a.len = n / 2;

  (void) nsfd_policy_maybe_activated (&a);
  memset (&req, 0, sizeof (req));
  ret = nsfd_policy_parse (&a, &req, &err);
  fuzz_check_error (&err, ret);
  if (ret == 0 && req.activated && (req.persist_dest == NULL || req.persist_dest[0] != '/'
                                    || req.layer_name == NULL))
    abort (); /* an activated request always names a destination and a layer */
  nsfd_request_free (&req);

  for (size_t i = 0; i < n; i++)
    {
      char *norm = NULL;
      ret = nsfd_policy_normalize_path (strings[i], &norm, &err);
      fuzz_check_error (&err, ret);
      if (ret == 0 && (norm == NULL || norm[0] != '/' || strstr (norm, "/../") || strstr (norm, "//")))
        abort ();
      free (norm);
      ret = nsfd_policy_check_container_id (strings[i], &err);
      fuzz_check_error (&err, ret);
    }
  fuzz_free_strings (strings, n);
  return 0;
}
