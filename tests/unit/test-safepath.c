/* lib/safepath.c: openat2 confinement, prefix walks, owned directories,
 * atomic files, bounded reads, removal without following symlinks.
 * Everything happens in a forked child inside a temporary directory that the
 * parent removes whatever the child did. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "safepath.h"
#include "tap.h"
#include "testutil.h"

static char tmp[64];
static bool have_openat2;
static bool is_root;

static int
expect_open_fails (int dirfd, const char *rel, int want_errno, const char *why)
{
  nsfd_error_t err = NULL;
  int fd = nsfd_open_beneath (dirfd, rel, O_RDONLY, 0, &err);
  CHECK (fd < 0 && err && err->status == want_errno, "open_beneath refuses %s (\"%s\"): %s", why, rel,
         err ? nsfd_error_text (err) : "opened");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);
  return 0;
}

static void
test_open_beneath (int root)
{
  nsfd_error_t err = NULL;
  struct stat st, st2;
  int fd;

  if (!have_openat2)
    {
      printf ("# SKIP open_beneath: openat2 returns ENOSYS here (valgrind)\n");
      return;
    }
  mkdirat (root, "ob", 0755);
  mkdirat (root, "ob/a", 0755);
  mkdirat (root, "ob/a/b", 0755);
  tu_write_at (root, "ob/a/b/c", "nested");
  tu_write_at (root, "outside", "outside");
  symlinkat ("/etc", root, "ob/l_etc");
  symlinkat ("/", root, "ob/l_root");
  symlinkat ("a", root, "ob/l_rel");
  symlinkat ("../outside", root, "ob/l_up");
  symlinkat ("c", root, "ob/a/b/l_c");

  cleanup_close int ob = openat (root, "ob", O_PATH | O_DIRECTORY | O_CLOEXEC);
  fd = nsfd_open_beneath (ob, "a/b/c", O_RDONLY, 0, &err);
  CHECK (fd >= 0, "opens a normal nested path");
  if (fd >= 0)
    {
      char buf[16] = "";
      CHECK (read (fd, buf, sizeof (buf) - 1) == 6 && strcmp (buf, "nested") == 0, "reads the nested file");
      CHECK (fcntl (fd, F_GETFD) & FD_CLOEXEC, "fd is CLOEXEC although not asked for");
      close (fd);
    }
  nsfd_error_free (&err);

  fd = nsfd_open_beneath (ob, "", O_PATH | O_DIRECTORY, 0, &err);
  CHECK (fd >= 0 && fstat (fd, &st) == 0 && fstat (ob, &st2) == 0 && st.st_ino == st2.st_ino,
         "\"\" opens dirfd itself");
  if (fd >= 0)
    close (fd);
  fd = nsfd_open_beneath (ob, ".", O_PATH | O_DIRECTORY, 0, &err);
  CHECK (fd >= 0 && fstat (fd, &st) == 0 && st.st_ino == st2.st_ino, "\".\" opens dirfd itself");
  if (fd >= 0)
    close (fd);
  fd = nsfd_open_beneath (ob, NULL, O_PATH | O_DIRECTORY, 0, &err);
  CHECK (fd >= 0, "NULL opens dirfd itself");
  if (fd >= 0)
    close (fd);
  fd = nsfd_open_beneath (ob, "a/b/../b/c", O_RDONLY, 0, &err);
  CHECK (fd >= 0, "\"..\" that stays beneath is allowed");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  expect_open_fails (ob, "l_etc", ELOOP, "a symlink to /etc");
  expect_open_fails (ob, "l_etc/passwd", ELOOP, "a path through a symlink to /etc");
  expect_open_fails (ob, "l_root", ELOOP, "a symlink to /");
  expect_open_fails (ob, "l_root/etc/passwd", ELOOP, "a path through a symlink to /");
  expect_open_fails (ob, "l_rel", ELOOP, "a relative symlink staying inside");
  expect_open_fails (ob, "l_rel/b/c", ELOOP, "a path through a relative symlink");
  expect_open_fails (ob, "l_up", ELOOP, "a relative symlink going up");
  expect_open_fails (ob, "a/b/l_c", ELOOP, "a symlink as the last component");
  expect_open_fails (ob, "..", EXDEV, "\"..\"");
  expect_open_fails (ob, "../outside", EXDEV, "\"../outside\"");
  expect_open_fails (ob, "a/../../outside", EXDEV, "\"..\" escaping after a descent");
  expect_open_fails (ob, "/etc/passwd", EXDEV, "an absolute path");
  expect_open_fails (ob, "/", EXDEV, "\"/\"");
  expect_open_fails (ob, "missing", ENOENT, "a missing file");

  fd = nsfd_open_beneath (ob, "/proc/self/root", O_PATH, 0, &err);
  CHECK (fd < 0, "magic link path refused");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  /* The symlink text is in the message so an admin sees what was refused. */
  fd = nsfd_open_beneath (ob, "l_etc", O_RDONLY, 0, &err);
  CHECK_STR_CONTAINS (nsfd_error_text (err), "\"l_etc\": a symbolic link is in the way", "message names the path");
  nsfd_error_free (&err);

  /* O_CREAT beneath: mode honoured, refuses to create through a symlink. */
  fd = nsfd_open_beneath (ob, "a/new", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
  CHECK (fd >= 0 && fstat (fd, &st) == 0 && (st.st_mode & 0777) == (0600 & ~022 & 0777), "O_CREAT with mode");
  if (fd >= 0)
    close (fd);
  fd = nsfd_open_beneath (ob, "l_etc/I-should-not-exist", O_WRONLY | O_CREAT, 0600, &err);
  CHECK (fd < 0 && access ("/etc/I-should-not-exist", F_OK) < 0, "no file created through a symlink");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);
}

