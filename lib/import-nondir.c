/* Files, symlinks, devices, fifos and sockets of an import walk: copied
 * into the target directory, or converted where they are (after --move). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "import-walk.h"

static bool
is_whiteout_dev (const struct stat *st)
{
  return S_ISCHR (st->st_mode) && st->st_rdev == makedev (0, 0);
}

/* Opens a regular file of the source without following anything and without
 * blocking (it may have been swapped for a fifo), and checks it is still the
 * inode the directory listed. */
static int
open_source_file (struct walk *w, int dirfd, const char *name, const struct stat *st, int flags,
                  nsfd_error_t *err)
{
  cleanup_close int fd = openat (dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat now;
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening \"%s\"", walk_quote (w));
  if (fstat (fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino || !S_ISREG (now.st_mode))
    return nsfd_make_error (err, EAGAIN, "\"%s\" changed while it was imported", walk_quote (w));
  return nsfd_take_fd (&fd);
}

/* Where the data of a metacopy file is in the lower. */
static char *
metacopy_source (const struct meta *m, const char *lower, const char *name)
{
  if (m->redirect && m->redirect[0] == '/')
    {
      const char *p = m->redirect;
      while (*p == '/')
        p++;
      return strdup (p);
    }
  if (lower == NULL)
    return NULL;
  return walk_join (lower, m->redirect ? m->redirect : name);
}

static int
fill_from_lower (struct walk *w, int out, const struct meta *m, const char *lower, const char *name,
                 nsfd_error_t *err)
{
  cleanup_free char *rel = metacopy_source (m, lower, name);
  cleanup_close int in = -1;
  struct stat lst;

  if (rel == NULL)
    return nsfd_make_error (err, ENOENT, "\"%s\" is a metacopy entry with no place in the lower",
                            walk_quote (w));
  in = entry_open_lower_file (w, rel, &lst, err);
  if (in < 0 || entry_copy_data (w, in, out, &lst, err) < 0)
    return -1;
  w->st->materialised++;
  return 0;
}

/* The node itself: a file (out gets its fd), a whiteout, a symlink or a
 * device/fifo/socket. */
static int
make_node (struct walk *w, struct frame *f, const char *name, const struct stat *st, const struct meta *m,
           int in, const char *lower, int *out, nsfd_error_t *err)
{
  int sdir = dirfd (f->d);
  char target[PATH_MAX];
  ssize_t n;

  if (m->whiteout || is_whiteout_dev (st))
    {
      if (mknodat (f->dst, name, S_IFCHR | 0, makedev (0, 0)) < 0)
        return nsfd_make_error (err, errno, "creating the whiteout \"%s\"", walk_quote (w));
      w->st->whiteouts += m->whiteout;
      return 0;
    }
  if (S_ISREG (st->st_mode))
    {
      *out = openat (f->dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (*out < 0)
        return nsfd_make_error (err, errno, "creating \"%s\"", walk_quote (w));
      if (m->metacopy && w->o->lower_fd >= 0)
        return fill_from_lower (w, *out, m, lower, name, err);
      return entry_copy_data (w, in, *out, st, err);
    }
  if (S_ISLNK (st->st_mode))
    {
      n = readlinkat (sdir, name, target, sizeof (target) - 1);
      if (n < 0)
        return nsfd_make_error (err, errno, "reading the symlink \"%s\"", walk_quote (w));
      target[n] = '\0';
      if (symlinkat (target, f->dst, name) < 0)
        return nsfd_make_error (err, errno, "creating the symlink \"%s\"", walk_quote (w));
      return 0;
    }
  if (mknodat (f->dst, name, st->st_mode & (S_IFMT | 0700), st->st_rdev) < 0)
    return nsfd_make_error (err, errno, "creating the special file \"%s\"", walk_quote (w));
  return 0;
}

int
entry_copy_nondir (struct walk *w, struct frame *f, const char *name, const struct stat *st,
                   const char *lower, nsfd_error_t *err)
{
  bool have_lower = w->o->lower_fd >= 0 && f->kind != F_MERGE;
  cleanup_close int in = -1;
  cleanup_close int out = -1;
  struct handle src = { -1, dirfd (f->d), name }, dst = { -1, f->dst, name };
  struct meta m;
  struct stat node = *st;
  const char *first;
  int r = -1;

  w->st->files++;
  if (st->st_nlink > 1 && (first = nsfd_links_find (&w->links, st->st_dev, st->st_ino)) != NULL)
    {
      if (linkat (w->root_dst, first, f->dst, name, 0) < 0)
        return nsfd_make_error (err, errno, "linking \"%s\" to its other name", walk_quote (w));
      w->st->hardlinks++;
      return 0;
    }
  if (S_ISREG (st->st_mode) && (in = open_source_file (w, src.dirfd, name, st, O_RDONLY, err)) < 0)
    return -1;
  src.fd = in;
  if (entry_classify (w, &src, st, have_lower, &m, err) < 0)
    goto out;
  if (make_node (w, f, name, st, &m, in, lower, &out, err) < 0)
    goto out;
  dst.fd = out;
  if (m.whiteout)
    node.st_mode = S_IFCHR; /* a 6.7+ whiteout becomes what overlayfs itself makes */
  if (entry_set_owner_mode (w, &dst, &node, err) < 0)
    goto out;
  if (!m.whiteout && entry_apply_xattrs (w, &src, &dst, &m, false, err) < 0)
    goto out;
  if (entry_set_times (w, &dst, st, err) < 0)
    goto out;
  if (st->st_nlink > 1 && nsfd_links_add (&w->links, st->st_dev, st->st_ino, w->path) < 0)
    {
      nsfd_make_error (err, ENOMEM, "hard-link table");
      goto out;
    }
  r = 0;
out:
  meta_free (&m);
  return r;
}

/* FIX: a shift's chown drops a file capability; keep its value to rewrite. */
static void
stash_caps (struct walk *w, const struct handle *h)
{
  ssize_t n = h->fd >= 0 ? fgetxattr (h->fd, "security.capability", w->cap, sizeof (w->cap)) : -1;
  w->cap_len = n > 0 ? (size_t) n : 0;
}

static int
fix_whiteout (struct walk *w, int dirfd, const char *name, const struct stat *st, nsfd_error_t *err)
{
  struct handle h = { -1, dirfd, name };
  struct stat node = *st;
  node.st_mode = S_IFCHR;
  if (unlinkat (dirfd, name, 0) < 0 || mknodat (dirfd, name, S_IFCHR | 0, makedev (0, 0)) < 0)
    return nsfd_make_error (err, errno, "turning \"%s\" into a whiteout device", walk_quote (w));
  w->st->whiteouts++;
  if (entry_set_owner_mode (w, &h, &node, err) < 0)
    return -1;
  return entry_set_times (w, &h, st, err);
}

int
entry_fix_nondir (struct walk *w, struct frame *f, const char *name, const struct stat *st,
                  const char *lower, nsfd_error_t *err)
{
  int sdir = dirfd (f->d);
  cleanup_close int fd = -1;
  struct handle h = { -1, sdir, name };
  struct meta m;
  bool shift = w->o->n_shifts > 0;
  int r = -1;

  w->st->files++;
  w->cap_len = 0;
  if (S_ISREG (st->st_mode) && (fd = open_source_file (w, sdir, name, st, O_RDONLY, err)) < 0)
    return -1;
  h.fd = fd;
  if (entry_classify (w, &h, st, w->o->lower_fd >= 0, &m, err) < 0)
    goto out;
  if (m.whiteout)
    {
      r = fix_whiteout (w, sdir, name, st, err);
      goto out;
    }
  if (m.metacopy && w->o->lower_fd >= 0)
    {
      cleanup_close int wfd = open_source_file (w, sdir, name, st, O_WRONLY, err);
      if (wfd < 0 || fill_from_lower (w, wfd, &m, lower, name, err) < 0)
        goto out;
    }
  if (shift)
    stash_caps (w, &h);
  if (shift && entry_set_owner_mode (w, &h, st, err) < 0)
    goto out;
  if ((m.rewrite || shift) && entry_apply_xattrs (w, &h, &h, &m, true, err) < 0)
    goto out;
  if ((m.metacopy || shift) && entry_set_times (w, &h, st, err) < 0)
    goto out;
  r = 0;
out:
  meta_free (&m);
  return r;
}
