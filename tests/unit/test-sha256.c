/* lib/sha256.c against the FIPS 180-4 / NIST example vectors, fed in one
 * piece and byte by byte. */
#include <string.h>

#include "sha256.h"
#include "tap.h"

static void
hex_of (const char *msg, size_t len, size_t step, char out[72])
{
  struct nsfd_sha256 s;
  nsfd_sha256_init (&s);
  for (size_t i = 0; i < len; i += step)
    nsfd_sha256_update (&s, msg + i, len - i < step ? len - i : step);
  nsfd_sha256_final_hex (&s, out);
}

int
main (void)
{
  static const struct { const char *msg; const char *hex; } v[] = {
    { "", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "abc", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "sha256:cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
  };
  static char million[1000000];
  char out[72];

  for (int pass = 0; pass < 2; pass++)
  {
  nsfd_sha256_set_accel (pass == 0);
  printf ("# %s\n", nsfd_sha256_accel () ? "SHA extensions" : "portable");
  for (size_t i = 0; i < sizeof (v) / sizeof (v[0]); i++)
    {
      hex_of (v[i].msg, strlen (v[i].msg), 1 << 20, out);
      CHECK (strcmp (out, v[i].hex) == 0, "vector %zu in one piece: %s", i, out);
      hex_of (v[i].msg, strlen (v[i].msg), 1, out);
      CHECK (strcmp (out, v[i].hex) == 0, "vector %zu byte by byte", i);
    }
  memset (million, 'a', sizeof (million));
  hex_of (million, sizeof (million), 4093, out);
  CHECK (strcmp (out, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
         "a million 'a' in odd chunks: %s", out);
  }
  /* Both implementations agree on every length around the block edges. */
  {
    static char buf[4096];
    char a[72], b[72];
    int same = 1;
    for (size_t i = 0; i < sizeof (buf); i++)
      buf[i] = (char) (i * 2654435761u >> 13);
    for (size_t len = 0; len < 300; len++)
      {
        nsfd_sha256_set_accel (1);
        hex_of (buf, len, 37, a);
        nsfd_sha256_set_accel (0);
        hex_of (buf, len, 37, b);
        same &= strcmp (a, b) == 0;
      }
    CHECK (same, "both implementations agree on lengths 0..299");
  }
  TAP_DONE ();
}
