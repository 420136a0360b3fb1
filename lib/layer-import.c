#include "layer-import.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer.h"
#include "safepath.h"


static int
busy (const char *name, const struct nsfd_holder *h, nsfd_error_t *err)
{
  return nsfd_make_error (err, EBUSY,
                          "layer \"%s\" is in use by container \"%s\" (pid %lld, since %s); stop that "
                          "container before replacing its layer",
                          name, h->container, h->pid, h->since);
}

/* 0: no layer of that name; 1: one exists and may be replaced. */
static int
check_existing (int top_fd, const char *name, bool force, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  struct nsfd_holder h;
  struct stat st;
  int r;

  if (fstatat (top_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return nsfd_make_error (err, errno, "looking at the layer \"%s\"", name);
    }
  if (!S_ISDIR (st.st_mode))
    return nsfd_make_error (err, EEXIST, "\"%s/%s\" exists and is not a directory; remove it by hand",
                            NSFD_LAYER_TOPDIR, name);
  fd = openat (top_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening the layer \"%s\"", name);
  r = nsfd_layer_read_holder (fd, &h, err);
  if (r < 0)
    return nsfd_error_wrap (err, "the holder record of layer \"%s\"", name);
  if (r == 1 && nsfd_holder_alive (&h))
    return busy (name, &h, err);
  if (!force)
    return nsfd_make_error (err, EEXIST,
                            "layer \"%s\" already exists; --force replaces it (everything in its upper is lost)",
                            name);
  return 1;
}

/* Swaps the new layer in for the old under the old one's lock (the lock a
 * starting container takes), checking once more that nobody holds it. */
static int
replace (int top_fd, const char *tmp, const char *name, nsfd_error_t *err)
{
  cleanup_close int fd = openat (top_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct nsfd_holder h;
  int r;

  if (fd < 0)
    return nsfd_make_error (err, errno, "opening the layer \"%s\"", name);
  if (nsfd_layer_lock (fd, err) < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", name);
  r = nsfd_layer_read_holder (fd, &h, err);
  if (r == 1 && nsfd_holder_alive (&h))
    r = busy (name, &h, err);
  else if (r >= 0 && renameat2 (top_fd, tmp, top_fd, name, RENAME_EXCHANGE) < 0)
    r = nsfd_make_error (err, errno, "swapping the new layer in for \"%s\"", name);
  else if (r >= 0)
    r = 0;
  (void) flock (fd, LOCK_UN);
  return r;
}

static int
move_upper (const struct nsfd_import_request *r, int tfd, struct nsfd_import_stats *st, nsfd_error_t *err)
{
  cleanup_close int ufd = -1;
  struct stat a, b;

  /* Nothing is moved before we know it can all be carried. */
  if (nsfd_import_tree (NSFD_IMPORT_SCAN, r->src_fd, -1, NULL, &r->opts, st, err) < 0)
    return -1;
  if (fstat (r->src_fd, &a) < 0 || fstat (tfd, &b) < 0)
    return nsfd_make_error (err, errno, "stat");
  if (a.st_dev != b.st_dev)
    return nsfd_make_error (err, EXDEV, "--move renames, so the upper must be on the same filesystem as the "
                            "volume; import without --move to copy it");
  if (renameat (r->src_parent_fd, r->src_name, tfd, NSFD_LAYER_UPPER) < 0)
    return nsfd_make_error (err, errno, "moving the upper into the new layer");
  ufd = openat (tfd, NSFD_LAYER_UPPER, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ufd >= 0 && nsfd_import_tree (NSFD_IMPORT_FIX, ufd, -1, NULL, &r->opts, st, err) == 0)
    return 0;
  if (ufd < 0)
    nsfd_make_error (err, errno, "opening the moved upper");
  if (renameat (tfd, NSFD_LAYER_UPPER, r->src_parent_fd, r->src_name) == 0)
    return nsfd_error_wrap (err, "the upper was moved back, partly converted");
  nsfd_error_wrap (err, "the upper could not be moved back; it is in the temporary layer directory");
  return -2; /* keep it: it is the user's data */
}

static int
build (const struct nsfd_import_request *r, int top_fd, const char *tmp, const char *lower_id,
       struct nsfd_import_stats *st, nsfd_error_t *err)
{
  cleanup_close int tfd = -1;
  cleanup_close int wfd = -1;

  tfd = nsfd_mkdir_open (top_fd, tmp, 0700, 0, 0, NULL, err);
  if (tfd < 0)
    return -1;
  wfd = nsfd_mkdir_open (tfd, NSFD_LAYER_WORK, 0700, 0, 0, NULL, err);
  if (wfd < 0)
    return -1;
  if (r->move)
    {
      int m = move_upper (r, tfd, st, err);
      if (m < 0)
        return m;
    }
  else if (nsfd_import_tree (NSFD_IMPORT_COPY, r->src_fd, tfd, NSFD_LAYER_UPPER, &r->opts, st, err) < 0)
    return -1;
  if (nsfd_layer_write_meta (tfd, lower_id[0] ? lower_id : NULL, err) < 0)
    return -1;
  /* Durable before it gets its name: a crash after the rename must not find
   * files the rename outlived. */
  if (syncfs (tfd) < 0)
    return nsfd_make_error (err, errno, "syncing the new layer");
  return 0;
}

int
nsfd_layer_import (const struct nsfd_import_request *r, struct nsfd_import_result *out, nsfd_error_t *err)
{
  cleanup_close int top_fd = -1;
  char tmp[NAME_MAX + 1];
  int existing, built;

  memset (out, 0, sizeof (*out));
  top_fd = nsfd_mkdir_open (r->volume_fd, NSFD_LAYER_TOPDIR, 0700, 0, 0, NULL, err);
  if (top_fd < 0)
    return nsfd_error_wrap (err, "preparing the layer directory in the volume");
  existing = check_existing (top_fd, r->name, r->force, err);
  if (existing < 0)
    return -1;
  if (r->opts.lower_fd >= 0 && nsfd_lowerid_compute (r->opts.lower_fd, out->lower_id, err) < 0)
    return nsfd_error_wrap (err, "the lower's fingerprint");

  snprintf (tmp, sizeof (tmp), ".import-%d-%.64s", (int) getpid (), r->name);
  if (nsfd_import_rm_tree (top_fd, tmp, err) < 0)
    return -1;
  built = build (r, top_fd, tmp, out->lower_id, &out->stats, err);
  if (built == -2)
    return nsfd_error_wrap (err, "\"%s/%s\"", NSFD_LAYER_TOPDIR, tmp);
  if (built < 0)
    goto fail;
  if (existing ? replace (top_fd, tmp, r->name, err) < 0
               : renameat2 (top_fd, tmp, top_fd, r->name, RENAME_NOREPLACE) < 0
                     && nsfd_make_error (err, errno, "renaming the new layer into place as \"%s\"", r->name) < 0)
    goto fail;
  /* After an exchange the old layer is under the temporary name. */
  if (existing && nsfd_import_rm_tree (top_fd, tmp, err) < 0)
    return nsfd_error_wrap (err, "the layer was replaced, but removing the old one (\"%s/%s\") failed",
                            NSFD_LAYER_TOPDIR, tmp);
  (void) fsync (top_fd);
  out->replaced = existing == 1;
  return 0;

fail:
  {
    nsfd_error_t local = NULL;
    (void) nsfd_import_rm_tree (top_fd, tmp, &local);
    nsfd_error_free (&local);
  }
  return -1;
}
