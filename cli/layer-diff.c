#include "layer-diff.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

#define CMP_BUF (256 * 1024)

const char *
ld_kind_name (enum ld_kind k)
{
  static const char *const names[] = { "unchanged", "added", "modified", "metadata", "deleted", "opaque", "present" };
  return (unsigned) k < NSFD_ARRAY_SIZE (names) ? names[k] : "unknown";
}

const char *
ld_detail_name (unsigned bit)
{
  static const char *const names[] = { "type", "content", "target", "device", "mode", "owner", "xattrs", "mtime" };
  return bit < NSFD_ARRAY_SIZE (names) ? names[bit] : NULL;
}

/* The lower's file name in dirfd, opened as a regular file like the walk
 * opens the upper's (no symlink, no blocking, type checked). */
static int
open_lower_file (int dirfd, const char *name, const struct stat *want)
{
  struct stat st;
  int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0 && (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_ino != want->st_ino))
    {
      close (fd);
      errno = ESTALE;
      return -1;
    }
  return fd;
}

static ssize_t
read_full (int fd, char *buf, size_t len)
{
  size_t got = 0;
  while (got < len)
    {
      ssize_t n = read (fd, buf + got, len - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      got += (size_t) n;
    }
  return (ssize_t) got;
}

/* 1 when the two regular files have different bytes. */
static int
content_differs (const struct nsfd_scan_entry *e, int lower_parent, const struct stat *lst, nsfd_error_t *err)
{
  cleanup_close int a = -1, b = -1;
  cleanup_free char *ba = NULL, *bb = NULL;

  if (e->st.st_size != lst->st_size)
    return 1;
  a = nsfd_scan_open_file (e, err);
  if (a < 0)
    return -1;
  b = open_lower_file (lower_parent, e->name, lst);
  if (b < 0)
    return nsfd_make_error (err, errno, "opening the lower's \"/%s\"", e->path);
  ba = malloc (CMP_BUF);
  bb = malloc (CMP_BUF);
  if (!ba || !bb)
    return nsfd_make_error (err, ENOMEM, "comparing \"/%s\"", e->path);
  for (;;)
    {
      ssize_t na = read_full (a, ba, CMP_BUF), nb = read_full (b, bb, CMP_BUF);
      if (na < 0 || nb < 0)
        return nsfd_make_error (err, errno, "reading \"/%s\"", e->path);
      if (na != nb || memcmp (ba, bb, (size_t) na) != 0)
        return 1;
      if (na < CMP_BUF)
        return 0;
    }
}

static int
target_differs (const struct nsfd_scan_entry *e, int lower_parent, nsfd_error_t *err)
{
  char ta[PATH_MAX + 1], tb[PATH_MAX + 1];
  ssize_t na = readlinkat (e->parent_fd, e->name, ta, sizeof (ta));
  ssize_t nb = readlinkat (lower_parent, e->name, tb, sizeof (tb));
  if (na < 0 || nb < 0)
    return nsfd_make_error (err, errno, "reading the symlink \"/%s\"", e->path);
  return na != nb || memcmp (ta, tb, (size_t) na) != 0;
}

/* Compares the xattrs that say something about the file (not overlayfs's). */
static bool
xattrs_equal (const struct nsfd_xattrs *x, const struct nsfd_xattrs *y)
{
  size_t i = 0, j = 0;
  for (;;)
    {
      while (i < x->n && strncmp (x->v[i].name, "trusted.overlay.", 16) == 0)
        i++;
      while (j < y->n && strncmp (y->v[j].name, "trusted.overlay.", 16) == 0)
        j++;
      if (i == x->n || j == y->n)
        return i == x->n && j == y->n;
      if (strcmp (x->v[i].name, y->v[j].name) != 0 || x->v[i].len != y->v[j].len
          || memcmp (x->v[i].value, y->v[j].value, x->v[i].len) != 0)
        return false;
      i++, j++;
    }
}

static int
metadata_details (const struct nsfd_scan_entry *e, int lower_parent, const struct stat *l, struct nsfd_xattrs *x,
                  struct nsfd_xattrs *y, nsfd_error_t *err)
{
  unsigned d = 0;
  if ((e->st.st_mode & 07777) != (l->st_mode & 07777))
    d |= LD_D_MODE;
  if (e->st.st_uid != l->st_uid || e->st.st_gid != l->st_gid)
    d |= LD_D_OWNER;
  if (e->st.st_mtim.tv_sec != l->st_mtim.tv_sec || e->st.st_mtim.tv_nsec != l->st_mtim.tv_nsec)
    d |= LD_D_MTIME;
  if (nsfd_xattrs_read (e, -1, x, err) < 0)
    return -1;
  if (nsfd_xattrs_read_at (lower_parent, e->name, -1, y, err) < 0)
    return nsfd_error_wrap (err, "the lower's \"/%s\"", e->path);
  if (!xattrs_equal (x, y))
    d |= LD_D_XATTRS;
  return (int) d;
}

/* Same name in both: what differs. */
static int
compare_both (const struct nsfd_scan_entry *e, int lower_parent, const struct stat *l, struct nsfd_xattrs *x,
              struct nsfd_xattrs *y, struct ld_change *out, nsfd_error_t *err)
{
  int r = 0, meta;
  if (out->lower_type != e->type)
    out->details |= LD_D_TYPE;
  else if (e->type == NSFD_FT_FILE)
    r = content_differs (e, lower_parent, l, err);
  else if (e->type == NSFD_FT_SYMLINK)
    r = target_differs (e, lower_parent, err);
  else if ((e->type == NSFD_FT_CHAR || e->type == NSFD_FT_BLOCK) && e->st.st_rdev != l->st_rdev)
    out->details |= LD_D_DEVICE;
  if (r < 0)
    return -1;
  if (r > 0)
    out->details |= e->type == NSFD_FT_FILE ? LD_D_CONTENT : LD_D_TARGET;
  meta = metadata_details (e, lower_parent, l, x, y, err);
  if (meta < 0)
    return -1;
  out->details |= (unsigned) meta;
  if (out->details & (LD_D_TYPE | LD_D_CONTENT | LD_D_TARGET | LD_D_DEVICE))
    out->kind = LD_MODIFIED;
  else
    out->kind = out->details ? LD_METADATA : LD_UNCHANGED;
  return 0;
}

int
ld_compare (const struct nsfd_scan_entry *e, int lower_parent, bool have_lower, struct nsfd_xattrs *x,
            struct nsfd_xattrs *y, struct ld_change *out, nsfd_error_t *err)
{
  struct stat l;

  memset (out, 0, sizeof (*out));
  if (have_lower && lower_parent >= 0)
    {
      if (fstatat (lower_parent, e->name, &l, AT_SYMLINK_NOFOLLOW) == 0)
        {
          out->lower_exists = true;
          out->lower_type = nsfd_scan_type_of (&l);
        }
      else if (errno != ENOENT && errno != ENOTDIR)
        return nsfd_make_error (err, errno, "stat the lower's \"/%s\"", e->path);
    }
  if (e->type == NSFD_FT_WHITEOUT)
    return (out->kind = LD_DELETED), 0;
  if (!have_lower)
    return (out->kind = e->opaque ? LD_OPAQUE : LD_PRESENT), 0;
  if (!out->lower_exists)
    return (out->kind = LD_ADDED), 0;
  if (e->opaque && out->lower_type != NSFD_FT_DIR)
    return (out->details = LD_D_TYPE), (out->kind = LD_MODIFIED), 0;
  if (e->opaque)
    return (out->kind = LD_OPAQUE), 0;
  return compare_both (e, lower_parent, &l, x, y, out, err);
}