static void
test_under_prefix (void)
{
  nsfd_error_t err = NULL;
  char prefix[128], path[256], linkprefix[128];
  struct stat st;
  int fd;

  if (!have_openat2)
    {
      printf ("# SKIP open_dir_under_prefix: openat2 returns ENOSYS here (valgrind)\n");
      return;
    }
  snprintf (prefix, sizeof (prefix), "%s/vols", tmp);
  mkdir (prefix, 0755);
  snprintf (path, sizeof (path), "%s/vols/v1", tmp);
  mkdir (path, 0755);
  snprintf (path, sizeof (path), "%s/vols/v1/sub", tmp);
  mkdir (path, 0755);
  snprintf (path, sizeof (path), "%s/volsX", tmp);
  mkdir (path, 0755);
  snprintf (path, sizeof (path), "%s/vols/lnk", tmp);
  (void) symlink ("v1", path);
  snprintf (path, sizeof (path), "%s/vols/v1/lsub", tmp);
  (void) symlink ("sub", path);
  snprintf (path, sizeof (path), "%s/vols/letc", tmp);
  (void) symlink ("/etc", path);

  snprintf (path, sizeof (path), "%s/vols/v1", tmp);
  fd = nsfd_open_dir_under_prefix (prefix, path, &err);
  CHECK (fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode), "opens a volume under the prefix: %s",
         err ? nsfd_error_text (err) : "ok");
  CHECK (fd >= 0 && (fcntl (fd, F_GETFL) & O_PATH), "the volume fd is O_PATH");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  snprintf (path, sizeof (path), "%s/vols/v1/sub/", tmp);
  fd = nsfd_open_dir_under_prefix (prefix, path, &err);
  CHECK (fd >= 0, "nested path with a trailing slash");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  fd = nsfd_open_dir_under_prefix (prefix, prefix, &err);
  CHECK (fd >= 0, "the prefix itself");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  snprintf (path, sizeof (path), "%s/volsX", tmp);
  fd = nsfd_open_dir_under_prefix (prefix, path, &err);
  CHECK (fd < 0, "prefix match is component-wise (\"vols\" does not allow \"volsX\")");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "is not beneath", "message says not beneath");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  snprintf (path, sizeof (path), "%s/vols/lnk", tmp);
  fd = nsfd_open_dir_under_prefix (prefix, path, &err);
  CHECK (fd < 0 && err && err->status == ELOOP, "symlink as the volume refused");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  snprintf (path, sizeof (path), "%s/vols/v1/lsub", tmp);
  fd = nsfd_open_dir_under_prefix (prefix, path, &err);
  CHECK (fd < 0 && err && err->status == ELOOP, "symlink inside the remainder refused");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  snprintf (path, sizeof (path), "%s/vols/letc", tmp);
  fd = nsfd_open_dir_under_prefix (prefix, path, &err);
  CHECK (fd < 0 && err && err->status == ELOOP, "symlink to /etc in the remainder refused");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  snprintf (path, sizeof (path), "%s/vols/../volsX", tmp);
  fd = nsfd_open_dir_under_prefix (prefix, path, &err);
  CHECK (fd < 0 && err && err->status == EXDEV, "\"..\" escaping the prefix refused");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  /* The admin's prefix may itself be (or contain) a symlink. */
  snprintf (linkprefix, sizeof (linkprefix), "%s/vlink", tmp);
  (void) symlink ("vols", linkprefix);
  snprintf (path, sizeof (path), "%s/vlink/v1", tmp);
  fd = nsfd_open_dir_under_prefix (linkprefix, path, &err);
  CHECK (fd >= 0, "a symlink in the prefix is allowed: %s", err ? nsfd_error_text (err) : "ok");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  fd = nsfd_open_dir_under_prefix ("/nonexistent-I-prefix", "/nonexistent-I-prefix/v", &err);
  CHECK (fd < 0 && err && err->status == ENOENT, "missing prefix");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "/nonexistent-I-prefix", "message names the prefix");
  nsfd_error_free (&err);
}

