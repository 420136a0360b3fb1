#include "layer-export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer-outpipe.h"
#include "layer-scan.h"

#define OUT_BUF LO_SLOT_SIZE
#define READ_BUF (1 << 17)
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

struct lx
{
  struct archive *tar, *gz;
  struct archive_entry *ent;
  struct lo_pipe out;       /* hashes and writes what goes out */
  struct ld_sha256 diff;    /* of the uncompressed tar, with --gzip */
  char *obuf, *rbuf, *name; /* obuf: the output slot being filled */
  size_t ofill, name_cap;
  struct nsfd_xattrs xattrs;
  struct lt_progress *prog;
  struct lx_result *res;
  int write_errno;
  const char *out_name; /* for messages: the file, or "standard output" */
  dev_t skip_dev;
  ino_t skip_ino;
};

/* Hands the filled slot to the writer and takes the next one. */
static int
flush_out (struct lx *x)
{
  if (x->ofill > 0)
    lo_commit (&x->out, x->ofill);
  x->ofill = 0;
  x->obuf = lo_reserve (&x->out);
  if (x->obuf == NULL)
    return (x->write_errno = x->out.error), -1;
  return 0;
}

/* The bytes that go to the output (hashed by the writer: the digest). */
static int
sink (struct lx *x, const void *buf, size_t len)
{
  if (x->obuf == NULL)
    return -1; /* the writer failed */
  x->res->out_bytes += len;
  while (len > 0)
    {
      size_t take = OUT_BUF - x->ofill < len ? OUT_BUF - x->ofill : len;
      memcpy (x->obuf + x->ofill, buf, take);
      x->ofill += take, len -= take, buf = (const char *) buf + take;
      if (x->ofill == OUT_BUF && flush_out (x) < 0)
        return -1;
    }
  return 0;
}

static la_ssize_t
gz_write_cb (struct archive *a, void *data, const void *buf, size_t len)
{
  (void) a;
  return sink (data, buf, len) < 0 ? -1 : (la_ssize_t) len;
}

/* The uncompressed tar: hashed (the diff ID), then compressed or sunk. */
static la_ssize_t
tar_write_cb (struct archive *a, void *data, const void *buf, size_t len)
{
  struct lx *x = data;
  (void) a;
  x->res->tar_bytes += len;
  if (x->gz)
    {
      if ((x->write_errno = ld_sha256_update (&x->diff, buf, len)) != 0)
        return -1;
      return archive_write_data (x->gz, buf, len) == (la_ssize_t) len ? (la_ssize_t) len : -1;
    }
  return sink (x, buf, len) < 0 ? -1 : (la_ssize_t) len;
}

static int
archive_fail (struct lx *x, struct archive *a, const char *what, const char *path, nsfd_error_t *err)
{
  const char *msg = archive_error_string (a);
  if (x->write_errno)
    return nsfd_make_error (err, x->write_errno, "writing the export to %s", x->out_name);
  return nsfd_make_error (err, EIO, "%s \"/%s\": %s", what, path ? path : "", msg ? msg : "libarchive failed");
}

static int
open_gzip (struct lx *x, nsfd_error_t *err)
{
  struct archive_entry *e;
  int r = ld_sha256_init (&x->diff);
  if (r != 0)
    return nsfd_make_error (err, r, "setting up SHA-256 (libcrypto)");
  x->gz = archive_write_new ();
  if (x->gz == NULL || archive_write_add_filter_gzip (x->gz) != ARCHIVE_OK
      || archive_write_set_format_raw (x->gz) != ARCHIVE_OK)
    return archive_fail (x, x->gz, "setting up gzip", NULL, err);
  /* No timestamp in the gzip header: the same tar gives the same file. */
  (void) archive_write_set_options (x->gz, "gzip:!timestamp");
  archive_write_set_bytes_in_last_block (x->gz, 1);
  if (archive_write_open2 (x->gz, x, NULL, gz_write_cb, NULL, NULL) != ARCHIVE_OK)
    return archive_fail (x, x->gz, "starting gzip", NULL, err);
  e = archive_entry_new ();
  archive_entry_set_pathname (e, "layer.tar");
  archive_entry_set_filetype (e, AE_IFREG);
  if (archive_write_header (x->gz, e) != ARCHIVE_OK)
    {
      archive_entry_free (e);
      return archive_fail (x, x->gz, "starting gzip", NULL, err);
    }
  archive_entry_free (e);
  return 0;
}

