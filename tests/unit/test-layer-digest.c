/* cli/layer-digest.c (libcrypto's SHA-256) against the FIPS 180-4 / NIST
 * example vectors, fed in one piece, byte by byte and in odd chunks. */
#include <string.h>

#include "layer-digest.h"
#include "tap.h"

static int
hex_of (const char *msg, size_t len, size_t step, char out[LD_HEX_LEN])
{
  struct ld_sha256 d = { 0 };
  int r = ld_sha256_init (&d);
  for (size_t i = 0; r == 0 && i < len; i += step)
    r = ld_sha256_update (&d, msg + i, len - i < step ? len - i : step);
  if (r == 0)
    r = ld_sha256_final_hex (&d, out);
  ld_sha256_free (&d);
  ld_sha256_free (&d);
  return r;
}

int
main (void)
{
  static const struct
  {
    const char *msg, *hex;
  } v[] = {
    { "", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "abc", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "sha256:cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
  };
  static char million[1000000];
  char out[LD_HEX_LEN];

  for (size_t i = 0; i < sizeof (v) / sizeof (v[0]); i++)
    {
      CHECK (hex_of (v[i].msg, strlen (v[i].msg), 1 << 20, out) == 0 && strcmp (out, v[i].hex) == 0,
             "vector %zu in one piece: %s", i, out);
      CHECK (hex_of (v[i].msg, strlen (v[i].msg), 1, out) == 0 && strcmp (out, v[i].hex) == 0,
             "vector %zu byte by byte", i);
    }
  memset (million, 'a', sizeof (million));
  CHECK (hex_of (million, sizeof (million), 4093, out) == 0
             && strcmp (out, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
         "a million 'a' in odd chunks: %s", out);
  TAP_DONE ();
}
