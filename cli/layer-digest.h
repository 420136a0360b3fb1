/* SHA-256 of an export's bytes (the OCI diff ID and the blob digest), by
 * OpenSSL's libcrypto: its SHA-256 uses the CPU's SHA extensions where
 * there are any.  Streaming, one context per digest. */
#pragma once

#include <stddef.h>

/* "sha256:" + 64 lowercase hex digits + NUL. */
#define LD_HEX_LEN (7 + 64 + 1)

struct ld_sha256
{
  void *ctx; /* EVP_MD_CTX */
};

/* 0, or an errno (ENOMEM when libcrypto could not set it up). */
int ld_sha256_init (struct ld_sha256 *d);
/* 0, or EIO when libcrypto refused the bytes. */
int ld_sha256_update (struct ld_sha256 *d, const void *data, size_t len);
/* The digest as text; 0, or EIO.  The context is spent (free it). */
int ld_sha256_final_hex (struct ld_sha256 *d, char out[LD_HEX_LEN]);
/* Safe on a zeroed or failed context, and twice. */
void ld_sha256_free (struct ld_sha256 *d);
