/* lib/import-tree.c: the walk of an import (copy, fix in place, scan), its
 * conversions on a small tree, the depth bound and the removal of a deep
 * tree.  Needs root (trusted.* attributes, device nodes). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "import-tree.h"
#include "tap.h"
#include "testutil.h"

static char tmp[] = "/tmp/test-import-tree-XXXXXX";
static int reports;

static void
on_report (void *ctx, const char *path, const char *what)
{
  (void) ctx;
  reports++;
  printf ("# refused /%s: %s\n", path, what);
}

static int
at (const char *rel, int flags)
{
  char p[512];
  snprintf (p, sizeof (p), "%s/%s", tmp, rel);
  return open (p, flags | O_CLOEXEC);
}

static void
put (const char *rel, const char *data)
{
  char p[512];
  FILE *f;
  snprintf (p, sizeof (p), "%s/%s", tmp, rel);
  f = fopen (p, "w");
  fputs (data, f);
  fclose (f);
}

static void
mk (const char *rel)
{
  char p[512];
  snprintf (p, sizeof (p), "%s/%s", tmp, rel);
  mkdir (p, 0755);
}

static void
xset (const char *rel, const char *name, const char *v)
{
  char p[512];
  snprintf (p, sizeof (p), "%s/%s", tmp, rel);
  lsetxattr (p, name, v, strlen (v), 0);
}

static ssize_t
xget (const char *rel, const char *name, char *buf, size_t cap)
{
  char p[512];
  ssize_t n;
  snprintf (p, sizeof (p), "%s/%s", tmp, rel);
  n = lgetxattr (p, name, buf, cap - 1);
  buf[n > 0 ? n : 0] = '\0';
  return n;
}

static struct stat
st_of (const char *rel)
{
  char p[512];
  struct stat st;
  memset (&st, 0, sizeof (st));
  snprintf (p, sizeof (p), "%s/%s", tmp, rel);
  lstat (p, &st);
  return st;
}

static void
make_source (void)
{
  mk ("src");
  mk ("src/opq");
  mk ("src/wh");
  put ("src/f", "data");
  xset ("src/f", "user.overlay.origin", "x");
  xset ("src/f", "user.keep", "v");
  xset ("src/opq", "user.overlay.opaque", "y");
  put ("src/wh/gone", "");
  xset ("src/wh/gone", "user.overlay.whiteout", "");
  xset ("src/wh", "user.overlay.opaque", "x");
  {
    char p[512];
    snprintf (p, sizeof (p), "%s/src/link", tmp);
    symlink ("/etc", p);
    snprintf (p, sizeof (p), "%s/src/fifo", tmp);
    mkfifo (p, 0644);
    snprintf (p, sizeof (p), "%s/src/f2", tmp);
    char q[512];
    snprintf (q, sizeof (q), "%s/src/f", tmp);
    link (q, p);
  }
}

static void
check_converted (const char *root, const char *what)
{
  char rel[256], v[64];
  struct stat st;

  snprintf (rel, sizeof (rel), "%s/f", root);
  CHECK (xget (rel, "user.overlay.origin", v, sizeof (v)) < 0, "%s: origin stripped", what);
  CHECK (xget (rel, "user.keep", v, sizeof (v)) == 1 && strcmp (v, "v") == 0, "%s: user.keep kept", what);
  snprintf (rel, sizeof (rel), "%s/opq", root);
  CHECK (xget (rel, "trusted.overlay.opaque", v, sizeof (v)) == 1 && v[0] == 'y', "%s: opaque in trusted form", what);
  CHECK (xget (rel, "user.overlay.opaque", v, sizeof (v)) < 0, "%s: no user.overlay.opaque", what);
  snprintf (rel, sizeof (rel), "%s/wh/gone", root);
  st = st_of (rel);
  CHECK (S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0), "%s: 6.7 whiteout is a 0:0 device", what);
  snprintf (rel, sizeof (rel), "%s/wh", root);
  CHECK (xget (rel, "user.overlay.opaque", v, sizeof (v)) < 0 && xget (rel, "trusted.overlay.opaque", v, sizeof (v)) < 0,
         "%s: opaque=x dropped", what);
  snprintf (rel, sizeof (rel), "%s/link", root);
  CHECK (S_ISLNK (st_of (rel).st_mode), "%s: symlink stays a symlink", what);
  snprintf (rel, sizeof (rel), "%s/fifo", root);
  CHECK (S_ISFIFO (st_of (rel).st_mode), "%s: fifo stays a fifo", what);
  snprintf (rel, sizeof (rel), "%s/f2", root);
  st = st_of (rel);
  snprintf (rel, sizeof (rel), "%s/f", root);
  CHECK (st.st_nlink == 2 && st.st_ino == st_of (rel).st_ino, "%s: hard link kept", what);
}

static void
test_copy_scan_fix (void)
{
  nsfd_error_t err = NULL;
  struct nsfd_import_stats st;
  struct nsfd_import_opts o = { .lower_fd = -1, .report = on_report };
  cleanup_close int src = -1;
  cleanup_close int top = -1;

  make_source ();
  mk ("dst");
  src = at ("src", O_RDONLY | O_DIRECTORY);
  top = at ("dst", O_RDONLY | O_DIRECTORY);
  CHECK (nsfd_import_tree (NSFD_IMPORT_COPY, src, top, "upper", &o, &st, &err) == 0, "copy: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (st.whiteouts == 1 && st.hardlinks == 1 && st.converted == 1, "copy counts (whiteouts %llu, links %llu, "
         "converted %llu)", st.whiteouts, st.hardlinks, st.converted);
  check_converted ("dst/upper", "copy");
  CHECK (xget ("src/opq", "user.overlay.opaque", (char[8]){ 0 }, 8) == 1, "copy leaves the source alone");

  /* A redirect without a lower: reported, the walk finishes, then fails. */
  mk ("src/ren");
  xset ("src/ren", "trusted.overlay.redirect", "/x");
  xset ("src/f", "trusted.overlay.frob", "1");
  reports = 0;
  CHECK (nsfd_import_tree (NSFD_IMPORT_SCAN, src, -1, NULL, &o, &st, &err) < 0 && st.refused == 3 && reports == 3,
         "scan refuses a redirect and an unknown attribute on both names of a file (%llu)", st.refused);
  nsfd_error_free (&err);
  CHECK (xget ("src/ren", "trusted.overlay.redirect", (char[8]){ 0 }, 8) == 2, "scan changes nothing");
  {
    char p[512];
    snprintf (p, sizeof (p), "%s/src/ren", tmp);
    rmdir (p);
    snprintf (p, sizeof (p), "%s/src/f", tmp);
    lremovexattr (p, "trusted.overlay.frob");
  }
  CHECK (nsfd_import_tree (NSFD_IMPORT_FIX, src, -1, NULL, &o, &st, &err) == 0, "fix in place: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  check_converted ("src", "fix");
}

