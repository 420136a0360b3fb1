/* Shared helpers for the libFuzzer targets: turning fuzz bytes into a
 * NUL-terminated copy or into a list of strings, and releasing an error. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The parsers take (buf, len) and must not read past len: the copy is
 * exactly len bytes (no terminator) so ASan catches an over-read. */
static inline char *
fuzz_copy_exact (const uint8_t *data, size_t size)
{
  char *p = malloc (size ? size : 1);
  if (p && size)
    memcpy (p, data, size);
  return p;
}

/* Splits data on NUL and newline into at most max NUL-terminated strings,
 * each a separate allocation so ASan sees over-reads of any one of them.
 * Returns the count; strings are freed with fuzz_free_strings. */
static inline size_t
fuzz_split (const uint8_t *data, size_t size, char **out, size_t max)
{
  size_t n = 0, start = 0;

  for (size_t i = 0; i <= size && n < max; i++)
    if (i == size || data[i] == '\0' || data[i] == '\n')
      {
        char *s = malloc (i - start + 1);
        if (s == NULL)
          break;
        memcpy (s, data + start, i - start);
        s[i - start] = '\0';
        out[n++] = s;
        start = i + 1;
      }
  return n;
}

static inline void
fuzz_free_strings (char **s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (s[i]);
}

/* Every error path must produce a message; read it so a broken one shows. */
static inline void
fuzz_check_error (nsfd_error_t *err, int ret)
{
  if (ret < 0)
    {
      if (*err == NULL || nsfd_error_text (*err) == NULL)
        abort ();
      (void) strlen (nsfd_error_text (*err));
    }
  else if (*err != NULL)
    abort (); /* success must not leave an error behind */
  nsfd_error_free (err);
}
