/* libFuzzer target: the bundle's config.json, and the queries the hook makes
 * on a parsed one. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "oci.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct nsfd_oci_config c;
  nsfd_error_t err = NULL;
  char *buf = fuzz_copy_exact (data, size);
  char esc[256];
  int ret;

  if (buf == NULL)
    return 0;
  ret = nsfd_oci_config_parse (buf, size, &c, &err);
  fuzz_check_error (&err, ret);
  if (ret == 0)
    {
      for (size_t i = 0; i < c.n_mounts; i++)
        {
          const struct nsfd_oci_mount *m = &c.mounts[i];
          if (m->destination == NULL)
            abort ();
          (void) nsfd_oci_config_find_mount (&c, m->destination);
          (void) nsfd_oci_mount_is_bind (m);
          (void) nsfd_oci_mount_is_readonly (m);
          free (nsfd_oci_path_clean (m->destination));
          (void) nsfd_escape_for_message (m->destination, strlen (m->destination), esc, sizeof (esc));
        }
      for (size_t i = 0; i < c.n_uid_mappings; i++)
        {
          uint32_t host;
          (void) nsfd_idmap_to_host (c.uid_mappings, c.n_uid_mappings, c.uid_mappings[i].container_id, &host);
          (void) nsfd_idmap_to_host (c.uid_mappings, c.n_uid_mappings,
                                     c.uid_mappings[i].container_id + c.uid_mappings[i].size, &host);
        }
      for (size_t i = 0; i < c.n_gid_mappings; i++)
        {
          uint32_t host;
          (void) nsfd_idmap_to_host (c.gid_mappings, c.n_gid_mappings, c.gid_mappings[i].container_id, &host);
        }
      (void) nsfd_idmap_to_host (c.uid_mappings, c.n_uid_mappings, 0, &(uint32_t){ 0 });
      (void) nsfd_idmap_to_host (c.uid_mappings, c.n_uid_mappings, UINT32_MAX, &(uint32_t){ 0 });
    }
  nsfd_oci_config_free (&c);
  free (buf);
  return 0;
}
