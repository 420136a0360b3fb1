/* Monotonic milliseconds, for deadlines of bounded waits. */
#pragma once

#include <time.h>

static inline long long
nsfd_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