static void
test_mkdir_open (int root)
{
  nsfd_error_t err = NULL;
  struct stat st;
  bool created = false;
  int fd;

  mkdirat (root, "mk", 0755);
  cleanup_close int mk = openat (root, "mk", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  uid_t uid = is_root ? 1234 : geteuid ();
  gid_t gid = is_root ? 2345 : getegid ();

  umask (077);
  fd = nsfd_mkdir_open (mk, "d", 0751, uid, gid, &created, &err);
  CHECK (fd >= 0 && created, "creates a directory: %s", err ? nsfd_error_text (err) : "ok");
  CHECK (fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode) && (st.st_mode & 07777) == 0751,
         "mode 0751 despite umask 077 (got %o)", (unsigned) (st.st_mode & 07777));
  CHECK (st.st_uid == uid && st.st_gid == gid, "owner %u:%u", (unsigned) st.st_uid, (unsigned) st.st_gid);
  CHECK (fd >= 0 && (fcntl (fd, F_GETFD) & FD_CLOEXEC), "CLOEXEC");
  if (fd >= 0)
    close (fd);
  umask (022);
  nsfd_error_free (&err);

  created = true;
  fd = nsfd_mkdir_open (mk, "d", 0751, uid, gid, &created, &err);
  CHECK (fd >= 0 && !created, "opens the existing directory, created=false");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  fd = nsfd_mkdir_open (mk, "d", 0751, (uid_t) -1, (gid_t) -1, NULL, &err);
  CHECK (fd >= 0, "uid -1 accepts any owner, created may be NULL");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  if (is_root)
    {
      fd = nsfd_mkdir_open (mk, "d", 0751, 0, 0, NULL, &err);
      CHECK (fd < 0 && err && err->status == EPERM, "existing directory with the wrong owner refused");
      CHECK_STR_CONTAINS (nsfd_error_text (err), "owned by uid 1234, expected 0", "message names both uids: %s",
                          nsfd_error_text (err));
      if (fd >= 0)
        close (fd);
      nsfd_error_free (&err);
    }
  else
    printf ("# SKIP wrong-owner check needs root\n");

  mkdirat (mk, "gw", 0775);
  fchmodat (mk, "gw", 0775, 0);
  fd = nsfd_mkdir_open (mk, "gw", 0755, geteuid (), getegid (), NULL, &err);
  CHECK (fd < 0 && err && err->status == EPERM, "existing group-writable directory refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "writable by group or others", "message: %s", nsfd_error_text (err));
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);
  mkdirat (mk, "ow", 0757);
  fchmodat (mk, "ow", 0757, 0);
  fd = nsfd_mkdir_open (mk, "ow", 0755, geteuid (), getegid (), NULL, &err);
  CHECK (fd < 0 && err && err->status == EPERM, "existing other-writable directory refused");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  symlinkat ("/etc", mk, "ls");
  fd = nsfd_mkdir_open (mk, "ls", 0755, (uid_t) -1, (gid_t) -1, NULL, &err);
  CHECK (fd < 0 && err && (err->status == ELOOP || err->status == ENOTDIR), "existing symlink to /etc refused: %s", nsfd_error_text (err));
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);
  symlinkat ("d", mk, "ld");
  fd = nsfd_mkdir_open (mk, "ld", 0755, (uid_t) -1, (gid_t) -1, NULL, &err);
  CHECK (fd < 0 && err && (err->status == ELOOP || err->status == ENOTDIR), "existing symlink to a directory refused");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  mkfifoat (mk, "fifo", 0600);
  alarm (10);
  fd = nsfd_mkdir_open (mk, "fifo", 0755, (uid_t) -1, (gid_t) -1, NULL, &err);
  alarm (0);
  CHECK (fd < 0 && err && err->status == ENOTDIR, "existing fifo refused (without hanging)");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  tu_write_at (mk, "file", "x");
  fd = nsfd_mkdir_open (mk, "file", 0755, (uid_t) -1, (gid_t) -1, NULL, &err);
  CHECK (fd < 0 && err && err->status == ENOTDIR, "existing regular file refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "\"file\" exists and is not a directory", "message names it");
  if (fd >= 0)
    close (fd);
  nsfd_error_free (&err);

  static const char *bad[] = { "a/b", ".", "..", "/abs" };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (bad); i++)
    {
      fd = nsfd_mkdir_open (mk, bad[i], 0755, (uid_t) -1, (gid_t) -1, NULL, &err);
      CHECK (fd < 0 && err && err->status == EINVAL, "invalid name \"%s\" refused", bad[i]);
      if (fd >= 0)
        close (fd);
      nsfd_error_free (&err);
    }

  /* check_owned and same_inode directly. */
  {
    cleanup_close int a = openat (mk, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_close int b = openat (mk, "d", O_PATH | O_CLOEXEC);
    cleanup_close int c = openat (mk, "file", O_RDONLY | O_CLOEXEC);
    CHECK (nsfd_same_inode (a, b, &err) == 1, "same_inode: same directory");
    CHECK (nsfd_same_inode (a, c, &err) == 0, "same_inode: different files");
    CHECK (nsfd_same_inode (a, -1, &err) < 0, "same_inode: bad fd is an error");
    nsfd_error_free (&err);
    CHECK (nsfd_check_owned (c, "file", false, geteuid (), &err) == 0, "check_owned: regular file");
    CHECK (nsfd_check_owned (c, "file", true, (uid_t) -1, &err) < 0 && err->status == ENOTDIR,
           "check_owned: file is not a directory");
    nsfd_error_free (&err);
    CHECK (nsfd_check_owned (a, "dir", false, (uid_t) -1, &err) < 0 && err->status == EINVAL,
           "check_owned: directory is not a regular file");
    nsfd_error_free (&err);
  }
}

