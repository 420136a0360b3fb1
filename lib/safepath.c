#include "safepath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"

int
nsfd_open_beneath (int dirfd, const char *rel, int flags, mode_t mode, nsfd_error_t *err)
{
  int fd;

  if (rel == NULL || *rel == '\0')
    rel = ".";
  fd = nsfd_openat2 (dirfd, rel, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (fd < 0)
    {
      if (errno == ELOOP)
        return nsfd_make_error (err, ELOOP, "opening \"%s\": a symbolic link is in the way", rel);
      if (errno == EXDEV)
        return nsfd_make_error (err, EXDEV, "opening \"%s\": the path escapes its directory", rel);
      return nsfd_make_error (err, errno, "opening \"%s\"", rel);
    }
  return fd;
}

int
nsfd_open_dir_under_prefix (const char *prefix, const char *path, nsfd_error_t *err)
{
  cleanup_close int pfd = -1;
  const char *rest = nsfd_path_after_prefix (path, prefix);
  int fd;

  if (rest == NULL)
    return nsfd_make_error (err, 0, "\"%s\" is not beneath \"%s\"", path, prefix);
  pfd = open (prefix, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0)
    return nsfd_make_error (err, errno, "opening the allowed prefix \"%s\"", prefix);
  fd = nsfd_open_beneath (pfd, rest, O_PATH | O_DIRECTORY, 0, err);
  if (fd < 0)
    return nsfd_error_wrap (err, "opening volume \"%s\"", path);
  return fd;
}

int
nsfd_check_owned (int fd, const char *what, bool want_dir, uid_t uid, nsfd_error_t *err)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return nsfd_make_error (err, errno, "stat %s", what);
  if (want_dir && !S_ISDIR (st.st_mode))
    return nsfd_make_error (err, ENOTDIR, "%s is not a directory", what);
  if (!want_dir && !S_ISREG (st.st_mode))
    return nsfd_make_error (err, EINVAL, "%s is not a regular file", what);
  if (uid != (uid_t) -1 && st.st_uid != uid)
    return nsfd_make_error (err, EPERM, "%s is owned by uid %u, expected %u", what,
                            (unsigned) st.st_uid, (unsigned) uid);
  if (uid != (uid_t) -1 && (st.st_mode & 022))
    return nsfd_make_error (err, EPERM, "%s is writable by group or others (mode %03o)", what,
                            (unsigned) (st.st_mode & 0777));
  return 0;
}

int
nsfd_mkdir_open (int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
                 bool *created, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  bool made = false;

  if (strchr (name, '/') != NULL || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return nsfd_make_error (err, EINVAL, "invalid directory name \"%s\"", name);
  if (mkdirat (dirfd, name, mode) == 0)
    made = true;
  else if (errno != EEXIST)
    return nsfd_make_error (err, errno, "creating directory \"%s\"", name);

  fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ELOOP || errno == ENOTDIR)
        return nsfd_make_error (err, errno, "\"%s\" exists and is not a directory (symlink or other file)", name);
      return nsfd_make_error (err, errno, "opening directory \"%s\"", name);
    }
  if (made)
    {
      /* Set owner and mode on the fd we opened, not by name. */
      if (uid != (uid_t) -1 && fchown (fd, uid, gid) < 0)
        return nsfd_make_error (err, errno, "chown \"%s\"", name);
      if (fchmod (fd, mode) < 0)
        return nsfd_make_error (err, errno, "chmod \"%s\"", name);
    }
  else if (nsfd_check_owned (fd, name, true, uid, err) < 0)
    return -1;
  if (created)
    *created = made;
  return nsfd_take_fd (&fd);
}

int
nsfd_same_inode (int fd_a, int fd_b, nsfd_error_t *err)
{
  struct stat a, b;
  if (fstat (fd_a, &a) < 0 || fstat (fd_b, &b) < 0)
    return nsfd_make_error (err, errno, "stat while comparing inodes");
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int
nsfd_rm_rf_at (int parent, const char *name, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;

  if (unlinkat (parent, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return nsfd_make_error (err, errno, "removing \"%s\"", name);
  fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening \"%s\" for removal", name);
  d = fdopendir (fd);
  if (d == NULL)
    return nsfd_make_error (err, errno, "reading \"%s\"", name);
  fd = -1; /* owned by d now */
  while ((de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (nsfd_rm_rf_at (dirfd (d), de->d_name, err) < 0)
        return nsfd_error_wrap (err, "in \"%s\"", name);
    }
  if (unlinkat (parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return nsfd_make_error (err, errno, "removing directory \"%s\"", name);
  return 0;
}

static int
write_file_replace (int dirfd, const char *name, const char *data, size_t len, mode_t mode, bool durable,
                    nsfd_error_t *err)
{
  char tmp[NAME_MAX + 1];
  cleanup_close int fd = -1;
  size_t off = 0;

  if ((size_t) snprintf (tmp, sizeof (tmp), ".%s.tmp.%d", name, (int) getpid ()) >= sizeof (tmp))
    return nsfd_make_error (err, ENAMETOOLONG, "file name \"%s\"", name);
  (void) unlinkat (dirfd, tmp, 0);
  fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return nsfd_make_error (err, errno, "creating \"%s\"", tmp);
  while (off < len)
    {
      ssize_t n = write (fd, data + off, len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          (void) unlinkat (dirfd, tmp, 0);
          return nsfd_make_error (err, e, "writing \"%s\"", tmp);
        }
      off += (size_t) n;
    }
  if ((durable && fsync (fd) < 0) || renameat (dirfd, tmp, dirfd, name) < 0)
    {
      int e = errno;
      (void) unlinkat (dirfd, tmp, 0);
      return nsfd_make_error (err, e, "saving \"%s\"", name);
    }
  return 0;
}

int
nsfd_write_file_atomic (int dirfd, const char *name, const char *data, size_t len,
                        mode_t mode, nsfd_error_t *err)
{
  return write_file_replace (dirfd, name, data, len, mode, true, err);
}

int
nsfd_write_file_replace (int dirfd, const char *name, const char *data, size_t len,
                         mode_t mode, nsfd_error_t *err)
{
  return write_file_replace (dirfd, name, data, len, mode, false, err);
}

int
nsfd_read_file_at (int dirfd, const char *name, size_t max, char **out, size_t *len,
                   nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  struct stat st;

  fd = nsfd_open_beneath (dirfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, err);
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0)
    return nsfd_make_error (err, errno, "stat \"%s\"", name);
  if (!S_ISREG (st.st_mode))
    return nsfd_make_error (err, EINVAL, "\"%s\" is not a regular file", name);
  if ((size_t) st.st_size > max)
    return nsfd_make_error (err, EFBIG, "\"%s\" is larger than %zu bytes", name, max);
  if (nsfd_read_all_fd (fd, max, out, len, err) < 0)
    return nsfd_error_wrap (err, "reading \"%s\"", name);
  return 0;
}

const char *
nsfd_fd_path (int fd, char buf[static 32])
{
  snprintf (buf, 32, "/proc/self/fd/%d", fd);
  return buf;
}
