/* One entry of an import walk: its attributes (classified by the rules of
 * import-rules.c, then written), its data, owner, mode and times. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "import-walk.h"
#include "safepath.h"

#define IOBUF (1024 * 1024)
#define OPAQUE "trusted.overlay.opaque"
#define CAPS "security.capability"

static int
h_chdir (struct walk *w, int dirfd)
{
  if (w->cwd == dirfd)
    return 0;
  if (fchdir (dirfd) < 0)
    return -1;
  w->cwd = dirfd;
  return 0;
}

static ssize_t
h_list (struct walk *w, const struct handle *h, char *buf, size_t cap)
{
  if (h->fd >= 0)
    return flistxattr (h->fd, buf, cap);
  if (h_chdir (w, h->dirfd) < 0)
    return -1;
  return llistxattr (h->name, buf, cap);
}

static ssize_t
h_get (struct walk *w, const struct handle *h, const char *name, void *buf, size_t cap)
{
  if (h->fd >= 0)
    return fgetxattr (h->fd, name, buf, cap);
  if (h_chdir (w, h->dirfd) < 0)
    return -1;
  return lgetxattr (h->name, name, buf, cap);
}

static int
h_set (struct walk *w, const struct handle *h, const char *name, const void *v, size_t len)
{
  if (h->fd >= 0)
    return fsetxattr (h->fd, name, v, len, 0);
  if (h_chdir (w, h->dirfd) < 0)
    return -1;
  return lsetxattr (h->name, name, v, len, 0);
}

static int
h_remove (struct walk *w, const struct handle *h, const char *name)
{
  int r;
  if (h->fd >= 0)
    r = fremovexattr (h->fd, name);
  else if (h_chdir (w, h->dirfd) < 0)
    return -1;
  else
    r = lremovexattr (h->name, name);
  return r < 0 && errno == ENODATA ? 0 : r;
}

void
meta_free (struct meta *m)
{
  free (m->redirect);
  m->redirect = NULL;
}

static int
classify_one (struct walk *w, const struct handle *h, const struct stat *st, bool have_lower,
              const char *name, struct meta *m, nsfd_error_t *err)
{
  char out[XATTR_NAME_MAX + 32], msg[XATTR_NAME_MAX + 160], v[PATH_MAX];
  ssize_t n;

  switch (nsfd_import_xattr_rule (name, out, sizeof (out)))
    {
    case NSFD_XA_COPY:
      m->rewrite |= strcmp (out, name) != 0;
      return 0;
    case NSFD_XA_DROP:
      m->rewrite = true;
      return 0;
    case NSFD_XA_OPAQUE:
      n = h_get (w, h, name, v, sizeof (v));
      if (n == 1 && v[0] == 'y')
        m->opaque = true;
      else if (!(n == 1 && v[0] == 'x'))
        {
          snprintf (msg, sizeof (msg), "%s has an unknown value", name);
          walk_refuse (w, msg);
        }
      m->rewrite |= !(n == 1 && v[0] == 'y' && strcmp (name, OPAQUE) == 0);
      return 0;
    case NSFD_XA_WHITEOUT:
      m->whiteout |= (S_ISREG (st->st_mode) && st->st_size == 0) || S_ISFIFO (st->st_mode);
      m->rewrite = true;
      return 0;
    case NSFD_XA_REDIRECT:
      n = h_get (w, h, name, v, sizeof (v) - 1);
      if (n <= 0)
        return nsfd_make_error (err, n < 0 ? errno : EINVAL, "reading %s of \"%s\"", name, walk_quote (w));
      free (m->redirect);
      if ((m->redirect = strndup (v, (size_t) n)) == NULL)
        return nsfd_make_error (err, ENOMEM, "import");
      m->rewrite = true;
      if (!have_lower)
        walk_refuse (w, "overlay.redirect (renamed; its content is in the image): "
                        "give --lower IMAGE to fill it in");
      return 0;
    case NSFD_XA_METACOPY:
      m->metacopy |= S_ISREG (st->st_mode);
      m->rewrite = true;
      if (!have_lower)
        walk_refuse (w, "overlay.metacopy (only the metadata was copied up; the data is in the image): "
                        "give --lower IMAGE to fill it in");
      return 0;
    case NSFD_XA_UNKNOWN:
      snprintf (msg, sizeof (msg), "unknown overlayfs attribute %s", name);
      walk_refuse (w, msg);
      return 0;
    }
  return 0;
}

int
entry_classify (struct walk *w, const struct handle *h, const struct stat *st, bool have_lower,
                struct meta *m, nsfd_error_t *err)
{
  ssize_t n;

  memset (m, 0, sizeof (*m));
  w->entry_refusals = 0;
  n = h_list (w, h, w->xlist, NSFD_XATTR_BUF);
  if (n < 0 && (errno == ENOTSUP || errno == ENODATA))
    n = 0;
  if (n < 0)
    return nsfd_make_error (err, errno, "listing the attributes of \"%s\"", walk_quote (w));
  m->list_len = n;
  for (char *p = w->xlist; p < w->xlist + n; p += strlen (p) + 1)
    if (classify_one (w, h, st, have_lower, p, m, err) < 0)
      return -1;
  w->st->refused += w->entry_refusals > 0;
  return 0;
}

/* One attribute carried (in_place: rewritten where it is). */
static int
apply_copy (struct walk *w, const struct handle *src, const struct handle *dst, const char *name,
            const char *out, bool in_place, nsfd_error_t *err)
{
  const struct nsfd_import_opts *o = w->o;
  size_t len;
  ssize_t n;
  int remapped;

  if (in_place && strcmp (name, CAPS) == 0 && w->cap_len > 0)
    {
      /* The chown of a shift removed it; write the value read before. */
      memcpy (w->xval, w->cap, w->cap_len);
      n = (ssize_t) w->cap_len;
    }
  else
    n = h_get (w, src, name, w->xval, NSFD_XATTR_BUF);
  if (n < 0 && errno == ENODATA)
    return 0;
  if (n < 0)
    return nsfd_make_error (err, errno, "reading attribute %s of \"%s\"", name, walk_quote (w));
  len = (size_t) n;
  remapped = nsfd_import_remap_value (name, w->xval, &len, o->shifts, o->n_shifts);
  if (remapped < 0)
    return nsfd_make_error (err, EINVAL, "attribute %s of \"%s\" is malformed", name, walk_quote (w));
  if (strcmp (out, name) != 0)
    w->st->converted++;
  if (in_place && strcmp (out, name) == 0 && !remapped && !(strcmp (name, CAPS) == 0 && w->cap_len))
    return 0;
  if (h_set (w, dst, out, w->xval, len) < 0)
    return nsfd_make_error (err, errno, "setting attribute %s on \"%s\"", out, walk_quote (w));
  if (in_place && strcmp (out, name) != 0 && h_remove (w, src, name) < 0)
    return nsfd_make_error (err, errno, "removing attribute %s of \"%s\"", name, walk_quote (w));
  return 0;
}