static int
open_tar (struct lx *x, int out_fd, bool gzip, nsfd_error_t *err)
{
  int e = lo_start (&x->out, out_fd);
  if (e != 0)
    return nsfd_make_error (err, e, "starting the writer");
  x->obuf = lo_reserve (&x->out);
  x->rbuf = malloc (READ_BUF);
  x->ent = archive_entry_new ();
  x->tar = archive_write_new ();
  if (!x->obuf || !x->rbuf || !x->ent || !x->tar)
    return nsfd_make_error (err, ENOMEM, "setting up the export");
  if (gzip && open_gzip (x, err) < 0)
    return -1;
  /* Writes of a slot's size, but the end padded to 10240 bytes like any
   * tar's: the bytes are the same as with the default blocking. */
  archive_write_set_bytes_per_block (x->tar, OUT_BUF);
  archive_write_set_bytes_in_last_block (x->tar, 10240);
  /* pax, only where ustar cannot say it (long names, big ids, xattrs). */
  if (archive_write_set_format_pax_restricted (x->tar) != ARCHIVE_OK
      || archive_write_set_format_option (x->tar, "pax", "xattrheader", "SCHILY") < ARCHIVE_WARN
      || archive_write_open2 (x->tar, x, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK)
    return archive_fail (x, x->tar, "setting up the tar writer", NULL, err);
  return 0;
}

/* path with its last component (at name) replaced by prefix + name. */
static const char *
marker_path (struct lx *x, const struct nsfd_scan_entry *e, const char *prefix, const char *name)
{
  size_t dir = (size_t) (e->name - e->path), need = dir + strlen (prefix) + strlen (name) + 2;
  if (need > x->name_cap)
    {
      char *n = realloc (x->name, need * 2);
      if (n == NULL)
        return NULL;
      x->name = n;
      x->name_cap = need * 2;
    }
  memcpy (x->name, e->path, dir);
  snprintf (x->name + dir, x->name_cap - dir, "%s%s", prefix, name);
  return x->name;
}

/* Owner, mode and seconds-only mtime; nothing else (no atime, ctime, names). */
static void
set_common (struct lx *x, const struct nsfd_scan_entry *e, const char *path, mode_t type)
{
  archive_entry_clear (x->ent);
  archive_entry_set_pathname (x->ent, path);
  archive_entry_set_filetype (x->ent, type);
  archive_entry_set_perm (x->ent, e->st.st_mode & 07777);
  archive_entry_set_uid (x->ent, e->st.st_uid);
  archive_entry_set_gid (x->ent, e->st.st_gid);
  archive_entry_set_mtime (x->ent, e->st.st_mtime, 0);
}

static int
add_xattrs (struct lx *x, const struct nsfd_scan_entry *e, int fd, nsfd_error_t *err)
{
  if (nsfd_xattrs_read (e, fd, &x->xattrs, err) < 0)
    return -1;
  for (size_t i = 0; i < x->xattrs.n; i++)
    if (strncmp (x->xattrs.v[i].name, "trusted.overlay.", 16) != 0)
      archive_entry_xattr_add_entry (x->ent, x->xattrs.v[i].name, x->xattrs.v[i].value, x->xattrs.v[i].len);
  return 0;
}

static int
write_header (struct lx *x, const char *path, nsfd_error_t *err)
{
  if (archive_write_header (x->tar, x->ent) < ARCHIVE_WARN)
    return archive_fail (x, x->tar, "writing the header of", path, err);
  return 0;
}

/* A regular file's bytes: exactly the size its header announced. */
static int
copy_data (struct lx *x, const struct nsfd_scan_entry *e, int fd, nsfd_error_t *err)
{
  uint64_t left = (uint64_t) e->st.st_size;
  while (left > 0)
    {
      ssize_t n = read (fd, x->rbuf, left < READ_BUF ? (size_t) left : READ_BUF);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return nsfd_make_error (err, errno, "reading \"/%s\"", e->path);
      if (n == 0)
        return nsfd_make_error (err, ESTALE, "\"/%s\" shrank during the export", e->path);
      if (archive_write_data (x->tar, x->rbuf, (size_t) n) != n)
        return archive_fail (x, x->tar, "writing", e->path, err);
      left -= (uint64_t) n;
    }
  return 0;
}

static int
write_file (struct lx *x, const struct nsfd_scan_entry *e, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  set_common (x, e, e->path, AE_IFREG);
  if (e->link_first)
    {
      archive_entry_set_hardlink (x->ent, e->link_first);
      archive_entry_set_size (x->ent, 0);
      return write_header (x, e->path, err);
    }
  fd = nsfd_scan_open_file (e, err);
  if (fd < 0 || add_xattrs (x, e, fd, err) < 0)
    return -1;
  archive_entry_set_size (x->ent, e->st.st_size);
  if (write_header (x, e->path, err) < 0)
    return -1;
  return copy_data (x, e, fd, err);
}

static int
write_symlink (struct lx *x, const struct nsfd_scan_entry *e, nsfd_error_t *err)
{
  char target[PATH_MAX + 1];
  ssize_t n = readlinkat (e->parent_fd, e->name, target, sizeof (target));
  if (n < 0 || n > PATH_MAX)
    return nsfd_make_error (err, n < 0 ? errno : ENAMETOOLONG, "reading the symlink \"/%s\"", e->path);
  target[n] = '\0';
  set_common (x, e, e->path, AE_IFLNK);
  archive_entry_set_symlink (x->ent, target);
  if (add_xattrs (x, e, -1, err) < 0)
    return -1;
  return write_header (x, e->path, err);
}

/* An empty regular file that says something to the consumer (a whiteout
 * or an opaque marker), owned like the entry it stands for. */
static int
write_marker (struct lx *x, const struct nsfd_scan_entry *e, const char *prefix, const char *name,
              nsfd_error_t *err)
{
  const char *p = marker_path (x, e, prefix, name);
  if (p == NULL)
    return nsfd_make_error (err, ENOMEM, "export");
  set_common (x, e, p, AE_IFREG);
  archive_entry_set_size (x->ent, 0);
  return write_header (x, p, err);
}

static int
write_dir (struct lx *x, const struct nsfd_scan_entry *e, nsfd_error_t *err)
{
  set_common (x, e, e->path, AE_IFDIR);
  if (add_xattrs (x, e, e->fd, err) < 0 || write_header (x, e->path, err) < 0)
    return -1;
  if (!e->opaque)
    return 0;
  /* A marker inside the directory: the path is the directory's plus a name. */
  struct nsfd_scan_entry inside = *e;
  inside.name = e->path + e->path_len;
  x->res->entries++;
  return write_marker (x, &inside, "/" WH_OPAQUE, "", err);
}

static int
write_special (struct lx *x, const struct nsfd_scan_entry *e, nsfd_error_t *err)
{
  mode_t type = e->type == NSFD_FT_CHAR ? AE_IFCHR : e->type == NSFD_FT_BLOCK ? AE_IFBLK : AE_IFIFO;
  set_common (x, e, e->path, type);
  if (type != AE_IFIFO)
    archive_entry_set_rdev (x->ent, e->st.st_rdev);
  if (add_xattrs (x, e, -1, err) < 0)
    return -1;
  return write_header (x, e->path, err);
}

static int
enter_cb (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err)
{
  struct lx *x = data;
  if (strncmp (e->name, WH_PREFIX, strlen (WH_PREFIX)) == 0)
    return nsfd_make_error (err, EINVAL,
                            "\"/%s\": a name starting with \"%s\" would be read as a whiteout by every consumer; "
                            "rename it before exporting",
                            e->path, WH_PREFIX);
  if (e->st.st_dev == x->skip_dev && e->st.st_ino == x->skip_ino)
    return 0; /* the output file itself */
  x->res->entries++;
  lt_progress_tick (x->prog, 1, e->type == NSFD_FT_FILE && !e->link_first ? (uint64_t) e->st.st_size : 0);
  switch (e->type)
    {
    case NSFD_FT_FILE: return write_file (x, e, err);
    case NSFD_FT_DIR: return write_dir (x, e, err);
    case NSFD_FT_SYMLINK: return write_symlink (x, e, err);
    case NSFD_FT_WHITEOUT: return write_marker (x, e, WH_PREFIX, e->name, err);
    case NSFD_FT_SOCKET: x->res->entries--, x->res->sockets_skipped++; return 0;
    default: return write_special (x, e, err);
    }
}

static int
finish (struct lx *x, nsfd_error_t *err)
{
  if (archive_write_close (x->tar) != ARCHIVE_OK)
    return archive_fail (x, x->tar, "finishing the tar", NULL, err);
  if (x->gz && archive_write_close (x->gz) != ARCHIVE_OK)
    return archive_fail (x, x->gz, "finishing gzip", NULL, err);
  if (x->ofill > 0)
    lo_commit (&x->out, x->ofill);
  x->ofill = 0;
  x->write_errno = lo_finish (&x->out);
  if (x->write_errno)
    return nsfd_make_error (err, x->write_errno, "writing the export to %s", x->out_name);
  if (ld_sha256_final_hex (&x->out.hash, x->res->digest) != 0
      || (x->gz && ld_sha256_final_hex (&x->diff, x->res->diff_id) != 0))
    return nsfd_make_error (err, EIO, "finishing SHA-256 (libcrypto)");
  if (!x->gz)
    memcpy (x->res->diff_id, x->res->digest, sizeof (x->res->diff_id));
  return 0;
}

int
lx_export (int upper_fd, int out_fd, const char *out_name, bool gzip, dev_t skip_dev, ino_t skip_ino,
           struct lt_progress *prog, struct lx_result *res, nsfd_error_t *err)
{
  struct lx x = { .prog = prog, .res = res, .out_name = out_name, .skip_dev = skip_dev, .skip_ino = skip_ino };
  struct nsfd_scan_ops ops = { .enter = enter_cb, .data = &x, .track_links = true };
  int r;

  memset (res, 0, sizeof (*res));
  r = open_tar (&x, out_fd, gzip, err);
  if (r == 0)
    r = nsfd_scan (upper_fd, &ops, err);
  if (r == 0)
    r = finish (&x, err);
  if (x.tar)
    archive_write_free (x.tar);
  if (x.gz)
    archive_write_free (x.gz);
  if (x.ent)
    archive_entry_free (x.ent);
  (void) lo_finish (&x.out); /* after a failure: stop the writer */
  ld_sha256_free (&x.out.hash);
  ld_sha256_free (&x.diff);
  nsfd_xattrs_free (&x.xattrs);
  free (x.rbuf);
  free (x.name);
  return r < 0 ? -1 : 0;
}
