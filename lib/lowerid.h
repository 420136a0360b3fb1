/* A fingerprint of the lower layer (the image), to notice when a layer is
 * about to be mounted on an image other than the one it was made on.  It is
 * cheap (one level of a few directories, names, types, sizes, mtimes, plus
 * /etc/os-release) rather than a content hash of the whole image: a new image
 * version changes at least one of these. */
#pragma once

#include <stddef.h>

#include "error.h"

#define NSFD_LOWERID_LEN 24   /* "fnv1a64:" + 16 hex digits */

/* Computes the fingerprint of the directory lower_fd (opened O_PATH or
 * O_RDONLY) into out. */
int nsfd_lowerid_compute (int lower_fd, char out[NSFD_LOWERID_LEN + 1], nsfd_error_t *err);
