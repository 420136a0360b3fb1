/* lib/pathutil.c: lexical clean-up, the one prefix check, and nsfd_openat2
 * both on the kernel's openat2 and on the walk it falls back to (forced as
 * if the kernel had answered ENOSYS). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "pathutil.h"
#include "tap.h"
#include "testutil.h"

static void
test_clean (void)
{
  static const struct
  {
    const char *in, *out;
  } cases[] = {
    { "/a//b/./c/", "/a/b/c" }, { "a/b", "/a/b" }, { "/", "/" }, { "", "/" }, { "./", "/" }, { "/a...", "/a..." },
  };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (cases); i++)
    {
      cleanup_free char *o = nsfd_oci_path_clean (cases[i].in);
      CHECK (o && strcmp (o, cases[i].out) == 0, "clean (\"%s\") is \"%s\" (%s)", cases[i].in, cases[i].out, S (o));
    }
  errno = 0;
  CHECK (nsfd_oci_path_clean ("/a/../b") == NULL && errno == EINVAL, "\"..\" refused with EINVAL");
}

static void
test_prefix (void)
{
  static const struct
  {
    const char *path, *prefix, *rest; /* rest NULL: not beneath */
  } cases[] = {
    { "/a/b", "/a", "b" },      { "/a", "/a", "" },         { "/ab", "/a", NULL },      { "/a/", "/a", "" },
    { "/a/b", "/a/", "b" },     { "/a/b", "/a//", "b" },    { "/a", "/", "a" },         { "/", "/", "" },
    { "/x/y", "//", "x/y" },    { "/a", "/a/b", NULL },     { "/", "/a", NULL },        { "a/b", "/", NULL },
    { "", "/a", NULL },         { "/a//b", "/a", "b" },     { "/a/bc", "/a/b", NULL },  { "/a/b/c", "/a/b", "c" },
    { "/A/b", "/a", NULL },     { "/a.b", "/a", NULL },     { "/srv/volsx", "/srv/vols", NULL },
  };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (cases); i++)
    {
      const char *rest = nsfd_path_after_prefix (cases[i].path, cases[i].prefix);
      bool ok = cases[i].rest ? rest && strcmp (rest, cases[i].rest) == 0 : rest == NULL;
      CHECK (ok && nsfd_path_is_beneath (cases[i].path, cases[i].prefix) == (cases[i].rest != NULL),
             "after_prefix (\"%s\", \"%s\") is %s%s%s", cases[i].path, cases[i].prefix, cases[i].rest ? "\"" : "",
             cases[i].rest ? cases[i].rest : "NULL", cases[i].rest ? "\"" : "");
    }
}

/* A tree: f, d/f (files), d/up -> .., d/abs -> /f, d/esc -> ../../../f, ln -> d. */
static int
make_tree (char *dir)
{
  int fd;
  if (mkdtemp (dir) == NULL)
    return -1;
  fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (mkdirat (fd, "d", 0755) < 0 || symlinkat ("..", fd, "d/up") < 0 || symlinkat ("/f", fd, "d/abs") < 0
      || symlinkat ("../../../f", fd, "d/esc") < 0 || symlinkat ("d", fd, "ln") < 0)
    {
      close (fd);
      return -1;
    }
  tu_write_at (fd, "f", "root file\n");
  tu_write_at (fd, "d/f", "inner file\n");
  return fd;
}

/* Opens path with resolve and reports the errno (0 when it opened). */
static int
open_errno (int dirfd, const char *path, int flags, uint64_t resolve)
{
  int fd = nsfd_openat2 (dirfd, path, flags, 0600, resolve);
  if (fd < 0)
    return errno;
  close (fd);
  return 0;
}

static bool
same_file (int dirfd, const char *a, const char *b, uint64_t resolve)
{
  struct stat sa, sb;
  cleanup_close int fd = nsfd_openat2 (dirfd, a, O_RDONLY, 0, resolve);
  if (fd < 0 || fstat (fd, &sa) < 0 || fstatat (dirfd, b, &sb, AT_SYMLINK_NOFOLLOW) < 0)
    return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void
test_openat2 (int root, bool fallback)
{
  const char *how = fallback ? "walk" : "openat2";
  const uint64_t beneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  mode_t mask = umask (0);
  int fd, flags;
  struct stat st;

  umask (mask);

  nsfd_openat2_force_fallback (fallback);
  CHECK (same_file (root, "d/f", "d/f", beneath), "%s: beneath, a plain path opens", how);
  CHECK (open_errno (root, "ln/f", O_RDONLY, beneath) == ELOOP, "%s: beneath, a symlink is ELOOP", how);
  CHECK (open_errno (root, "d/../../f", O_RDONLY, beneath) == EXDEV, "%s: beneath, \"..\" out of the tree is EXDEV",
         how);
  CHECK (open_errno (root, "/etc/passwd", O_RDONLY, beneath) == EXDEV, "%s: beneath, absolute is EXDEV", how);
  CHECK (open_errno (root, "missing", O_RDONLY, beneath) == ENOENT, "%s: a missing file is ENOENT", how);
  CHECK (same_file (root, "ln/abs", "f", RESOLVE_IN_ROOT), "%s: in root, an absolute symlink stays inside", how);
  CHECK (same_file (root, "d/esc", "f", RESOLVE_IN_ROOT), "%s: in root, \"..\" stops at the root", how);
  fd = nsfd_openat2 (root, "d/new", O_WRONLY | O_CREAT | O_EXCL, 0640, beneath);
  CHECK (fd >= 0 && fstat (fd, &st) == 0 && (st.st_mode & 0777) == (0640 & ~mask),
         "%s: O_CREAT makes the file with its mode", how);
  flags = fd >= 0 ? fcntl (fd, F_GETFD) : 0;
  CHECK (fd >= 0 && (flags & FD_CLOEXEC), "%s: the fd is close-on-exec", how);
  if (fd >= 0)
    close (fd);
  (void) unlinkat (root, "d/new", 0);
  if (fallback)
    {
      CHECK (open_errno (root, "d/../f", O_RDONLY, beneath) == EXDEV,
             "walk: any \"..\" is EXDEV (stricter than the kernel): the walk is what ran");
      CHECK (open_errno (root, "d/f", O_RDONLY, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS) == ENOSYS,
             "walk: a resolve combination it cannot honour is ENOSYS");
      CHECK (open_errno (root, "d/f", O_RDONLY, RESOLVE_NO_XDEV) == ENOSYS, "walk: RESOLVE_NO_XDEV is ENOSYS");
    }
  nsfd_openat2_force_fallback (false);
}

int
main (void)
{
  char dir[] = "/tmp/test-pathutil.XXXXXX";
  int root;

  test_clean ();
  test_prefix ();
  root = make_tree (dir);
  CHECK (root >= 0, "test tree in %s", dir);
  if (root >= 0)
    {
      if (tu_have_openat2 ())
        test_openat2 (root, false);
      else
        printf ("# openat2 returns ENOSYS here: only the walk is tested\n");
      test_openat2 (root, true);
      close (root);
    }
  tu_rm_tree (dir);
  TAP_DONE ();
}
