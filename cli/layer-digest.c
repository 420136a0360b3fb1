#include "layer-digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int
ld_sha256_init (struct ld_sha256 *d)
{
  EVP_MD_CTX *c = EVP_MD_CTX_new ();
  d->ctx = c;
  if (c == NULL)
    return ENOMEM;
  if (EVP_DigestInit_ex (c, EVP_sha256 (), NULL) != 1)
    return ENOMEM;
  return 0;
}

int
ld_sha256_update (struct ld_sha256 *d, const void *data, size_t len)
{
  if (len == 0)
    return 0;
  return EVP_DigestUpdate (d->ctx, data, len) == 1 ? 0 : EIO;
}

int
ld_sha256_final_hex (struct ld_sha256 *d, char out[LD_HEX_LEN])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex (d->ctx, md, &n) != 1 || n != 32)
    return EIO;
  memcpy (out, "sha256:", 7);
  for (unsigned int i = 0; i < n; i++)
    snprintf (out + 7 + 2 * i, 3, "%02x", md[i]);
  return 0;
}

void
ld_sha256_free (struct ld_sha256 *d)
{
  EVP_MD_CTX_free (d->ctx);
  d->ctx = NULL;
}
