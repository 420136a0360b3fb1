#include "sha256.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
compress (uint32_t h[8], const unsigned char *p)
{
  uint32_t w[64], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];

  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++)
    {
      uint32_t s0 = ROR (w[i - 15], 7) ^ ROR (w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = ROR (w[i - 2], 17) ^ ROR (w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
  for (int i = 0; i < 64; i++)
    {
      uint32_t t1 = k + (ROR (e, 6) ^ ROR (e, 11) ^ ROR (e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
      uint32_t t2 = (ROR (a, 2) ^ ROR (a, 13) ^ ROR (a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

#if defined(__x86_64__)
/* The SHA extensions (Intel since Goldmont/Ice Lake, AMD since Zen): about
 * 5x the portable code, which matters when a layer export hashes gigabytes.
 * The message schedule is computed 4 words at a time, 4 rounds per step. */
__attribute__ ((target ("sha,sse4.1,ssse3"))) static void
compress_ni (uint32_t h[8], const unsigned char *p, size_t blocks)
{
  const __m128i mask = _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i tmp = _mm_shuffle_epi32 (_mm_loadu_si128 ((const __m128i *) &h[0]), 0xB1);
  __m128i s1 = _mm_shuffle_epi32 (_mm_loadu_si128 ((const __m128i *) &h[4]), 0x1B);
  __m128i s0 = _mm_alignr_epi8 (tmp, s1, 8);
  s1 = _mm_blend_epi16 (s1, tmp, 0xF0);
  for (; blocks > 0; blocks--, p += 64)
    {
      __m128i abef = s0, cdgh = s1, w[4], m;
      for (int g = 0; g < 16; g++)
        {
          if (g < 4)
            w[g] = _mm_shuffle_epi8 (_mm_loadu_si128 ((const __m128i *) (p + 16 * g)), mask);
          else
            {
              __m128i t = _mm_sha256msg1_epu32 (w[g % 4], w[(g + 1) % 4]);
              t = _mm_add_epi32 (t, _mm_alignr_epi8 (w[(g + 3) % 4], w[(g + 2) % 4], 4));
              w[g % 4] = _mm_sha256msg2_epu32 (t, w[(g + 3) % 4]);
            }
          m = _mm_add_epi32 (w[g % 4], _mm_loadu_si128 ((const __m128i *) &K[4 * g]));
          s1 = _mm_sha256rnds2_epu32 (s1, s0, m);
          s0 = _mm_sha256rnds2_epu32 (s0, s1, _mm_shuffle_epi32 (m, 0x0E));
        }
      s0 = _mm_add_epi32 (s0, abef);
      s1 = _mm_add_epi32 (s1, cdgh);
    }
  tmp = _mm_shuffle_epi32 (s0, 0x1B);
  s1 = _mm_shuffle_epi32 (s1, 0xB1);
  s0 = _mm_blend_epi16 (tmp, s1, 0xF0);
  s1 = _mm_alignr_epi8 (s1, tmp, 8);
  _mm_storeu_si128 ((__m128i *) &h[0], s0);
  _mm_storeu_si128 ((__m128i *) &h[4], s1);
}

static bool
have_sha_ni (void)
{
  unsigned a, b, c, d;
  return __get_cpuid_count (7, 0, &a, &b, &c, &d) && (b & (1u << 29)) && __get_cpuid (1, &a, &b, &c, &d)
         && (c & (1u << 19)) && (c & (1u << 9));
}
#endif

/* -1 unknown, 0 portable, 1 SHA extensions. */
static int accel = -1;

void
nsfd_sha256_set_accel (int on)
{
#if defined(__x86_64__)
  accel = on && have_sha_ni ();
#else
  (void) on;
  accel = 0;
#endif
}

int
nsfd_sha256_accel (void)
{
  if (accel < 0)
    nsfd_sha256_set_accel (1);
  return accel;
}

static void
compress_blocks (uint32_t h[8], const unsigned char *p, size_t blocks)
{
#if defined(__x86_64__)
  if (nsfd_sha256_accel ())
    return compress_ni (h, p, blocks);
#endif
  for (; blocks > 0; blocks--, p += 64)
    compress (h, p);
}

void
nsfd_sha256_init (struct nsfd_sha256 *s)
{
  static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  memcpy (s->h, iv, sizeof (iv));
  s->bytes = 0;
  s->fill = 0;
}

void
nsfd_sha256_update (struct nsfd_sha256 *s, const void *data, size_t len)
{
  const unsigned char *p = data;
  s->bytes += len;
  if (s->fill)
    {
      size_t take = 64 - s->fill < len ? 64 - s->fill : len;
      memcpy (s->block + s->fill, p, take);
      s->fill += take, p += take, len -= take;
      if (s->fill < 64)
        return;
      compress_blocks (s->h, s->block, 1);
      s->fill = 0;
    }
  compress_blocks (s->h, p, len / 64);
  p += len & ~(size_t) 63;
  len &= 63;
  memcpy (s->block, p, len);
  s->fill = len;
}

void
nsfd_sha256_final (struct nsfd_sha256 *s, unsigned char out[NSFD_SHA256_LEN])
{
  uint64_t bits = s->bytes * 8;
  unsigned char pad[72] = { 0x80 };
  size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;

  for (int i = 0; i < 8; i++)
    pad[padlen + (size_t) i] = (unsigned char) (bits >> (56 - 8 * i));
  nsfd_sha256_update (s, pad, padlen + 8);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 4; j++)
      out[4 * i + j] = (unsigned char) (s->h[i] >> (24 - 8 * j));
}

void
nsfd_sha256_final_hex (struct nsfd_sha256 *s, char out[7 + 2 * NSFD_SHA256_LEN + 1])
{
  unsigned char d[NSFD_SHA256_LEN];
  nsfd_sha256_final (s, d);
  memcpy (out, "sha256:", 7);
  for (int i = 0; i < NSFD_SHA256_LEN; i++)
    snprintf (out + 7 + 2 * i, 3, "%02x", d[i]);
}
