/* Overlay assembly: build the persistent overlay (lower = the container's
 * rootfs or a base volume, upper/work = the layer) and put it where the
 * runtime will pivot.  Runs in the mount namespace it changes (the container's
 * in hook mode, the wrapper's private one in runtime mode), in a process that
 * does nothing else. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "mountpoints.h"

#define OVERLAYFS_MAGIC_NUMBER 0x794c7630


struct nsfd_overlay_spec
{
  /* The container rootfs as the runtime uses it.  A path because the mount
   * table is searched by it and the runtime pivots by it. */
  const char *rootfs;
  /* The layers, opened by the preparing process; the paths only name them
   * in messages (and, with reopen_layers, are opened again).  lower_fd -1:
   * the rootfs itself is the lower. */
  const char *lower;
  int lower_fd;
  const char *upper;
  int upper_fd;
  const char *work;
  int work_fd;
  /* Hook mode: the fds belong to the host's mount namespace, and overlayfs
   * takes its layers from the mounting process's namespace only, so they are
   * opened again by path in the container's and must be the same inodes. */
  bool reopen_layers;
  /* Hook mode: an empty directory where the overlay is assembled before it is
   * moved onto the rootfs.  NULL: mount straight onto the rootfs (wrapper mode,
   * where nothing is mounted below the rootfs yet). */
  const char *staging;
  /* Absolute targets below rootfs that are not carried into the new root (the
   * persistent volume unless asked, the base volume). */
  const char *const *keep_out;
  size_t n_keep_out;
  /* Mount points the lower lacks get stubs in a tmpfs mounted at stubs_dir
   * (an empty directory) and used as the bottom lower layer, so they never
   * land in the persistent upper layer.  Hook mode derives them from the
   * mounts below the rootfs; wrapper mode passes the config's destinations.
   * NULL stubs_dir: no stub layer. */
  const char *stubs_dir;
  const struct nsfd_mount_point *mount_points;
  size_t n_mount_points;
};

/* In stages (lib/overlay.c): open and verify the layers, build the stub
 * layer, create the overlay, attach it, carry the runtime's mounts into it,
 * and finalise.  Hook mode: the overlay is mounted at staging, every mount
 * below the rootfs is moved to the same path in it (in mount-table order),
 * then the overlay is moved onto the rootfs.  Wrapper mode (staging == NULL):
 * the overlay is mounted onto the rootfs directly.  On failure nothing of
 * the new root stays attached. */
int nsfd_overlay_assemble (const struct nsfd_overlay_spec *s, nsfd_error_t *err);

/* Opens an absolute path without following symlinks and, when check_fd >= 0,
 * verifies it is the same inode as check_fd. */
int nsfd_open_checked (const char *path, int flags, int check_fd, nsfd_error_t *err);