/* overlay.opaque: "y" is written as trusted.overlay.opaque once; "x" (a
 * directory holding 6.7+ whiteouts, which become devices) is dropped. */
static int
apply_opaque (struct walk *w, const struct handle *src, const struct handle *dst, const char *name,
              const struct meta *m, bool in_place, bool *done, nsfd_error_t *err)
{
  bool trusted = strcmp (name, OPAQUE) == 0;
  if (!m->opaque)
    {
      w->st->stripped++;
      if (in_place && h_remove (w, src, name) < 0)
        return nsfd_make_error (err, errno, "removing attribute %s of \"%s\"", name, walk_quote (w));
      return 0;
    }
  if (in_place && trusted)
    return 0;
  if (!*done && h_set (w, dst, OPAQUE, "y", 1) < 0)
    return nsfd_make_error (err, errno, "marking \"%s\" opaque", walk_quote (w));
  *done = true;
  if (!trusted)
    w->st->converted++;
  if (in_place && h_remove (w, src, name) < 0)
    return nsfd_make_error (err, errno, "removing attribute %s of \"%s\"", name, walk_quote (w));
  return 0;
}

int
entry_apply_xattrs (struct walk *w, const struct handle *src, const struct handle *dst,
                    const struct meta *m, bool in_place, nsfd_error_t *err)
{
  char out[XATTR_NAME_MAX + 32];
  bool opaque_done = false;

  for (char *p = w->xlist; p < w->xlist + m->list_len; p += strlen (p) + 1)
    {
      enum nsfd_xattr_action a = nsfd_import_xattr_rule (p, out, sizeof (out));
      int r = 0;
      if (a == NSFD_XA_COPY)
        r = apply_copy (w, src, dst, p, out, in_place, err);
      else if (a == NSFD_XA_OPAQUE)
        r = apply_opaque (w, src, dst, p, m, in_place, &opaque_done, err);
      else if (a != NSFD_XA_UNKNOWN)
        {
          w->st->stripped += a == NSFD_XA_DROP;
          if (in_place && h_remove (w, src, p) < 0)
            r = nsfd_make_error (err, errno, "removing attribute %s of \"%s\"", p, walk_quote (w));
        }
      if (r < 0)
        return -1;
    }
  return 0;
}

