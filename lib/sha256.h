/* SHA-256 (FIPS 180-4), for the digests of exported layers (the OCI diff
 * ID and the blob digest).  Streaming; no allocation. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define NSFD_SHA256_LEN 32

struct nsfd_sha256
{
  uint32_t h[8];
  uint64_t bytes;
  unsigned char block[64];
  size_t fill;
};

void nsfd_sha256_init (struct nsfd_sha256 *s);
void nsfd_sha256_update (struct nsfd_sha256 *s, const void *data, size_t len);
void nsfd_sha256_final (struct nsfd_sha256 *s, unsigned char out[NSFD_SHA256_LEN]);
/* "sha256:" + 64 lowercase hex digits. */
void nsfd_sha256_final_hex (struct nsfd_sha256 *s, char out[7 + 2 * NSFD_SHA256_LEN + 1]);

/* Whether the CPU's SHA extensions are used (detected on first use); tests
 * turn them off to check the portable code too.  Process-wide. */
int nsfd_sha256_accel (void);
void nsfd_sha256_set_accel (int on);
