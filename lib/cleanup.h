/* Cleanup attributes for fds, memory, FILE and DIR, and the take/steal
 * helpers that hand ownership on. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
nsfd_freep (void *p)
{
  free (*(void **) p);
}

static inline void
nsfd_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      (void) close (*fd);
      errno = saved;
    }
  *fd = -1;
}

static inline void
nsfd_fclosep (FILE **f)
{
  if (*f)
    (void) fclose (*f);
  *f = NULL;
}

static inline void
nsfd_closedirp (DIR **d)
{
  if (*d)
    (void) closedir (*d);
  *d = NULL;
}

#define cleanup_free __attribute__ ((cleanup (nsfd_freep)))
#define cleanup_close __attribute__ ((cleanup (nsfd_closep)))
#define cleanup_file __attribute__ ((cleanup (nsfd_fclosep)))
#define cleanup_dir __attribute__ ((cleanup (nsfd_closedirp)))
#define cleanup_error __attribute__ ((cleanup (nsfd_error_free)))

static inline int
nsfd_take_fd (int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

#define nsfd_steal(pp)                                                         \
  ({                                                                           \
    __typeof__ (*(pp)) _p = *(pp);                                             \
    *(pp) = NULL;                                                              \
    _p;                                                                        \
  })

/* Closes and resets in one step. */
static inline int
nsfd_close_reset (int *fd)
{
  nsfd_closep (fd);
  return -1;
}

#define NSFD_ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))
