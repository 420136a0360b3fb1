#include "layer-scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "safepath.h"

/* One directory being listed: its names in one buffer, sorted. */
struct frame
{
  int fd;
  char *buf;            /* names, NUL-terminated, back to back */
  size_t *off;          /* sorted offsets into buf */
  size_t n, next;
  size_t path_len;      /* length of this directory's path */
  size_t name_off;      /* where its name starts in the path */
  struct stat st;
  bool opaque;
};

/* Multiply-linked inodes seen so far: (dev, ino) -> first path.  Open
 * addressing; the only structure that grows with the tree. */
struct link_table
{
  struct link_slot { dev_t dev; ino_t ino; char *path; } *slot;
  size_t cap, used;
};

struct walk
{
  const struct nsfd_scan_ops *ops;
  struct frame *stack;
  size_t depth, cap;
  char *path;
  size_t path_cap;
  struct link_table links;
  unsigned max_depth;
};

const char *
nsfd_scan_type_name (enum nsfd_scan_type t)
{
  static const char *const names[] = { "file", "dir", "symlink", "char", "block", "fifo", "socket", "whiteout" };
  return (unsigned) t < NSFD_ARRAY_SIZE (names) ? names[t] : "unknown";
}

enum nsfd_scan_type
nsfd_scan_type_of (const struct stat *st)
{
  switch (st->st_mode & S_IFMT)
    {
    case S_IFDIR: return NSFD_FT_DIR;
    case S_IFLNK: return NSFD_FT_SYMLINK;
    case S_IFCHR: return st->st_rdev == makedev (0, 0) ? NSFD_FT_WHITEOUT : NSFD_FT_CHAR;
    case S_IFBLK: return NSFD_FT_BLOCK;
    case S_IFIFO: return NSFD_FT_FIFO;
    case S_IFSOCK: return NSFD_FT_SOCKET;
    default: return NSFD_FT_FILE;
    }
}

static void
frame_free (struct frame *f)
{
  nsfd_closep (&f->fd);
  free (f->buf);
  free (f->off);
  f->buf = NULL;
  f->off = NULL;
}

static int
cmp_names (const void *a, const void *b, void *buf)
{
  return strcmp ((const char *) buf + *(const size_t *) a, (const char *) buf + *(const size_t *) b);
}

/* Reads all names of the directory f->fd (but "." and "..") and sorts them. */
static int
frame_list (struct frame *f, const char *path, nsfd_error_t *err)
{
  size_t len = 0, cap = 4096, ocap = 64;
  int dfd = fcntl (f->fd, F_DUPFD_CLOEXEC, 3);
  cleanup_dir DIR *d = dfd >= 0 ? fdopendir (dfd) : NULL;
  struct dirent *de;

  if (d == NULL)
    {
      if (dfd >= 0)
        close (dfd);
      return nsfd_make_error (err, errno, "listing \"/%s\"", path);
    }
  rewinddir (d); /* the dup shares the offset of an fd the caller may have read */
  f->buf = malloc (cap);
  f->off = malloc (ocap * sizeof (size_t));
  if (!f->buf || !f->off)
    return nsfd_make_error (err, ENOMEM, "listing \"/%s\"", path);
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      size_t nl = strlen (de->d_name) + 1;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (len + nl > cap || f->n == ocap)
        {
          char *nb = len + nl > cap ? realloc (f->buf, cap = (cap + nl) * 2) : f->buf;
          size_t *no = f->n == ocap ? realloc (f->off, (ocap *= 2) * sizeof (size_t)) : f->off;
          if (nb)
            f->buf = nb;
          if (no)
            f->off = no;
          if (!nb || !no)
            return nsfd_make_error (err, ENOMEM, "listing \"/%s\"", path);
        }
      memcpy (f->buf + len, de->d_name, nl);
      f->off[f->n++] = len;
      len += nl;
    }
  if (errno != 0)
    return nsfd_make_error (err, errno, "listing \"/%s\"", path);
  qsort_r (f->off, f->n, sizeof (size_t), cmp_names, f->buf);
  return 0;
}

static size_t
link_hash (dev_t dev, ino_t ino, size_t cap)
{
  uint64_t h = ((uint64_t) dev * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t) ino * 0xc2b2ae3d27d4eb4fULL);
  return (size_t) (h ^ (h >> 29)) & (cap - 1);
}

