/* A tiny assertion helper for the unit tests: every check prints one line,
 * the test exits non-zero if any failed. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_failed;
static int tap_count;

#define CHECK(cond, ...)                                                       \
  do                                                                           \
    {                                                                          \
      tap_count++;                                                             \
      if (cond)                                                                \
        printf ("ok %d - ", tap_count);                                        \
      else                                                                     \
        {                                                                      \
          tap_failed++;                                                        \
          printf ("not ok %d - %s:%d: ", tap_count, __FILE__, __LINE__);       \
        }                                                                      \
      printf (__VA_ARGS__);                                                    \
      printf ("\n");                                                           \
    }                                                                          \
  while (0)

#define CHECK_STR_CONTAINS(hay, needle, ...)                                   \
  CHECK ((hay) != NULL && strstr ((hay), (needle)) != NULL, __VA_ARGS__)

#define TAP_DONE()                                                             \
  do                                                                           \
    {                                                                          \
      printf ("1..%d\n", tap_count);                                           \
      return tap_failed ? EXIT_FAILURE : EXIT_SUCCESS;                         \
    }                                                                          \
  while (0)

#define TAP_SKIP_UNLESS_ROOT()                                                 \
  do                                                                           \
    {                                                                          \
      if (geteuid () != 0)                                                     \
        {                                                                      \
          printf ("1..0 # SKIP needs root\n");                                 \
          return 77;                                                           \
        }                                                                      \
    }                                                                          \
  while (0)
