#include "mounttable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h" /* nsfd_read_all_fd */

/* /proc/self/mountinfo is read and split here, not through libmount: the
 * table needs eight fields of a line-oriented format, while loading libmount
 * (and libblkid, libselinux, libpcre2 with it) cost the mount worker about a
 * millisecond per activated start, twice what reading and splitting the
 * table takes (docs/performance.md).  Format: proc_pid_mountinfo(5). */

#define TABLE_MAX (64u * 1024 * 1024) /* bytes of one mount table */
#define TABLE_MAX_ENTRIES 1000000

/* One line, its fields pointing into the (modified) buffer. */
struct raw
{
  int id, parent_id;
  char *target, *opts, *optional, *fstype, *source;
};

int
nsfd_mounttable_load (nsfd_error_t *err)
{
  (void) err; /* nothing to load: kept so callers need not change */
  return 0;
}

void
nsfd_mount_entry_free (struct nsfd_mount_entry *e)
{
  free (e->target);
  free (e->fstype);
  free (e->source);
  free (e->vfs_options);
  memset (e, 0, sizeof (*e));
}

void
nsfd_mount_list_free (struct nsfd_mount_list *l)
{
  for (size_t i = 0; i < l->len; i++)
    nsfd_mount_entry_free (&l->items[i]);
  free (l->items);
  l->items = NULL;
  l->len = 0;
}

/* The kernel writes space, tab, newline and backslash as \ooo; undone in
 * place (the result is never longer). */