static int
link_grow (struct link_table *t)
{
  size_t ncap = t->cap ? t->cap * 2 : 1024;
  struct link_slot *ns = calloc (ncap, sizeof (*ns));
  if (ns == NULL)
    return -1;
  for (size_t i = 0; i < t->cap; i++)
    if (t->slot[i].path)
      {
        size_t j = link_hash (t->slot[i].dev, t->slot[i].ino, ncap);
        while (ns[j].path)
          j = (j + 1) & (ncap - 1);
        ns[j] = t->slot[i];
      }
  free (t->slot);
  t->slot = ns;
  t->cap = ncap;
  return 0;
}

/* The first path of (dev, ino), or NULL after recording path as it. */
static const char *
link_lookup (struct link_table *t, const struct stat *st, const char *path, int *oom)
{
  size_t j;
  if ((t->used + 1) * 2 > t->cap && link_grow (t) < 0)
    return (*oom = 1), NULL;
  for (j = link_hash (st->st_dev, st->st_ino, t->cap); t->slot[j].path; j = (j + 1) & (t->cap - 1))
    if (t->slot[j].dev == st->st_dev && t->slot[j].ino == st->st_ino)
      return t->slot[j].path;
  t->slot[j].path = strdup (path);
  if (t->slot[j].path == NULL)
    return (*oom = 1), NULL;
  t->slot[j].dev = st->st_dev;
  t->slot[j].ino = st->st_ino;
  t->used++;
  return NULL;
}

static int
path_append (struct walk *w, size_t at, const char *name)
{
  size_t nl = strlen (name), need = at + 1 + nl + 1;
  if (need > w->path_cap)
    {
      size_t ncap = need * 2;
      char *np = realloc (w->path, ncap);
      if (np == NULL)
        return -1;
      w->path = np;
      w->path_cap = ncap;
    }
  if (at > 0)
    w->path[at++] = '/';
  memcpy (w->path + at, name, nl + 1);
  return (int) (at + nl);
}

static bool
read_opaque (int fd)
{
  char v[4];
  ssize_t n = fgetxattr (fd, NSFD_XATTR_OPAQUE, v, sizeof (v));
  return n == 1 && v[0] == 'y';
}

/* Pushes the directory name (in the top frame, or the root when fd >= 0). */
static int
push_dir (struct walk *w, int fd, const struct stat *st, size_t path_len, size_t name_off, nsfd_error_t *err)
{
  struct frame *f;
  if (w->depth == w->cap)
    {
      size_t ncap = w->cap ? w->cap * 2 : 64;
      struct frame *ns = realloc (w->stack, ncap * sizeof (*ns));
      if (ns == NULL)
        {
          close (fd);
          return nsfd_make_error (err, ENOMEM, "walking \"/%s\"", w->path);
        }
      w->stack = ns;
      w->cap = ncap;
    }
  f = &w->stack[w->depth++];
  memset (f, 0, sizeof (*f));
  f->fd = fd;
  f->st = *st;
  f->path_len = path_len;
  f->name_off = name_off;
  f->opaque = read_opaque (fd);
  return frame_list (f, w->path, err);
}

static void
fill_dir_entry (struct walk *w, struct frame *f, struct nsfd_scan_entry *e)
{
  memset (e, 0, sizeof (*e));
  e->parent_fd = w->depth >= 2 ? w->stack[w->depth - 2].fd : -1;
  e->fd = f->fd;
  w->path[f->path_len] = '\0';
  e->path = w->path;
  e->path_len = f->path_len;
  e->name = w->path + f->name_off;
  e->depth = (unsigned) (w->depth - 1);
  e->st = f->st;
  e->type = NSFD_FT_DIR;
  e->opaque = f->opaque;
}

/* Pops the top directory, calling leave for it. */
static int
pop_dir (struct walk *w, nsfd_error_t *err)
{
  struct frame *f = &w->stack[w->depth - 1];
  int r = 0;
  if (w->ops->leave && (w->depth > 1 || w->ops->include_root))
    {
      struct nsfd_scan_entry e;
      fill_dir_entry (w, f, &e);
      r = w->ops->leave (&e, w->ops->data, err);
    }
  frame_free (f);
  w->depth--;
  return r < 0 ? -1 : 0;
}

/* Opens the child directory e->name of its parent and checks it is the
 * inode lstat saw (a rename or a symlink swapped in is refused). */
