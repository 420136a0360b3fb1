#include "lowerid.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define MAX_ENTRIES 50000
#define OS_RELEASE_MAX 16384
/* Bounds of the "hollow directory" test: a runtime's mount-point chains are a
 * few levels deep and hold a handful of entries. */
#define HOLLOW_MAX_DEPTH 16
#define HOLLOW_MAX_ENTRIES 256

static const char *const dirs[] = { ".", "etc", "bin", "sbin", "lib", "usr", "usr/bin", "usr/sbin", "usr/lib", NULL };

/* How the lower is looked at: scheme 2, or scheme 1 as it is, with the mount
 * points added where missing, or with the empty ones among them left out. */
enum view
{
  VIEW_S2,
  VIEW_S1_ASIS,
  VIEW_S1_PLUS,
  VIEW_S1_MINUS,
};

struct scan
{
  enum view view;
  const struct nsfd_mount_point *mps;
  size_t n_mps;
  size_t budget;
  uint64_t h;
};

struct entry
{
  char *name;
  mode_t type;
  long long size;
  long long mtime;
};

static void
fnv (uint64_t *h, const void *data, size_t len)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++)
    {
      *h ^= p[i];
      *h *= 1099511628211ULL;
    }
}

static int
cmp_entry (const void *a, const void *b)
{
  return strcmp (((const struct entry *) a)->name, ((const struct entry *) b)->name);
}

/* 1 when name in dirfd is a directory holding nothing but empty regular
 * files and directories like itself (what mkdir -p and touch of mount points
 * leave), within the bounds. */
static bool
hollow_dir (int parent, const char *name, int depth, size_t *seen)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd;

  if (depth > HOLLOW_MAX_DEPTH)
    return false;
  fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return false;
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return false;
    }
  while ((de = readdir (d)) != NULL)
    {
      struct stat st;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (++*seen > HOLLOW_MAX_ENTRIES || fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
      if (S_ISREG (st.st_mode) && st.st_size == 0)
        continue;
      if (!S_ISDIR (st.st_mode) || !hollow_dir (dirfd (d), de->d_name, depth + 1, seen))
        return false;
    }
  return true;
}

static bool
is_hollow_entry (int dirfd, const char *name, const struct stat *st)
{
  size_t seen = 0;
  if (S_ISREG (st->st_mode))
    return st->st_size == 0;
  return S_ISDIR (st->st_mode) && hollow_dir (dirfd, name, 0, &seen);
}

/* "/<rel>/<name>" of a listing, where rel "." is the root. */
static void
child_path (const char *rel, const char *name, char *buf, size_t cap)
{
  snprintf (buf, cap, "/%s%s%s", strcmp (rel, ".") == 0 ? "" : rel, strcmp (rel, ".") == 0 ? "" : "/", name);
}

/* The mount point that path is, or lies on the way to; NULL when none.
 * *exact tells which. */
static const struct nsfd_mount_point *
mount_point_at (const struct scan *s, const char *path, bool *exact)
{
  size_t n = strlen (path);
  for (size_t i = 0; i < s->n_mps; i++)
    {
      const char *mp = s->mps[i].path;
      if (strncmp (mp, path, n) == 0 && (mp[n] == '\0' || mp[n] == '/'))
        {
          *exact = mp[n] == '\0';
          return &s->mps[i];
        }
    }
  return NULL;
}

static int
push (struct entry **v, size_t *n, size_t *cap, const char *name, mode_t type, long long size, long long mtime)
{
  if (*n == *cap)
    {
      struct entry *nv = realloc (*v, (*cap = *cap ? *cap * 2 : 64) * sizeof (*nv));
      if (nv == NULL)
        return -1;
      *v = nv;
    }
  (*v)[*n].name = strdup (name);
  if ((*v)[*n].name == NULL)
    return -1;
  (*v)[*n].type = type;
  (*v)[*n].size = size;
  (*v)[*n].mtime = mtime;
  (*n)++;
  return 0;
}

/* Whether an entry of the real listing is counted in this view. */
static bool
counted (const struct scan *s, int dirfd, const char *rel, const char *name, const struct stat *st)
{
  char path[4096];
  bool exact;

  if (s->view == VIEW_S2)
    return !is_hollow_entry (dirfd, name, st);
  if (s->view != VIEW_S1_MINUS)
    return true;
  child_path (rel, name, path, sizeof (path));
  return mount_point_at (s, path, &exact) == NULL || !is_hollow_entry (dirfd, name, st);
}

/* Scheme 1 with mount points added: the runtime's missing mount points (and
 * the directories leading to them) directly below rel. */
static int
add_missing_mount_points (const struct scan *s, const char *rel, struct entry **v, size_t *n, size_t *cap)
{
  char prefix[4096];
  size_t plen;

  child_path (rel, "", prefix, sizeof (prefix));
  plen = strlen (prefix);
  for (size_t i = 0; i < s->n_mps; i++)
    {
      const char *mp = s->mps[i].path, *name, *slash;
      char part[256];
      bool dup = false;
      if (strncmp (mp, prefix, plen) != 0 || mp[plen] == '\0')
        continue;
      name = mp + plen;
      slash = strchr (name, '/');
      if ((size_t) (slash ? slash - name : (ptrdiff_t) strlen (name)) >= sizeof (part))
        continue;
      snprintf (part, sizeof (part), "%.*s", slash ? (int) (slash - name) : (int) strlen (name), name);
      for (size_t k = 0; k < *n && !dup; k++)
        dup = strcmp ((*v)[k].name, part) == 0;
      if (dup)
        continue;
      if (push (v, n, cap, part, slash || s->mps[i].is_dir ? S_IFDIR : S_IFREG, 0, 0) < 0)
        return -1;
    }
  return 0;
}