static void
test_depth (void)
{
  nsfd_error_t err = NULL;
  struct nsfd_import_stats st;
  struct nsfd_import_opts o = { .lower_fd = -1, .max_depth = 8 };
  cleanup_close int src = -1;
  cleanup_close int top = -1;
  char rel[256] = "deep";

  mk (rel);
  for (int i = 0; i < 12; i++)
    {
      strcat (rel, "/d");
      mk (rel);
    }
  src = at ("deep", O_RDONLY | O_DIRECTORY);
  top = at ("dst", O_RDONLY | O_DIRECTORY);
  CHECK (nsfd_import_tree (NSFD_IMPORT_COPY, src, top, "deep", &o, &st, &err) < 0 && err
             && strstr (err->msg, "deeper than 8 levels"),
         "a tree deeper than the bound is refused: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  CHECK (nsfd_import_rm_tree (top, "deep", &err) == 0 && faccessat (top, "deep", F_OK, AT_SYMLINK_NOFOLLOW) < 0,
         "the partial copy is removed");
  nsfd_error_free (&err);
  o.max_depth = 20;
  CHECK (nsfd_import_tree (NSFD_IMPORT_COPY, src, top, "deep", &o, &st, &err) == 0 && st.dirs == 12,
         "within the bound it is copied (%llu dirs)", st.dirs);
  nsfd_error_free (&err);
  CHECK (nsfd_import_rm_tree (top, "deep", &err) == 0, "and removed");
  nsfd_error_free (&err);
}

int
main (void)
{
  TAP_SKIP_UNLESS_ROOT ();
  if (mkdtemp (tmp) == NULL)
    return 1;
  test_copy_scan_fix ();
  test_depth ();
  tu_rm_tree (tmp);
  TAP_DONE ();
}
