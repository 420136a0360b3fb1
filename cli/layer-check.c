#include "layer-check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer-scan.h"

void
lc_report_free (struct lc_report *r)
{
  free (r->v);
  memset (r, 0, sizeof (*r));
}

void
lc_drop (struct lc_report *r, const char *code)
{
  size_t o = 0;
  for (size_t i = 0; i < r->n; i++)
    if (strcmp (r->v[i].code, code) != 0)
      r->v[o++] = r->v[i];
  r->n = o;
}

static void __attribute__ ((format (printf, 5, 6)))
add (struct lc_report *r, const char *code, const char *path, bool repairable, const char *fmt, ...)
{
  size_t same = 0;
  va_list ap;
  struct lc_problem *p;

  for (size_t i = 0; i < r->n; i++)
    same += strcmp (r->v[i].code, code) == 0;
  if (same >= LC_SHOW_PER_CODE)
    {
      r->hidden++;
      return;
    }
  if (r->n == r->cap)
    {
      size_t ncap = r->cap ? r->cap * 2 : 16;
      struct lc_problem *nv = realloc (r->v, ncap * sizeof (*nv));
      if (nv == NULL)
        {
          r->hidden++;
          return;
        }
      r->v = nv;
      r->cap = ncap;
    }
  p = &r->v[r->n++];
  snprintf (p->code, sizeof (p->code), "%s", code);
  snprintf (p->path, sizeof (p->path), "%s", path);
  p->repairable = repairable;
  va_start (ap, fmt);
  vsnprintf (p->message, sizeof (p->message), fmt, ap);
  va_end (ap);
}

/* A directory of the layer: real, owned by uid (unless -1), with mode
 * exactly want (unless 0) and never writable by group or others. */
static void
check_dir (struct lc_report *r, int dir_fd, const char *name, const char *code, uid_t uid, mode_t want)
{
  struct stat st;
  const char *shown = strcmp (name, ".") == 0 ? "the layer directory" : name;
  if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return add (r, code, name, false, "%s is missing (%s)", shown, strerror (errno));
  if (!S_ISDIR (st.st_mode))
    return add (r, code, name, false, "%s is not a directory", shown);
  if (uid != (uid_t) -1 && st.st_uid != uid)
    add (r, code, name, false, "%s is owned by %u, not %u", shown, (unsigned) st.st_uid, (unsigned) uid);
  if (want && (st.st_mode & 07777) != want)
    add (r, code, name, false, "%s has mode %04o, not %04o", shown, (unsigned) (st.st_mode & 07777), (unsigned) want);
  else if (st.st_mode & 022)
    add (r, code, name, false, "%s is writable by group or others (mode %04o)", shown, (unsigned) (st.st_mode & 07777));
}

/* 1 when the directory name in dirfd holds nothing but whiteouts (char
 * 0:0): since Linux 5.8 overlayfs keeps one shared whiteout in work/work
 * (hard-linked to every whiteout it makes) and leaves it there on unmount;
 * the next mount clears it. */
static int
only_whiteouts (int parent, const char *name)
{
  int fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_dir DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;
  struct stat st;
  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return 0;
    }
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || nsfd_scan_type_of (&st) != NSFD_FT_WHITEOUT)
        return 0;
    }
  return 1;
}

/* work/ of a layer nobody mounts holds nothing but the work/ and index/ the
 * kernel leaves behind, with at most its shared whiteout. */