static void
test_files (int root)
{
  nsfd_error_t err = NULL;
  char *buf = NULL;
  size_t len = 0;
  struct stat st;

  mkdirat (root, "f", 0755);
  cleanup_close int f = openat (root, "f", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  tu_write_at (root, "outside-file", "precious");

  CHECK (nsfd_write_file_atomic (f, "data", "hello", 5, 0640, &err) == 0, "write_file_atomic");
  CHECK (fstatat (f, "data", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 0777) == 0640
             && st.st_size == 5,
         "file mode 0640, 5 bytes");
  CHECK (nsfd_write_file_atomic (f, "data", "bye", 3, 0600, &err) == 0, "overwrite");
  {
    cleanup_dir DIR *d = fdopendir (dup (f));
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir (d)))
      if (de->d_name[0] != '.' || strstr (de->d_name, ".tmp."))
        n++;
    CHECK (n == 1, "no temporary file left behind (%d entries)", n);
  }
  if (have_openat2)
    {
      CHECK (nsfd_read_file_at (f, "data", 100, &buf, &len, &err) == 0 && len == 3 && strcmp (buf, "bye") == 0,
             "read_file_at round trip");
      free (buf);
      buf = NULL;
      CHECK (nsfd_read_file_at (f, "data", 3, &buf, &len, &err) == 0 && len == 3, "exactly max bytes is fine");
      free (buf);
      buf = NULL;
      CHECK (nsfd_read_file_at (f, "data", 2, &buf, &len, &err) < 0 && err && err->status == EFBIG && buf == NULL,
             "size limit: EFBIG");
      nsfd_error_free (&err);

      mkfifoat (f, "fifo", 0600);
      alarm (10);
      CHECK (nsfd_read_file_at (f, "fifo", 100, &buf, &len, &err) < 0 && err && err->status == EINVAL,
             "fifo refused without hanging: %s", nsfd_error_text (err));
      alarm (0);
      nsfd_error_free (&err);

      symlinkat ("data", f, "ldata");
      CHECK (nsfd_read_file_at (f, "ldata", 100, &buf, &len, &err) < 0 && err && err->status == ELOOP,
             "symlink refused");
      nsfd_error_free (&err);
      symlinkat ("/etc/passwd", f, "lpasswd");
      CHECK (nsfd_read_file_at (f, "lpasswd", 100000, &buf, &len, &err) < 0 && err && err->status == ELOOP,
             "symlink to /etc/passwd refused");
      nsfd_error_free (&err);
      CHECK (nsfd_read_file_at (f, "../outside-file", 100, &buf, &len, &err) < 0 && err && err->status == EXDEV,
             "\"..\" refused");
      nsfd_error_free (&err);
      CHECK (nsfd_read_file_at (f, "missing", 100, &buf, &len, &err) < 0 && err && err->status == ENOENT,
             "missing file: ENOENT");
      nsfd_error_free (&err);
      mkdirat (f, "dir", 0755);
      CHECK (nsfd_read_file_at (f, "dir", 100, &buf, &len, &err) < 0 && err && err->status == EINVAL,
             "directory refused");
      nsfd_error_free (&err);
      CHECK (nsfd_write_file_atomic (f, "empty", "", 0, 0600, &err) == 0
                 && nsfd_read_file_at (f, "empty", 10, &buf, &len, &err) == 0 && len == 0 && buf && buf[0] == '\0',
             "empty file round trip");
      free (buf);
      buf = NULL;
    }
  else
    printf ("# SKIP read_file_at: openat2 returns ENOSYS here (valgrind)\n");

  /* Writing over a symlink replaces the link; its target is untouched. */
  symlinkat ("../outside-file", f, "lout");
  CHECK (nsfd_write_file_atomic (f, "lout", "evil", 4, 0600, &err) == 0, "write over a symlink");
  CHECK (fstatat (f, "lout", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode), "the link became a file");
  {
    char b[16] = "";
    int fd = openat (root, "outside-file", O_RDONLY | O_CLOEXEC);
    (void) !read (fd, b, sizeof (b) - 1);
    close (fd);
    CHECK (strcmp (b, "precious") == 0, "the symlink's target is unchanged");
  }
  {
    char longname[300];
    memset (longname, 'n', 255);
    longname[255] = '\0';
    CHECK (nsfd_write_file_atomic (f, longname, "x", 1, 0600, &err) < 0 && err && err->status == ENAMETOOLONG,
           "a name too long for the temporary file is refused");
    nsfd_error_free (&err);
  }
}

