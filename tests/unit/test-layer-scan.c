/* lib/layer-scan.c: order, classification (whiteout, opaque, hard link),
 * symlinks never followed, the depth limit, hostile names, xattrs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer-scan.h"
#include "tap.h"
#include "testutil.h"

struct seen
{
  char log[4096];
  size_t len;
  int leaves;
};

static int
enter_cb (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err)
{
  struct seen *s = data;
  (void) err;
  s->len += (size_t) snprintf (s->log + s->len, sizeof (s->log) - s->len, "%s:%s%s%s%s;", e->path,
                               nsfd_scan_type_name (e->type), e->opaque ? ":opaque" : "",
                               e->link_first ? ":link=" : "", e->link_first ? e->link_first : "");
  return 0;
}

static int
leave_cb (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err)
{
  struct seen *s = data;
  (void) err;
  CHECK (e->type == NSFD_FT_DIR && e->fd >= 0, "leave \"%s\" is a directory with its fd", e->path);
  s->leaves++;
  return 0;
}

static void
mk (const char *root, const char *rel, const char *content)
{
  char p[512];
  snprintf (p, sizeof (p), "%s/%s", root, rel);
  FILE *f = fopen (p, "w");
  if (f)
    {
      fputs (content, f);
      fclose (f);
    }
}

static void
build (const char *root)
{
  char p[512];
  mkdir (root, 0755);
  snprintf (p, sizeof (p), "%s/b", root), mkdir (p, 0755);
  snprintf (p, sizeof (p), "%s/b/opq", root), mkdir (p, 0755);
  CHECK (setxattr (p, NSFD_XATTR_OPAQUE, "y", 1, 0) == 0, "set opaque xattr");
  mk (root, "a", "x");
  mk (root, "b/c", "y");
  snprintf (p, sizeof (p), "%s/b/wh", root);
  CHECK (mknod (p, S_IFCHR | 0600, makedev (0, 0)) == 0, "mknod whiteout");
  snprintf (p, sizeof (p), "%s/a", root);
  char q[512];
  snprintf (q, sizeof (q), "%s/z", root);
  CHECK (link (p, q) == 0, "hard link");
  snprintf (q, sizeof (q), "%s/l", root);
  CHECK (symlink ("/etc", q) == 0, "symlink to /etc");
  mk (root, "n\nl", "newline");
  CHECK (setxattr (p, "user.k", "v1", 2, 0) == 0 || errno == ENOTSUP, "user xattr");
}

static void
test_walk (const char *root)
{
  struct seen s = { .len = 0 };
  struct nsfd_scan_ops ops = { .enter = enter_cb, .leave = leave_cb, .data = &s, .track_links = true };
  nsfd_error_t err = NULL;
  cleanup_close int fd = open (root, O_RDONLY | O_DIRECTORY);
  int r = nsfd_scan (fd, &ops, &err);

  CHECK (r == 0, "scan: %s", err ? nsfd_error_text (err) : "ok");
  CHECK (strcmp (s.log, "a:file;b:dir;b/c:file;b/opq:dir:opaque;b/wh:whiteout;l:symlink;n\nl:file;z:file:link=a;")
             == 0, "order and kinds: %s", s.log);
  CHECK (s.leaves == 2, "leave for each directory below the root (%d)", s.leaves);
  s.len = 0, s.leaves = 0, s.log[0] = 0;
  ops.include_root = true;
  r = nsfd_scan (fd, &ops, &err);
  CHECK (r == 0 && strncmp (s.log, ":dir;a:file;", 12) == 0 && s.leaves == 3, "include_root: %s", s.log);
  nsfd_error_free (&err);
}

static void
test_depth (const char *root)
{
  char p[512];
  struct seen s = { .len = 0 };
  struct nsfd_scan_ops ops = { .enter = enter_cb, .data = &s, .max_depth = 3 };
  nsfd_error_t err = NULL;
  cleanup_close int fd = -1;

  snprintf (p, sizeof (p), "%s/deep", root);
  mkdir (p, 0755);
  snprintf (p, sizeof (p), "%s/deep/1", root), mkdir (p, 0755);
  snprintf (p, sizeof (p), "%s/deep/1/2", root), mkdir (p, 0755);
  snprintf (p, sizeof (p), "%s/deep/1/2/3", root), mkdir (p, 0755);
  snprintf (p, sizeof (p), "%s/deep", root);
  fd = open (p, O_RDONLY | O_DIRECTORY);
  CHECK (nsfd_scan (fd, &ops, &err) == 0, "three levels pass a limit of three");
  snprintf (p, sizeof (p), "%s/deep/1/2/3/4", root), mkdir (p, 0755);
  CHECK (nsfd_scan (fd, &ops, &err) < 0 && err && err->status == ELOOP, "four levels are refused: %s",
         err ? nsfd_error_text (err) : "no error");
  nsfd_error_free (&err);
}

static void
test_xattrs_and_open (const char *root)
{
  struct nsfd_xattrs x = { 0 };
  nsfd_error_t err = NULL;
  cleanup_close int fd = open (root, O_RDONLY | O_DIRECTORY);
  struct nsfd_scan_entry e = { .parent_fd = fd, .fd = -1, .name = "a", .path = "a" };
  int f;

  CHECK (nsfd_xattrs_read_at (fd, "a", -1, &x, &err) == 0, "xattrs of a");
  CHECK (x.n >= 1 && strcmp (x.v[0].name, "user.k") == 0 && x.v[0].len == 2 && memcmp (x.v[0].value, "v1", 2) == 0,
         "user.k = v1");
  CHECK (nsfd_xattrs_read_at (fd, "l", -1, &x, &err) == 0 && x.n == 0, "a symlink's own xattrs, not /etc's");
  CHECK (nsfd_xattrs_read_at (fd, "b/opq", -1, &x, &err) < 0 || x.n == 1, "opaque dir xattr read");
  nsfd_error_free (&err);
  fstatat (fd, "a", &e.st, AT_SYMLINK_NOFOLLOW);
  e.type = NSFD_FT_FILE;
  f = nsfd_scan_open_file (&e, &err);
  CHECK (f >= 0, "open a regular file");
  if (f >= 0)
    close (f);
  fstatat (fd, "z", &e.st, AT_SYMLINK_NOFOLLOW);
  e.name = e.path = "l";
  CHECK (nsfd_scan_open_file (&e, &err) < 0, "a symlink is never opened as the file");
  nsfd_error_free (&err);
  nsfd_xattrs_free (&x);
}

static void
test_escape (void)
{
  char out[64];
  CHECK (strcmp (nsfd_escape_name ("a\nb\\c\x01", out, sizeof (out)), "a\\nb\\\\c\\x01") == 0, "escape: %s", out);
  nsfd_escape_name ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", out, 16);
  CHECK (strlen (out) < 16 && strstr (out, "...") != NULL, "truncated: %s", out);
}

int
main (void)
{
  char root[128];
  char tmpl[] = "/tmp/test-layer-scan.XXXXXX";

  TAP_SKIP_UNLESS_ROOT ();
  if (mkdtemp (tmpl) == NULL)
    return 1;
  snprintf (root, sizeof (root), "%s/t", tmpl);
  build (root);
  test_walk (root);
  test_xattrs_and_open (root);
  test_depth (root);
  test_escape ();
  tu_rm_tree (tmpl);
  TAP_DONE ();
}
