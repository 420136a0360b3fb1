/* Following lxc.include in an LXC config, as LXC does: the value names a
 * file, or a directory whose *.conf files are all read.  Each file's text
 * goes to a callback, which parses it and may follow its includes in turn.
 * Bounded: nesting depth, number of files, and the bytes of the config and
 * all its includes together; a file that includes itself through any chain
 * is refused, naming it. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define NSFD_LXC_INCLUDE_DEPTH 8   /* includes within includes, below the config */
#define NSFD_LXC_INCLUDE_FILES 256 /* files read in all, the config too */

typedef int (*nsfd_lxc_text_fn) (void *data, const char *text, size_t len, const char *path, nsfd_error_t *err);

struct nsfd_lxc_includes
{
  nsfd_lxc_text_fn fn;
  void *data;
  size_t max_bytes;       /* for the config and all its includes together */
  size_t bytes, files;    /* read so far */
  size_t depth;           /* files being read: chain[0 .. depth-1], outermost first */
  struct
  {
    dev_t dev;
    ino_t ino;
  } chain[NSFD_LXC_INCLUDE_DEPTH + 1];
};

/* Reads the regular file fd (shown as path in messages; fd stays the
 * caller's) and hands its text to s->fn. */
int nsfd_lxc_include_fd (struct nsfd_lxc_includes *s, int fd, const char *path, nsfd_error_t *err);

/* The value of an lxc.include line: an absolute path to a file, or to a
 * directory whose entries ending in ".conf" are read in name order. */
int nsfd_lxc_include (struct nsfd_lxc_includes *s, const char *path, nsfd_error_t *err);