static void
hash_entries (uint64_t *h, const char *rel, const struct entry *v, size_t n)
{
  fnv (h, rel, strlen (rel) + 1);
  for (size_t i = 0; i < n; i++)
    {
      char line[64];
      /* No mtime for directories and empty files: the runtime creates mount
       * points (and so touches their parents) in every fresh rootfs. */
      bool stamp = S_ISREG (v[i].type) && v[i].size > 0;
      int len = snprintf (line, sizeof (line), "%o:%lld:%lld", (unsigned) v[i].type,
                          S_ISREG (v[i].type) ? v[i].size : 0LL, stamp ? v[i].mtime : 0LL);
      fnv (h, v[i].name, strlen (v[i].name) + 1);
      if (v[i].type != 0) /* 0: could not be stat'ed, only the name counts */
        fnv (h, line, (size_t) len);
    }
}

/* Reads one directory's listing as this view counts it. */
static int
list_dir (struct scan *s, int root, const char *rel, struct entry **v, size_t *n, size_t *cap, bool *present,
          nsfd_error_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd = openat (root, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  *present = fd >= 0;
  if (fd < 0)
    return 0;
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return nsfd_make_error (err, errno, "reading the lower's \"%s\"", rel);
    }
  while ((de = readdir (d)) != NULL)
    {
      struct stat st;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (s->budget == 0)
        break; /* bounded: a huge directory is sampled, not read whole */
      s->budget--;
      if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        {
          if (!counted (s, dirfd (d), rel, de->d_name, &st))
            continue;
          if (push (v, n, cap, de->d_name, st.st_mode & S_IFMT, st.st_size, (long long) st.st_mtime) < 0)
            return nsfd_make_error (err, ENOMEM, "fingerprint");
        }
      else if (push (v, n, cap, de->d_name, 0, 0, 0) < 0)
        return nsfd_make_error (err, ENOMEM, "fingerprint");
    }
  return 0;
}

/* Adds one directory's sorted listing to the hash; a missing directory counts
 * as a marker so that adding it later changes the fingerprint. */
static int
hash_dir (struct scan *s, int root, const char *rel, nsfd_error_t *err)
{
  struct entry *v = NULL;
  size_t n = 0, cap = 0;
  bool present, exact, hollow = false;
  char path[4096];
  int ret;

  ret = list_dir (s, root, rel, &v, &n, &cap, &present, err);
  if (ret == 0 && present && s->view == VIEW_S2 && strcmp (rel, ".") != 0)
    {
      struct stat st;
      hollow = fstatat (root, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && is_hollow_entry (root, rel, &st);
    }
  child_path (rel, "", path, sizeof (path));
  if (strlen (path) > 1)
    path[strlen (path) - 1] = '\0';
  if (ret == 0 && s->view == VIEW_S1_PLUS && (present || mount_point_at (s, path, &exact)))
    {
      present = true;
      if (add_missing_mount_points (s, rel, &v, &n, &cap) < 0)
        ret = nsfd_make_error (err, ENOMEM, "fingerprint");
    }
  if (ret == 0)
    {
      if (!present || hollow)
        {
          fnv (&s->h, "-", 1);
          fnv (&s->h, rel, strlen (rel));
        }
      else
        {
          if (n > 0) /* qsort with a NULL array is undefined, even for 0 items */
            qsort (v, n, sizeof (*v), cmp_entry);
          hash_entries (&s->h, rel, v, n);
        }
    }
  for (size_t i = 0; i < n; i++)
    free (v[i].name);
  free (v);
  return ret;
}

static int
fingerprint (int lower_fd, struct scan *s, char out[NSFD_LOWERID_LEN + 1], nsfd_error_t *err)
{
  cleanup_close int root = -1;
  char buf[OS_RELEASE_MAX];

  s->h = 14695981039346656037ULL;
  s->budget = MAX_ENTRIES;
  root = openat (lower_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return nsfd_make_error (err, errno, "opening the lower layer");
  for (int i = 0; dirs[i]; i++)
    if (hash_dir (s, root, dirs[i], err) < 0)
      return -1;
  for (int i = 0; i < 2; i++)
    {
      const char *rel = i == 0 ? "etc/os-release" : "usr/lib/os-release";
      cleanup_close int fd = openat (root, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      struct stat st;
      ssize_t n;
      if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
        continue;
      n = read (fd, buf, sizeof (buf));
      if (n > 0)
        fnv (&s->h, buf, (size_t) n);
    }
  snprintf (out, NSFD_LOWERID_LEN + 1, "fnv1a64:%016llx", (unsigned long long) s->h);
  return 0;
}

int
nsfd_lowerid_compute (int lower_fd, char out[NSFD_LOWERID_LEN + 1], nsfd_error_t *err)
{
  struct scan s = { .view = VIEW_S2 };
  return fingerprint (lower_fd, &s, out, err);
}

int
nsfd_lowerid_matches_scheme1 (int lower_fd, const char *recorded, const struct nsfd_mount_point *mps,
                              size_t n_mps, nsfd_error_t *err)
{
  static const enum view views[] = { VIEW_S1_ASIS, VIEW_S1_PLUS, VIEW_S1_MINUS };
  char id[NSFD_LOWERID_LEN + 1];

  for (size_t i = 0; i < NSFD_ARRAY_SIZE (views); i++)
    {
      struct scan s = { .view = views[i], .mps = mps, .n_mps = n_mps };
      if (fingerprint (lower_fd, &s, id, err) < 0)
        return -1;
      if (strcmp (id, recorded) == 0)
        return 1;
    }
  return 0;
}
