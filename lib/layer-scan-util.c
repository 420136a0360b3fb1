/* What the layer tools do with one entry of a walk (layer-scan.h): read its
 * xattrs without following it, open it as a regular file without blocking,
 * and print its name safely. */
#include "layer-scan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "safepath.h"

/* Linux's own limits (XATTR_LIST_MAX, XATTR_SIZE_MAX). */
#define LIST_MAX 65536
#define VALUE_MAX 65536
/* All values of one entry together (ext4 keeps them in one block). */
#define TOTAL_MAX (1024 * 1024)

void
nsfd_xattrs_free (struct nsfd_xattrs *x)
{
  free (x->v);
  free (x->names);
  free (x->values);
  memset (x, 0, sizeof (*x));
}

static int
cmp_xattr (const void *a, const void *b)
{
  return strcmp (((const struct nsfd_xattr *) a)->name, ((const struct nsfd_xattr *) b)->name);
}

/* Reads every value of the list in x->names (len bytes) through fd when
 * it is a real fd, else through the /proc path p. */
static int
read_values (int fd, const char *p, size_t len, struct nsfd_xattrs *x, const char *what, nsfd_error_t *err)
{
  size_t count = 0, used = 0;
  for (size_t i = 0; i < len; i += strlen (x->names + i) + 1)
    count++;
  free (x->v);
  x->v = calloc (count ? count : 1, sizeof (*x->v));
  if (x->v == NULL)
    return nsfd_make_error (err, ENOMEM, "xattrs of \"/%s\"", what);
  for (size_t i = 0; i < len; i += strlen (x->names + i) + 1)
    {
      ssize_t n;
      if (x->values_cap - used < VALUE_MAX)
        {
          if (used > TOTAL_MAX)
            return nsfd_make_error (err, E2BIG, "xattrs of \"/%s\" exceed %d bytes", what, TOTAL_MAX);
          char *nv = realloc (x->values, x->values_cap = used + VALUE_MAX * 2);
          if (nv == NULL)
            return nsfd_make_error (err, ENOMEM, "xattrs of \"/%s\"", what);
          x->values = nv;
        }
      n = fd >= 0 ? fgetxattr (fd, x->names + i, x->values + used, VALUE_MAX)
                  : getxattr (p, x->names + i, x->values + used, VALUE_MAX);
      if (n < 0 && errno == ENODATA)
        continue; /* removed since the list was read */
      if (n < 0)
        return nsfd_make_error (err, errno, "reading xattr \"%s\" of \"/%s\"", x->names + i, what);
      x->v[x->n].name = x->names + i;
      x->v[x->n].len = (size_t) n;
      x->v[x->n++].value = (const char *) (uintptr_t) used; /* an offset until values stops moving */
      used += (size_t) n;
    }
  for (size_t i = 0; i < x->n; i++)
    x->v[i].value = x->values + (uintptr_t) x->v[i].value;
  qsort (x->v, x->n, sizeof (*x->v), cmp_xattr);
  return 0;
}

int
nsfd_xattrs_read_at (int dirfd, const char *name, int fd, struct nsfd_xattrs *x, nsfd_error_t *err)
{
  cleanup_close int own = -1;
  char p[32];
  ssize_t len;
  const char *what = name ? name : ".";

  x->n = 0;
  if (fd < 0)
    {
      own = openat (dirfd, name ? name : ".", O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (own < 0)
        return nsfd_make_error (err, errno, "opening \"/%s\"", what);
      fd = own;
    }
  if (x->names == NULL && (x->names = malloc (LIST_MAX)) == NULL)
    return nsfd_make_error (err, ENOMEM, "xattrs");
  /* An O_PATH fd (also of a symlink, whose own xattrs it reads) through
   * /proc/self/fd, which never resolves a path in the tree; the caller's
   * real fd directly. */
  nsfd_fd_path (fd, p);
  len = own >= 0 ? listxattr (p, x->names, LIST_MAX) : flistxattr (fd, x->names, LIST_MAX);
  if (len < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
    return 0;
  if (len < 0)
    return nsfd_make_error (err, errno, "listing xattrs of \"/%s\"", what);
  return read_values (own >= 0 ? -1 : fd, p, (size_t) len, x, what, err);
}

int
nsfd_xattrs_read (const struct nsfd_scan_entry *e, int fd, struct nsfd_xattrs *x, nsfd_error_t *err)
{
  if (fd < 0 && e->fd >= 0)
    fd = e->fd;
  if (nsfd_xattrs_read_at (e->parent_fd >= 0 ? e->parent_fd : e->fd, e->parent_fd >= 0 ? e->name : NULL, fd,
                           x, err) < 0)
    return nsfd_error_wrap (err, "\"/%s\"", e->path);
  return 0;
}

int
nsfd_scan_open_file (const struct nsfd_scan_entry *e, nsfd_error_t *err)
{
  struct stat st;
  int fd;

  if (e->type != NSFD_FT_FILE)
    return nsfd_make_error (err, EINVAL, "\"/%s\" is not a regular file", e->path);
  /* O_NONBLOCK: if a fifo was swapped in since lstat, open does not wait
   * for a writer; fstat below then refuses it. */
  fd = openat (e->parent_fd, e->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening \"/%s\"", e->path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_dev != e->st.st_dev || st.st_ino != e->st.st_ino)
    {
      close (fd);
      return nsfd_make_error (err, ESTALE, "\"/%s\" changed during the walk", e->path);
    }
  return fd;
}

const char *
nsfd_escape_name (const char *s, char *out, size_t cap)
{
  size_t o = 0;
  for (; *s && o + 8 < cap; s++)
    {
      unsigned char c = (unsigned char) *s;
      if (c == '\n')
        o += (size_t) snprintf (out + o, cap - o, "\\n");
      else if (c == '\t')
        o += (size_t) snprintf (out + o, cap - o, "\\t");
      else if (c == '\\')
        o += (size_t) snprintf (out + o, cap - o, "\\\\");
      else if (c < 0x20 || c == 0x7f)
        o += (size_t) snprintf (out + o, cap - o, "\\x%02x", c);
      else
        out[o++] = (char) c;
    }
  if (*s && cap >= 4)
    {
      o = o + 4 < cap ? o : cap - 4;
      memcpy (out + o, "...", 3);
      o += 3;
    }
  out[o] = '\0';
  return out;
}