/* off..off+len of in to the same place in out: copy_file_range (which can
 * share blocks), read/write where the kernel cannot. */
static int
copy_range (struct walk *w, int in, int out, off_t off, off_t len, nsfd_error_t *err)
{
  off_t end = off + len;
  while (off < end)
    {
      off_t o_in = off, o_out = off;
      ssize_t n = copy_file_range (in, &o_in, out, &o_out, (size_t) (end - off), 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
        {
          n = pread (in, w->iobuf, (size_t) (end - off < IOBUF ? end - off : IOBUF), off);
          if (n > 0 && pwrite (out, w->iobuf, (size_t) n, off) != n)
            return nsfd_make_error (err, errno ? errno : EIO, "writing \"%s\"", walk_quote (w));
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return nsfd_make_error (err, errno, "copying \"%s\"", walk_quote (w));
      if (n == 0)
        break; /* the source shrank while we copied */
      off += n;
      w->st->bytes += (unsigned long long) n;
    }
  return 0;
}

int
entry_copy_data (struct walk *w, int in, int out, const struct stat *st, nsfd_error_t *err)
{
  off_t pos = 0, size = st->st_size;

  if (size == 0)
    return 0;
  if ((off_t) st->st_blocks * 512 >= size)
    return copy_range (w, in, out, 0, size, err);
  /* Sparse: copy the data segments, leave the holes. */
  while (pos < size)
    {
      off_t data = lseek (in, pos, SEEK_DATA), hole;
      if (data < 0 && errno == ENXIO)
        break;
      if (data < 0)
        return copy_range (w, in, out, pos, size - pos, err);
      hole = lseek (in, data, SEEK_HOLE);
      if (hole < 0 || hole > size)
        hole = size;
      if (copy_range (w, in, out, data, hole - data, err) < 0)
        return -1;
      pos = hole;
    }
  if (ftruncate (out, size) < 0)
    return nsfd_make_error (err, errno, "setting the size of \"%s\"", walk_quote (w));
  return 0;
}

int
entry_set_owner_mode (struct walk *w, const struct handle *h, const struct stat *st, nsfd_error_t *err)
{
  uid_t uid = (uid_t) nsfd_idshift_apply (w->o->shifts, w->o->n_shifts, st->st_uid);
  gid_t gid = (gid_t) nsfd_idshift_apply (w->o->shifts, w->o->n_shifts, st->st_gid);
  mode_t mode = st->st_mode & 07777;
  int r;

  r = h->fd >= 0 ? fchown (h->fd, uid, gid) : fchownat (h->dirfd, h->name, uid, gid, AT_SYMLINK_NOFOLLOW);
  if (r < 0)
    return nsfd_make_error (err, errno, "setting the owner of \"%s\"", walk_quote (w));
  if (S_ISLNK (st->st_mode))
    return 0;
  /* The entry is one we made (never a symlink), so fchmodat follows nothing. */
  r = h->fd >= 0 ? fchmod (h->fd, mode) : fchmodat (h->dirfd, h->name, mode, 0);
  if (r < 0)
    return nsfd_make_error (err, errno, "setting the mode of \"%s\"", walk_quote (w));
  return 0;
}

int
entry_set_times (struct walk *w, const struct handle *h, const struct stat *st, nsfd_error_t *err)
{
  struct timespec ts[2] = { st->st_atim, st->st_mtim };
  int r = h->fd >= 0 ? futimens (h->fd, ts) : utimensat (h->dirfd, h->name, ts, AT_SYMLINK_NOFOLLOW);
  if (r < 0)
    return nsfd_make_error (err, errno, "setting the times of \"%s\"", walk_quote (w));
  return 0;
}

int
entry_open_lower_file (struct walk *w, const char *rel, struct stat *st, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  fd = nsfd_open_beneath (w->o->lower_fd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0, err);
  if (fd < 0)
    return nsfd_error_wrap (err, "the data of \"%s\" in the lower", walk_quote (w));
  if (fstat (fd, st) < 0 || !S_ISREG (st->st_mode))
    return nsfd_make_error (err, EINVAL, "the data of \"%s\": \"%s\" in the lower is not a regular file",
                            walk_quote (w), rel);
  return nsfd_take_fd (&fd);
}
