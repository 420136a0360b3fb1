/* The walk of an import: an explicit stack of directories (bounded depth,
 * no recursion), the materialising of redirected directories from the
 * lower, and removing a tree the same way. */
#include "import-tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "import-walk.h"
#include "safepath.h"

#define OPAQUE "trusted.overlay.opaque"

const char *
walk_quote (struct walk *w)
{
  if (w->path_len == 0)
    return strcpy (w->q, "/");
  w->q[0] = '/';
  nsfd_import_quote (w->path, w->q + 1, sizeof (w->q) - 1);
  return w->q;
}

void
walk_refuse (struct walk *w, const char *what)
{
  w->entry_refusals++;
  if (w->o->report)
    w->o->report (w->o->ctx, w->path, what);
}

char *
walk_join (const char *dir, const char *name)
{
  char *p = NULL;
  if (dir == NULL || dir[0] == '\0')
    return strdup (name);
  if (asprintf (&p, "%s/%s", dir, name) < 0)
    return NULL;
  return p;
}

int
walk_path_push (struct walk *w, const char *name, nsfd_error_t *err)
{
  size_t n = strlen (name), need = w->path_len + n + 2;
  if (need > w->path_cap)
    {
      size_t cap = need * 2;
      char *p = realloc (w->path, cap);
      if (p == NULL)
        return nsfd_make_error (err, ENOMEM, "import path");
      w->path = p;
      w->path_cap = cap;
    }
  if (w->path_len)
    w->path[w->path_len++] = '/';
  memcpy (w->path + w->path_len, name, n + 1);
  w->path_len += n;
  return 0;
}

static void
frame_close (struct frame *f)
{
  if (f->d)
    (void) closedir (f->d);
  nsfd_closep (&f->dst);
  free (f->lower);
  memset (f, 0, sizeof (*f));
  f->dst = -1;
}

/* Takes src_fd, dst and lower whatever happens. */
static int
push (struct walk *w, enum frame_kind kind, int src_fd, int dst, const struct timespec times[2], char *lower,
      nsfd_error_t *err)
{
  struct frame *f;
  if (w->depth >= w->max_depth)
    {
      nsfd_closep (&src_fd);
      nsfd_closep (&dst);
      free (lower);
      return nsfd_make_error (err, 0, "the tree is deeper than %zu levels at \"%s\"; an overlay "
                              "upper that deep cannot be imported", w->max_depth, walk_quote (w));
    }
  f = &w->frames[w->depth];
  memset (f, 0, sizeof (*f));
  f->kind = kind;
  f->dst = dst;
  f->lower = lower;
  f->path_len = w->path_len;
  f->times[0] = times[0];
  f->times[1] = times[1];
  f->d = fdopendir (src_fd);
  if (f->d == NULL)
    {
      int e = errno;
      nsfd_closep (&src_fd);
      frame_close (f);
      return nsfd_make_error (err, e, "reading \"%s\"", walk_quote (w));
    }
  w->depth++;
  return 0;
}

static int
open_dir (struct walk *w, int dirfd, const char *name, const struct stat *st, nsfd_error_t *err)
{
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat now;
  if (fd < 0 && errno == EMFILE)
    return nsfd_make_error (err, EMFILE, "too many open files at depth %zu (\"%s\"); raise the limit "
                            "(ulimit -n)", w->depth, walk_quote (w));
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening the directory \"%s\"", walk_quote (w));
  if (fstat (fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)
    return nsfd_make_error (err, EAGAIN, "\"%s\" changed while it was imported", walk_quote (w));
  return nsfd_take_fd (&fd);
}

/* Where a directory's entries are in the lower: its redirect, or the same
 * name under the parent's place; none below an opaque directory. */