static void
check_work (const struct lt_layer *l, struct lc_report *r)
{
  int fd = openat (l->dir_fd, NSFD_LAYER_WORK, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_dir DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;
  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  while ((de = readdir (d)))
    {
      const char *n = de->d_name;
      if (strcmp (n, ".") == 0 || strcmp (n, "..") == 0)
        continue;
      if ((strcmp (n, "work") == 0 || strcmp (n, "index") == 0) && only_whiteouts (dirfd (d), n) == 1)
        continue;
      r->work_dirty = true;
      add (r, "work-not-empty", NSFD_LAYER_WORK, true,
           "work/ holds \"%.200s\" although no container uses the layer (left by an interrupted mount)", n);
      return;
    }
}

static void
check_holder (const struct lt_layer *l, struct lc_report *r)
{
  char c[256];
  if (l->holder_state < 0)
    add (r, "holder-unreadable", NSFD_LAYER_HOLDER, false, "%s cannot be read (not a regular file?)",
         NSFD_LAYER_HOLDER);
  else if (l->holder_state == 2)
    {
      r->holder_stale = true;
      add (r, "holder-unreadable", NSFD_LAYER_HOLDER, true, "%s is not valid JSON (treated as stale)",
           NSFD_LAYER_HOLDER);
    }
  else if (l->holder_state == 1 && !l->live)
    {
      r->holder_stale = true;
      add (r, "stale-holder", NSFD_LAYER_HOLDER, true, "%s names container \"%s\" whose process is gone",
           NSFD_LAYER_HOLDER, nsfd_escape_name (l->holder.container, c, sizeof (c)));
    }
}

struct walk_ctx
{
  struct lc_report *r;
  struct nsfd_xattrs x;
};

/* The xattrs overlayfs would misread, or that this layer format never has. */
static void
check_xattrs (struct lc_report *r, const struct nsfd_scan_entry *e, const struct nsfd_xattrs *x, const char *p)
{
  for (size_t i = 0; i < x->n; i++)
    {
      const char *n = x->v[i].name;
      if (strncmp (n, "user.overlay.", 13) == 0)
        add (r, "userxattr", p, false, "%s: %s is the userxattr form; this layer is mounted with trusted.overlay.*", p, n);
      else if (strcmp (n, "trusted.overlay.redirect") == 0)
        add (r, "redirect", p, false, "%s: %s (redirect_dir=off mounts would misread it)", p, n);
      else if (strcmp (n, "trusted.overlay.metacopy") == 0)
        add (r, "metacopy", p, false, "%s: %s (metacopy=off mounts would see an empty file)", p, n);
      else if (strcmp (n, "trusted.overlay.whiteout") == 0 || strcmp (n, "trusted.overlay.whiteouts") == 0)
        add (r, "bad-whiteout", p, false, "%s: %s marks an xattr-form whiteout; the layer format uses char 0:0", p, n);
      else if (strcmp (n, NSFD_XATTR_OPAQUE) == 0 && (e->type != NSFD_FT_DIR || x->v[i].len != 1 || x->v[i].value[0] != 'y'))
        add (r, "bad-opaque", p, false, "%s: %s on a %s with value \"%.*s\"", p, n, nsfd_scan_type_name (e->type),
            (int) (x->v[i].len < 8 ? x->v[i].len : 8), x->v[i].value);
    }
  if (e->type == NSFD_FT_WHITEOUT && e->st.st_size != 0)
    add (r, "bad-whiteout", p, false, "%s: a whiteout with data (%lld bytes)", p, (long long) e->st.st_size);
}

static int
walk_cb (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err)
{
  struct walk_ctx *w = data;
  char p[600], esc[500];

  snprintf (p, sizeof (p), "upper/%s", nsfd_escape_name (e->path, esc, sizeof (esc)));
  if (strncmp (e->name, ".wh.", 4) == 0)
    add (w->r, "wh-name", p, false, "%s: a name starting with \".wh.\" reads as a whiteout in an OCI layer", p);
  if (nsfd_xattrs_read (e, -1, &w->x, err) < 0)
    return -1;
  check_xattrs (w->r, e, &w->x, p);
  return 0;
}

int
lc_check (const struct lt_layer *l, struct lc_report *r, nsfd_error_t *err)
{
  struct lt_meta m;
  struct walk_ctx w = { .r = r };
  struct nsfd_scan_ops ops = { .enter = walk_cb, .data = &w };
  int ret = 0;

  lt_read_meta (l->dir_fd, &m);
  if (!m.valid_json)
    add (r, "bad-json", NSFD_LAYER_META, false, "%s", m.problem);
  else if (!m.known_format)
    add (r, "bad-format", NSFD_LAYER_META, false, "%s", m.problem);
  check_dir (r, l->dir_fd, ".", "layer-mode", 0, 0700);
  check_dir (r, l->dir_fd, NSFD_LAYER_UPPER, "upper-mode", (uid_t) -1, 0);
  check_dir (r, l->dir_fd, NSFD_LAYER_WORK, "work-mode", 0, 0700);
  if (!l->live)
    check_work (l, r);
  check_holder (l, r);
  if (l->upper_fd >= 0)
    ret = nsfd_scan (l->upper_fd, &ops, err);
  nsfd_xattrs_free (&w.x);
  return ret;
}
