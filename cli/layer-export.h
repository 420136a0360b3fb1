/* Writing an upper directory as an OCI image-spec layer tar (libarchive):
 * whiteouts as .wh.NAME, opaque directories as DIR/.wh..wh..opq, hard links
 * as tar hard links, numeric owners, xattrs as SCHILY.xattr pax records
 * (never trusted.overlay.*), entries sorted, headers normalised so that the
 * same tree always gives the same bytes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "layer-tools.h"
#include "layer-digest.h"

struct lx_result
{
  char diff_id[LD_HEX_LEN]; /* sha256 of the uncompressed tar */
  char digest[LD_HEX_LEN];  /* sha256 of the bytes written */
  uint64_t tar_bytes, out_bytes;
  uint64_t entries, sockets_skipped;
};

/* Writes the tree upper_fd to out_fd (gzip-compressed when gzip); out_name
 * names it in messages.  skip_dev / skip_ino: an inode never to export (the
 * output file itself when it lies inside the tree). */
int lx_export (int upper_fd, int out_fd, const char *out_name, bool gzip, dev_t skip_dev, ino_t skip_ino,
               struct lt_progress *prog, struct lx_result *res, nsfd_error_t *err);