static char *
dir_lower (struct walk *w, const struct frame *f, const char *name, const struct meta *m, bool *materialise)
{
  *materialise = false;
  if (w->o->lower_fd < 0 || f->kind == F_MERGE || f->kind == F_SCAN)
    return NULL;
  if (m->redirect && !m->opaque)
    {
      *materialise = true;
      if (m->redirect[0] == '/')
        {
          const char *p = m->redirect;
          while (*p == '/')
            p++;
          return strdup (p);
        }
      return f->lower ? walk_join (f->lower, m->redirect) : NULL;
    }
  if (m->opaque || f->lower == NULL)
    return NULL;
  return walk_join (f->lower, name);
}

static int
make_dir (struct walk *w, struct frame *f, const char *name, const struct stat *st, int sfd,
          const struct meta *m, nsfd_error_t *err)
{
  struct handle src = { sfd, -1, name }, dst = { -1, f->dst, name };
  cleanup_close int dfd = -1;

  if (mkdirat (f->dst, name, 0700) < 0)
    return nsfd_make_error (err, errno, "creating the directory \"%s\"", walk_quote (w));
  dfd = openat (f->dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return nsfd_make_error (err, errno, "opening the new directory \"%s\"", walk_quote (w));
  dst.fd = dfd;
  if (entry_set_owner_mode (w, &dst, st, err) < 0 || entry_apply_xattrs (w, &src, &dst, m, false, err) < 0)
    return -1;
  return nsfd_take_fd (&dfd);
}

static int
visit_dir (struct walk *w, struct frame *f, const char *name, const struct stat *st, nsfd_error_t *err)
{
  cleanup_close int sfd = -1;
  cleanup_close int dfd = -1;
  struct handle src = { -1, -1, name };
  struct timespec times[2] = { st->st_atim, st->st_mtim };
  enum frame_kind kind = f->kind == F_MERGE ? F_COPY : f->kind;
  struct meta m;
  char *lower;
  bool mat;
  int r = -1;

  if (w->depth >= w->max_depth)
    return push (w, kind, -1, -1, times, NULL, err);
  if ((sfd = open_dir (w, dirfd (f->d), name, st, err)) < 0)
    return -1;
  src.fd = sfd;
  if (entry_classify (w, &src, st, w->o->lower_fd >= 0 && f->kind != F_MERGE, &m, err) < 0)
    goto out;
  w->st->dirs++;
  if (kind == F_COPY && (dfd = make_dir (w, f, name, st, sfd, &m, err)) < 0)
    goto out;
  if (kind == F_FIX && w->o->n_shifts && entry_set_owner_mode (w, &src, st, err) < 0)
    goto out;
  if (kind == F_FIX && (m.rewrite || w->o->n_shifts) && entry_apply_xattrs (w, &src, &src, &m, true, err) < 0)
    goto out;
  lower = dir_lower (w, f, name, &m, &mat);
  if (push (w, kind, nsfd_take_fd (&sfd), nsfd_take_fd (&dfd), times, lower, err) < 0)
    goto out;
  w->frames[w->depth - 1].materialise = mat;
  r = 0;
out:
  meta_free (&m);
  return r;
}

static bool
dst_opaque (int fd)
{
  char v[2];
  return fgetxattr (fd, OPAQUE, v, sizeof (v)) == 1 && v[0] == 'y';
}

/* F_MERGE: a lower entry the target already has is hidden by it (a file,
 * a whiteout), except a directory under a directory, which merges too. */
static int
visit_merge (struct walk *w, struct frame *f, const char *name, const struct stat *st, bool *done,
             nsfd_error_t *err)
{
  struct stat dst_st;
  cleanup_close int sfd = -1;
  cleanup_close int dfd = -1;

  *done = true;
  if (fstatat (f->dst, name, &dst_st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno != ENOENT)
        return nsfd_make_error (err, errno, "looking at \"%s\"", walk_quote (w));
      *done = false;
      return 0;
    }
  if (!S_ISDIR (st->st_mode) || !S_ISDIR (dst_st.st_mode))
    return 0;
  dfd = open_dir (w, f->dst, name, &dst_st, err);
  if (dfd < 0)
    return -1;
  if (dst_opaque (dfd))
    return 0;
  if ((sfd = open_dir (w, dirfd (f->d), name, st, err)) < 0)
    return -1;
  struct timespec times[2] = { dst_st.st_atim, dst_st.st_mtim };
  return push (w, F_MERGE, nsfd_take_fd (&sfd), nsfd_take_fd (&dfd), times, NULL, err);
}

static int
visit (struct walk *w, struct frame *f, const char *name, nsfd_error_t *err)
{
  struct stat st;
  const char *lower;
  bool done = false;
  int r;

  if (fstatat (dirfd (f->d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return nsfd_make_error (err, errno, "looking at \"%s/%s\"", walk_quote (w), name);
  if (walk_path_push (w, name, err) < 0)
    return -1;
  if (f->kind == F_MERGE && visit_merge (w, f, name, &st, &done, err) < 0)
    return -1;
  if (done)
    r = 0;
  else if (S_ISDIR (st.st_mode))
    return visit_dir (w, f, name, &st, err); /* the path stays with the new frame */
  else if (f->kind == F_SCAN)
    {
      struct handle h = { -1, dirfd (f->d), name };
      struct meta m;
      w->st->files++;
      r = entry_classify (w, &h, &st, w->o->lower_fd >= 0, &m, err);
      meta_free (&m);
    }
  else
    {
      lower = f->kind == F_MERGE ? NULL : f->lower; /* the parent's place in the lower */
      r = f->kind == F_FIX ? entry_fix_nondir (w, f, name, &st, lower, err)
                           : entry_copy_nondir (w, f, name, &st, lower, err);
    }
  w->path_len = f->path_len;
  w->path[w->path_len] = '\0';
  return r;
}

/* A redirected directory is done with its own entries: merge the lower's in
 * (a new frame above it); when that is done too, mark it opaque. */
static int
start_merge (struct walk *w, struct frame *f, nsfd_error_t *err)
{
  nsfd_error_t local = NULL;
  struct timespec omit[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
  int target = f->kind == F_FIX ? dirfd (f->d) : f->dst;
  int lfd, dfd;

  f->merged = true;
  if (f->lower == NULL)
    return 0;
  lfd = nsfd_open_beneath (w->o->lower_fd, f->lower, O_RDONLY | O_DIRECTORY, 0, &local);
  if (lfd < 0)
    {
      int e = local ? local->status : errno;
      nsfd_error_free (&local);
      if (e == ENOENT)
        return 0; /* redirected to nothing: only the upper's entries */
      return nsfd_make_error (err, e, "opening \"%s\" in the lower (the redirect of \"%s\")", f->lower,
                              walk_quote (w));
    }
  if ((dfd = dup (target)) < 0)
    {
      close (lfd);
      return nsfd_make_error (err, errno, "dup");
    }
  w->st->materialised++;
  return push (w, F_MERGE, lfd, dfd, omit, NULL, err);
}

static int
pop (struct walk *w, nsfd_error_t *err)
{
  struct frame *f = &w->frames[w->depth - 1];
  int target = f->kind == F_FIX || f->kind == F_SCAN ? dirfd (f->d) : f->dst;
  int r = 0;

  w->path_len = f->path_len;
  w->path[w->path_len] = '\0';
  if (f->materialise && !f->merged)
    return start_merge (w, f, err);
  if (f->materialise && fsetxattr (target, OPAQUE, "y", 1, 0) < 0)
    r = nsfd_make_error (err, errno, "marking \"%s\" opaque", walk_quote (w));
  if (r == 0 && f->kind != F_SCAN && futimens (target, f->times) < 0)
    r = nsfd_make_error (err, errno, "setting the times of \"%s\"", walk_quote (w));
  frame_close (f);
  w->depth--;
  w->cwd = -1; /* its fds are closed: their numbers may come back */
  if (w->depth > 0)
    {
      w->path_len = w->frames[w->depth - 1].path_len;
      w->path[w->path_len] = '\0';
    }
  return r;
}

static int
walk_loop (struct walk *w, nsfd_error_t *err)
{
  while (w->depth > 0)
    {
      struct frame *f = &w->frames[w->depth - 1];
      struct dirent *de;

      if (f->merged)
        {
          /* back from merging the lower in: the directory's own entries
           * were all seen, and must not be read again */
          if (pop (w, err) < 0)
            return -1;
          continue;
        }
      errno = 0;
      de = readdir (f->d);
      if (de == NULL)
        {
          if (errno != 0)
            return nsfd_make_error (err, errno, "reading \"%s\"", walk_quote (w));
          if (pop (w, err) < 0)
            return -1;
          continue;
        }
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (visit (w, f, de->d_name, err) < 0)
        return -1;
      if (w->o->progress && w->o->progress (w->o->ctx, w->st) != 0)
        return nsfd_make_error (err, ECANCELED, "interrupted");
    }
  return 0;
}

/* The root of the tree: the directory itself, then its frame. */
static int
walk_root (struct walk *w, enum nsfd_import_mode mode, int src_fd, int dst_parent_fd, const char *dst_name,
           nsfd_error_t *err)
{
  cleanup_close int sfd = openat (src_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int dfd = -1;
  struct handle src = { sfd, -1, "." }, dst = { -1, -1, dst_name };
  struct stat st;
  struct meta m;
  enum frame_kind kind = mode == NSFD_IMPORT_COPY ? F_COPY : mode == NSFD_IMPORT_FIX ? F_FIX : F_SCAN;
  int r = -1;

  if (sfd < 0 || fstat (sfd, &st) < 0)
    return nsfd_make_error (err, errno, "opening the tree to import");
  if (entry_classify (w, &src, &st, w->o->lower_fd >= 0, &m, err) < 0)
    return -1;
  if (mode == NSFD_IMPORT_COPY)
    {
      if (mkdirat (dst_parent_fd, dst_name, 0700) < 0
          || (dfd = openat (dst_parent_fd, dst_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        {
          r = nsfd_make_error (err, errno, "creating \"%s\"", dst_name);
          goto out;
        }
      dst.fd = dfd;
      if (entry_set_owner_mode (w, &dst, &st, err) < 0 || entry_apply_xattrs (w, &src, &dst, &m, false, err) < 0)
        goto out;
      if ((w->root_dst = dup (dfd)) < 0)
        goto out;
    }
  else if (mode == NSFD_IMPORT_FIX && ((w->o->n_shifts && entry_set_owner_mode (w, &src, &st, err) < 0)
                                       || entry_apply_xattrs (w, &src, &src, &m, true, err) < 0))
    goto out;
  struct timespec times[2] = { st.st_atim, st.st_mtim };
  r = push (w, kind, nsfd_take_fd (&sfd), nsfd_take_fd (&dfd), times,
            w->o->lower_fd >= 0 && mode != NSFD_IMPORT_SCAN ? strdup ("") : NULL, err);
out:
  meta_free (&m);
  return r;
}

static void
walk_free (struct walk *w)
{
  while (w->depth > 0)
    frame_close (&w->frames[--w->depth]);
  nsfd_links_free (&w->links);
  nsfd_closep (&w->root_dst);
  free (w->frames);
  free (w->path);
  free (w->xlist);
  free (w->xval);
  free (w->iobuf);
}

int
nsfd_import_tree (enum nsfd_import_mode mode, int src_fd, int dst_parent_fd, const char *dst_name,
                  const struct nsfd_import_opts *o, struct nsfd_import_stats *st, nsfd_error_t *err)
{
  struct walk w = { .o = o, .st = st, .root_dst = -1, .cwd = -1 };
  cleanup_close int cwd = open (".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int r;

  memset (st, 0, sizeof (*st));
  nsfd_links_init (&w.links);
  w.max_depth = o->max_depth ? o->max_depth : NSFD_IMPORT_MAX_DEPTH;
  w.frames = calloc (w.max_depth + 1, sizeof (*w.frames));
  w.path_cap = 4096;
  w.path = calloc (1, w.path_cap);
  w.xlist = malloc (NSFD_XATTR_BUF);
  w.xval = malloc (NSFD_XATTR_BUF);
  w.iobuf = malloc (1024 * 1024);
  if (!w.frames || !w.path || !w.xlist || !w.xval || !w.iobuf)
    r = nsfd_make_error (err, ENOMEM, "import");
  else
    r = walk_root (&w, mode, src_fd, dst_parent_fd, dst_name, err);
  if (r == 0)
    r = walk_loop (&w, err);
  walk_free (&w);
  if (cwd >= 0)
    (void) fchdir (cwd); /* attributes of symlinks and devices are read by name from their directory */
  if (r == 0 && st->refused > 0)
    return nsfd_make_error (err, 0,
                            "%llu entr%s cannot be carried over as %s (listed above); nothing was imported",
                            st->refused, st->refused == 1 ? "y" : "ies", st->refused == 1 ? "it is" : "they are");
  return r;
}

int
nsfd_import_rm_tree (int parent_fd, const char *name, nsfd_error_t *err)
{
  struct rm_frame
  {
    DIR *d;
    char *name;
  } *stack = NULL;
  size_t depth = 0, cap = 2 * NSFD_IMPORT_MAX_DEPTH + 64;
  int r = 0, fd;

  if (unlinkat (parent_fd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return nsfd_make_error (err, errno, "removing \"%s\"", name);
  if ((stack = calloc (cap, sizeof (*stack))) == NULL)
    return nsfd_make_error (err, ENOMEM, "removing \"%s\"", name);
  fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || (stack[0].d = fdopendir (fd)) == NULL || (stack[0].name = strdup (name)) == NULL)
    {
      r = nsfd_make_error (err, errno, "opening \"%s\" for removal", name);
      if (fd >= 0 && stack[0].d == NULL)
        close (fd);
      goto out;
    }
  depth = 1;
  while (depth > 0 && r == 0)
    {
      struct rm_frame *f = &stack[depth - 1];
      struct dirent *de = readdir (f->d);
      int pfd = depth > 1 ? dirfd (stack[depth - 2].d) : parent_fd;

      if (de == NULL)
        {
          if (unlinkat (pfd, f->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            r = nsfd_make_error (err, errno, "removing the directory \"%s\"", f->name);
          closedir (f->d);
          free (f->name);
          depth--;
          continue;
        }
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (unlinkat (dirfd (f->d), de->d_name, 0) == 0 || errno == ENOENT)
        continue;
      if (errno != EISDIR && errno != EPERM)
        {
          r = nsfd_make_error (err, errno, "removing \"%s\"", de->d_name);
          break;
        }
      if (depth == cap)
        {
          r = nsfd_make_error (err, 0, "\"%s\" is more than %zu levels deep; remove it by hand", name, cap);
          break;
        }
      fd = openat (dirfd (f->d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 || (stack[depth].d = fdopendir (fd)) == NULL)
        {
          r = nsfd_make_error (err, errno, "opening \"%s\" for removal", de->d_name);
          if (fd >= 0)
            close (fd);
          break;
        }
      if ((stack[depth].name = strdup (de->d_name)) == NULL)
        {
          closedir (stack[depth].d);
          r = nsfd_make_error (err, ENOMEM, "removing a tree");
          break;
        }
      depth++;
    }
out:
  while (depth > 0)
    {
      closedir (stack[depth - 1].d);
      free (stack[--depth].name);
    }
  free (stack);
  return r;
}
