/* libFuzzer target: the OCI state document a hook reads on stdin. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "oci.h"
#include "policy.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct nsfd_oci_state st;
  nsfd_error_t err = NULL;
  char *buf = fuzz_copy_exact (data, size);
  int ret;

  if (buf == NULL)
    return 0;
  ret = nsfd_oci_state_parse (buf, size, &st, &err);
  fuzz_check_error (&err, ret);
  if (ret == 0)
    {
      /* What the idle path does next with a parsed state. */
      if (st.id == NULL || st.status == NULL || st.bundle == NULL || st.oci_version == NULL)
        abort ();
      (void) nsfd_policy_maybe_activated (&st.annotations);
      (void) nsfd_annotations_get (&st.annotations, "nsfdsuds.io/persist");
      ret = nsfd_policy_check_container_id (st.id, &err);
      fuzz_check_error (&err, ret);
    }
  nsfd_oci_state_free (&st);
  free (buf);
  return 0;
}
