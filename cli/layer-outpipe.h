/* The last stage of a layer export, in its own thread: hashing the bytes
 * that are written and writing them, while the walk reads the next files.
 * A few fixed buffers: the producer fills one while the writer drains the
 * others, so memory stays bounded. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "layer-digest.h"

/* 8 x 128 KiB: a slot still in the CPU's cache when it is hashed and
 * written (1 MiB slots cost a third more system time in the write; measured
 * in docs/performance.md, "Layer tools"), and enough of them to ride over
 * the writer's pauses. */
#define LO_SLOTS 8
#define LO_SLOT_SIZE (1 << 17)

struct lo_pipe
{
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t changed;
  char *slot[LO_SLOTS];
  size_t len[LO_SLOTS];
  size_t head, tail, count;  /* committed, not yet written: tail .. tail+count-1 */
  bool closing, started;
  int error;                 /* errno of a failed write, 0 */
  int fd;
  struct ld_sha256 hash;     /* of everything written */
};

/* Starts the writer on fd; returns 0, or an errno. */
int lo_start (struct lo_pipe *p, int fd);
/* The buffer to fill next (LO_SLOT_SIZE bytes), waiting for a free one;
 * NULL when the writer failed (p->error). */
char *lo_reserve (struct lo_pipe *p);
/* Hands the reserved buffer, len bytes of it, to the writer. */
void lo_commit (struct lo_pipe *p, size_t len);
/* Waits for everything to be written, stops the writer; the errno of a
 * failed write or hash, or 0.  Safe after a failed lo_start.  p->hash stays
 * for the caller to finish and free (ld_sha256_free). */
int lo_finish (struct lo_pipe *p);