static void
test_rm_rf (int root)
{
  nsfd_error_t err = NULL;
  struct stat st;

  mkdirat (root, "keep", 0755);
  tu_write_at (root, "keep/file", "keep");
  mkdirat (root, "rm", 0755);
  mkdirat (root, "rm/a", 0755);
  mkdirat (root, "rm/a/b", 0700);
  tu_write_at (root, "rm/a/b/f", "x");
  tu_write_at (root, "rm/top", "x");
  mkfifoat (root, "rm/a/fifo", 0600);
  symlinkat ("../keep", root, "rm/to-keep");
  symlinkat ("../../keep/file", root, "rm/a/to-file");
  {
    char abs[128];
    snprintf (abs, sizeof (abs), "%s/keep", tmp);
    symlinkat (abs, root, "rm/a/b/abs-keep");
  }
  symlinkat ("/", root, "rm/to-root");
  /* A read-only directory inside is still removed (root or owner can). */
  mkdirat (root, "rm/ro", 0555);

  CHECK (nsfd_rm_rf_at (root, "rm", &err) == 0, "rm_rf_at: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (fstatat (root, "rm", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT, "tree removed");
  CHECK (fstatat (root, "keep/file", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode),
         "file behind symlinks survives");
  CHECK (fstatat (root, "keep", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (st.st_mode),
         "directory behind symlinks survives");
  CHECK (access ("/etc/passwd", F_OK) == 0, "/ untouched (sanity)");

  CHECK (nsfd_rm_rf_at (root, "missing", &err) == 0, "missing name is not an error");
  symlinkat ("keep", root, "link-only");
  CHECK (nsfd_rm_rf_at (root, "link-only", &err) == 0
             && fstatat (root, "link-only", &st, AT_SYMLINK_NOFOLLOW) < 0
             && fstatat (root, "keep/file", &st, 0) == 0,
         "removing a symlink removes only the link");
  tu_write_at (root, "single", "x");
  CHECK (nsfd_rm_rf_at (root, "single", &err) == 0 && faccessat (root, "single", F_OK, AT_SYMLINK_NOFOLLOW) < 0,
         "removes a single file");
  nsfd_error_free (&err);
}

static int
body (void)
{
  char p[32];
  cleanup_close int root = open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  CHECK (root >= 0, "temporary directory %s", tmp);
  CHECK (strcmp (nsfd_fd_path (7, p), "/proc/self/fd/7") == 0, "fd_path");
  test_open_beneath (root);
  test_under_prefix ();
  test_mkdir_open (root);
  test_files (root);
  test_rm_rf (root);
  TAP_DONE ();
}

int
main (void)
{
  have_openat2 = tu_have_openat2 ();
  is_root = geteuid () == 0;
  return tu_run_in_tmpdir (tmp, sizeof (tmp), "safepath", body);
}