static int
open_child_dir (int parent, const struct nsfd_scan_entry *e, nsfd_error_t *err)
{
  struct stat st;
  int fd = openat (parent, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? -ENOENT : nsfd_make_error (err, errno, "opening \"/%s\"", e->path);
  if (fstat (fd, &st) < 0 || st.st_dev != e->st.st_dev || st.st_ino != e->st.st_ino)
    {
      close (fd);
      return nsfd_make_error (err, ESTALE, "\"/%s\" changed during the walk", e->path);
    }
  return fd;
}

/* Handles the next name of the top frame: 0 done with it, 1 pushed a dir. */
static int
visit_next (struct walk *w, nsfd_error_t *err)
{
  struct frame *f = &w->stack[w->depth - 1];
  const char *name = f->buf + f->off[f->next++];
  struct nsfd_scan_entry e = { .parent_fd = f->fd, .fd = -1, .depth = (unsigned) w->depth };
  int plen = path_append (w, f->path_len, name), oom = 0, r, fd;

  if (plen < 0)
    return nsfd_make_error (err, ENOMEM, "walking");
  e.path = w->path;
  e.path_len = (size_t) plen;
  e.name = w->path + plen - strlen (name);
  if (fstatat (f->fd, name, &e.st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : nsfd_make_error (err, errno, "stat \"/%s\"", e.path);
  e.type = nsfd_scan_type_of (&e.st);
  if (e.type == NSFD_FT_DIR)
    {
      if (w->depth > w->max_depth)
        return nsfd_make_error (err, ELOOP, "\"/%.200s...\" is deeper than %u levels", e.path, w->max_depth);
      fd = open_child_dir (f->fd, &e, err);
      if (fd == -ENOENT)
        return 0;
      if (fd < 0)
        return -1;
      e.fd = fd;
      e.opaque = read_opaque (fd);
    }
  else if (w->ops->track_links && e.st.st_nlink > 1 && e.type != NSFD_FT_WHITEOUT)
    {
      e.link_first = link_lookup (&w->links, &e.st, e.path, &oom);
      if (oom)
        return nsfd_make_error (err, ENOMEM, "hard-link table");
    }
  r = w->ops->enter (&e, w->ops->data, err);
  if (r < 0 || e.type != NSFD_FT_DIR || r == 1)
    {
      if (e.fd >= 0)
        close (e.fd);
      return r < 0 ? -1 : 0;
    }
  if (push_dir (w, e.fd, &e.st, (size_t) plen, (size_t) (e.name - w->path), err) < 0)
    return -1;
  return 1;
}

static int
walk_run (struct walk *w, int root_fd, nsfd_error_t *err)
{
  struct stat st;
  int fd = fcntl (root_fd, F_DUPFD_CLOEXEC, 3);

  if (fd < 0 || fstat (fd, &st) < 0)
    return nsfd_make_error (err, errno, "walking the tree");
  w->path = calloc (1, w->path_cap = 4096);
  if (w->path == NULL)
    {
      close (fd);
      return nsfd_make_error (err, ENOMEM, "walking the tree");
    }
  if (push_dir (w, fd, &st, 0, 0, err) < 0)
    return -1;
  if (w->ops->include_root)
    {
      struct nsfd_scan_entry e;
      int r;
      fill_dir_entry (w, &w->stack[0], &e);
      r = w->ops->enter (&e, w->ops->data, err);
      if (r < 0)
        return -1;
      if (r == 1)
        w->stack[0].next = w->stack[0].n;
    }
  while (w->depth > 0)
    {
      struct frame *f = &w->stack[w->depth - 1];
      if (f->next == f->n)
        {
          if (pop_dir (w, err) < 0)
            return -1;
          continue;
        }
      if (visit_next (w, err) < 0)
        return -1;
    }
  return 0;
}

int
nsfd_scan (int root_fd, const struct nsfd_scan_ops *ops, nsfd_error_t *err)
{
  struct walk w = { .ops = ops, .max_depth = ops->max_depth ? ops->max_depth : NSFD_SCAN_MAX_DEPTH };
  int r = walk_run (&w, root_fd, err);

  while (w.depth > 0)
    frame_free (&w.stack[--w.depth]);
  free (w.stack);
  free (w.path);
  for (size_t i = 0; i < w.links.cap; i++)
    free (w.links.slot[i].path);
  free (w.links.slot);
  return r;
}