static void
unescape (char *s)
{
  char *o = s;
  for (; *s; s++)
    {
      if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7')
        {
          *o++ = (char) (((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
          s += 3;
        }
      else
        *o++ = *s;
    }
  *o = '\0';
}

/* The next space-separated field of *p, NUL-terminated; NULL at the end. */
static char *
field (char **p)
{
  char *s = *p, *e;
  if (s == NULL || *s == '\0')
    return NULL;
  e = strchr (s, ' ');
  if (e)
    {
      *e = '\0';
      *p = e + 1;
    }
  else
    *p = s + strlen (s);
  return s;
}

static int
parse_int (const char *s, int *out)
{
  char *end;
  long v;
  if (s == NULL)
    return -1;
  errno = 0;
  v = strtol (s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > 0x7fffffff)
    return -1;
  *out = (int) v;
  return 0;
}

/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue" */
static int
parse_line (char *line, struct raw *r)
{
  char *p = line, *f;

  memset (r, 0, sizeof (*r));
  if (parse_int (field (&p), &r->id) < 0 || parse_int (field (&p), &r->parent_id) < 0 || field (&p) == NULL
      || field (&p) == NULL || (r->target = field (&p)) == NULL || (r->opts = field (&p)) == NULL)
    return -1;
  /* Optional fields up to the lone "-"; they stay joined by spaces. */
  r->optional = p;
  for (;;)
    {
      f = field (&p);
      if (f == NULL)
        return -1;
      if (strcmp (f, "-") == 0)
        break;
      if (f != r->optional)
        f[-1] = ' ';
    }
  if (r->optional == f)
    r->optional = (char *) "";
  if ((r->fstype = field (&p)) == NULL || (r->source = field (&p)) == NULL)
    return -1;
  unescape (r->target);
  unescape (r->source);
  return 0;
}

/* The table in *buf (freed by the caller) split into *out. */
static int
read_table (const char *mountinfo, char **buf, struct raw **out, size_t *n_out, nsfd_error_t *err)
{
  const char *path = mountinfo ? mountinfo : "/proc/self/mountinfo";
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t len = 0, n = 0, cap = 0;
  struct raw *v = NULL;
  char *line, *next;

  *out = NULL;
  *n_out = 0;
  if (fd < 0)
    return nsfd_make_error (err, errno, "reading mount table \"%s\"", path);
  if (nsfd_read_all_fd (fd, TABLE_MAX, buf, &len, err) < 0)
    return nsfd_error_wrap (err, "reading mount table \"%s\"", path);
  for (line = *buf; line && *line; line = next)
    {
      next = strchr (line, '\n');
      if (next)
        *next++ = '\0';
      if (*line == '\0')
        continue;
      if (n == cap)
        {
          struct raw *nv = n >= TABLE_MAX_ENTRIES ? NULL : realloc (v, (cap = cap ? cap * 2 : 64) * sizeof (*nv));
          if (nv == NULL)
            {
              free (v);
              return nsfd_make_error (err, n >= TABLE_MAX_ENTRIES ? EFBIG : ENOMEM, "mount table \"%s\"", path);
            }
          v = nv;
        }
      if (parse_line (line, &v[n]) < 0)
        {
          free (v);
          return nsfd_make_error (err, EINVAL, "mount table \"%s\": line %zu is not in mountinfo format", path, n + 1);
        }
      n++;
    }
  *out = v;
  *n_out = n;
  return 0;
}

static int
entry_from_raw (const struct raw *r, struct nsfd_mount_entry *e)
{
  memset (e, 0, sizeof (*e));
  e->id = r->id;
  e->parent_id = r->parent_id;
  e->target = strdup (r->target);
  e->fstype = strdup (r->fstype);
  e->source = strdup (r->source);
  e->vfs_options = strdup (r->opts);
  e->shared = strstr (r->optional, "shared:") != NULL;
  e->slave = strstr (r->optional, "master:") != NULL;
  if (!e->target || !e->fstype || !e->source || !e->vfs_options)
    {
      nsfd_mount_entry_free (e);
      return -ENOMEM;
    }
  return 0;
}

/* Grows by doubling (capacity 16, then the next power of two), so a table
 * of N mounts costs O(N) copying, not O(N^2). */
static int
list_push (struct nsfd_mount_list *l, const struct raw *r)
{
  if (l->len == 0 || (l->len >= 16 && (l->len & (l->len - 1)) == 0))
    {
      size_t cap = l->len == 0 ? 16 : l->len * 2;
      struct nsfd_mount_entry *n = realloc (l->items, cap * sizeof (*n));
      if (n == NULL)
        return -ENOMEM;
      l->items = n;
    }
  if (entry_from_raw (r, &l->items[l->len]) < 0)
    return -ENOMEM;
  l->len++;
  return 0;
}

int
nsfd_mounts_below (const char *mountinfo, const char *root, struct nsfd_mount_entry *root_out,
                   struct nsfd_mount_list *children, struct nsfd_mount_list *nested_out,
                   nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  cleanup_free struct raw *t = NULL;
  const struct raw *top = NULL;
  size_t n = 0, best = 0;

  memset (children, 0, sizeof (*children));
  if (nested_out)
    memset (nested_out, 0, sizeof (*nested_out));
  if (read_table (mountinfo, &buf, &t, &n, err) < 0)
    return -1;

  /* The mount holding root: the last mount (the topmost, since a mount
   * stacked later on the same path comes later) whose target is root or, when
   * root is a plain directory, the longest target root lies beneath. */
  for (size_t i = 0; i < n; i++)
    if (nsfd_path_is_beneath (root, t[i].target) && strlen (t[i].target) >= best)
      {
        best = strlen (t[i].target);
        top = &t[i];
      }
  if (top == NULL)
    return nsfd_make_error (err, ENOENT, "no mount holds \"%s\" in the mount table", root);
  if (root_out && entry_from_raw (top, root_out) < 0)
    return nsfd_make_error (err, ENOMEM, "copying a mount entry");

  for (size_t i = 0; i < n; i++)
    {
      const struct raw *r = &t[i];
      if (r == top || !nsfd_path_is_beneath (r->target, root) || strcmp (r->target, root) == 0)
        continue;
      if (r->parent_id == top->id && list_push (children, r) < 0)
        goto oom;
      if (nested_out && list_push (nested_out, r) < 0)
        goto oom;
    }
  return 0;
oom:
  nsfd_mount_list_free (children);
  if (nested_out)
    nsfd_mount_list_free (nested_out);
  if (root_out)
    nsfd_mount_entry_free (root_out);
  return nsfd_make_error (err, ENOMEM, "listing mounts below \"%s\"", root);
}

int
nsfd_mounts_count (const char *mountinfo, size_t *count, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  cleanup_free struct raw *t = NULL;
  size_t n = 0;
  if (read_table (mountinfo, &buf, &t, &n, err) < 0)
    return -1;
  *count = n;
  return 0;
}
