/* A fingerprint of the lower layer (the image), to notice when a layer is
 * about to be mounted on an image other than the one it was made on.  It is
 * cheap (one level of a few directories, names, types, sizes, mtimes, plus
 * /etc/os-release) rather than a content hash of the whole image: a new image
 * version changes at least one of these.
 *
 * Scheme 2 (the current one) leaves out empty regular files and directories
 * that hold nothing but empty files and such directories: those are what a
 * runtime creates as mount points (/etc/hosts, /proc, /var/run/secrets/...).
 * In hook mode the runtime has made them in the lower before the fingerprint
 * is taken, in wrapper mode they live in the stub layer; either way, and
 * whatever the mounts in config.json, the same image gives the same
 * fingerprint.  Scheme 1 (before) counted them; records made with it are
 * recognised and migrated (nsfd_lowerid_matches_scheme1). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "mountpoints.h"

#define NSFD_LOWERID_LEN 24   /* "fnv1a64:" + 16 hex digits */
#define NSFD_LOWERID_SCHEME 2

/* Computes the scheme-2 fingerprint of the directory lower_fd (opened O_PATH
 * or O_RDONLY) into out. */
int nsfd_lowerid_compute (int lower_fd, char out[NSFD_LOWERID_LEN + 1], nsfd_error_t *err);

/* 1 when recorded, a scheme-1 fingerprint, is this lower's as hook mode or the
 * wrapper saw it: as it is, with the mount points mps[] added where missing
 * (hook mode had them in the lower), or with the empty ones among them left
 * out (a wrapper-mode record read in hook mode).  0 when none matches. */
int nsfd_lowerid_matches_scheme1 (int lower_fd, const char *recorded, const struct nsfd_mount_point *mps,
                                  size_t n_mps, nsfd_error_t *err);
