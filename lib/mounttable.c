#include "mounttable.h"

#include <dlfcn.h>
#include <errno.h>
#include <libmount.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* libmount is loaded when a mount table is first read, not at exec: with it
 * come libblkid, libselinux and libpcre2, and mapping and relocating them
 * would add about half a millisecond to every hook run, including the idle
 * path every container takes (docs/performance.md).  The table of entry
 * points is filled once and never changes afterwards. */
static struct
{
  void *handle;
  struct libmnt_table *(*new_table) (void);
  void (*unref_table) (struct libmnt_table *);
  int (*table_parse_file) (struct libmnt_table *, const char *);
  int (*table_next_fs) (struct libmnt_table *, struct libmnt_iter *, struct libmnt_fs **);
  int (*table_get_nents) (struct libmnt_table *);
  struct libmnt_iter *(*new_iter) (int);
  void (*free_iter) (struct libmnt_iter *);
  int (*reset_iter) (struct libmnt_iter *, int);
  int (*fs_get_id) (struct libmnt_fs *);
  int (*fs_get_parent_id) (struct libmnt_fs *);
  const char *(*fs_get_target) (struct libmnt_fs *);
  const char *(*fs_get_fstype) (struct libmnt_fs *);
  const char *(*fs_get_source) (struct libmnt_fs *);
  const char *(*fs_get_vfs_options) (struct libmnt_fs *);
  const char *(*fs_get_optional_fields) (struct libmnt_fs *);
} lm;

int
nsfd_mounttable_load (nsfd_error_t *err)
{
  void *h;
  if (lm.handle)
    return 0;
  h = dlopen ("libmount.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h == NULL)
    return nsfd_make_error (err, ENOENT, "loading libmount.so.1: %s", dlerror ());
#define LM_SYM(f)                                                                                  \
  if ((*(void **) &lm.f = dlsym (h, "mnt_" #f)) == NULL)                                            \
    return nsfd_make_error (err, ENOSYS, "libmount.so.1 has no mnt_%s", #f);
  LM_SYM (new_table) LM_SYM (unref_table) LM_SYM (table_parse_file) LM_SYM (table_next_fs)
  LM_SYM (table_get_nents) LM_SYM (new_iter) LM_SYM (free_iter) LM_SYM (reset_iter)
  LM_SYM (fs_get_id) LM_SYM (fs_get_parent_id) LM_SYM (fs_get_target) LM_SYM (fs_get_fstype)
  LM_SYM (fs_get_source) LM_SYM (fs_get_vfs_options) LM_SYM (fs_get_optional_fields)
#undef LM_SYM
  lm.handle = h;
  return 0;
}
#define mnt_new_table (*lm.new_table)
#define mnt_unref_table (*lm.unref_table)
#define mnt_table_parse_file (*lm.table_parse_file)
#define mnt_table_next_fs (*lm.table_next_fs)
#define mnt_table_get_nents (*lm.table_get_nents)
#define mnt_new_iter (*lm.new_iter)
#define mnt_free_iter (*lm.free_iter)
#define mnt_reset_iter (*lm.reset_iter)
#define mnt_fs_get_id (*lm.fs_get_id)
#define mnt_fs_get_parent_id (*lm.fs_get_parent_id)
#define mnt_fs_get_target (*lm.fs_get_target)
#define mnt_fs_get_fstype (*lm.fs_get_fstype)
#define mnt_fs_get_source (*lm.fs_get_source)
#define mnt_fs_get_vfs_options (*lm.fs_get_vfs_options)
#define mnt_fs_get_optional_fields (*lm.fs_get_optional_fields)

static void
mnt_tablep (struct libmnt_table **t)
{
  if (*t)
    mnt_unref_table (*t);
}
static void
mnt_iterp (struct libmnt_iter **i)
{
  if (*i)
    mnt_free_iter (*i);
}
#define cleanup_table __attribute__ ((cleanup (mnt_tablep)))
#define cleanup_iter __attribute__ ((cleanup (mnt_iterp)))

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

static int
entry_from_fs (struct libmnt_fs *fs, struct nsfd_mount_entry *e)
{
  const char *opt = mnt_fs_get_optional_fields (fs);
  const char *s;

  memset (e, 0, sizeof (*e));
  e->id = mnt_fs_get_id (fs);
  e->parent_id = mnt_fs_get_parent_id (fs);
  e->target = strdup ((s = mnt_fs_get_target (fs)) ? s : "");
  e->fstype = strdup ((s = mnt_fs_get_fstype (fs)) ? s : "");
  e->source = strdup ((s = mnt_fs_get_source (fs)) ? s : "");
  e->vfs_options = strdup ((s = mnt_fs_get_vfs_options (fs)) ? s : "");
  e->shared = opt && strstr (opt, "shared:") != NULL;
  e->slave = opt && strstr (opt, "master:") != NULL;
  if (!e->target || !e->fstype || !e->source || !e->vfs_options)
    {
      nsfd_mount_entry_free (e);
      return -ENOMEM;
    }
  return 0;
}

static int
list_push (struct nsfd_mount_list *l, struct libmnt_fs *fs)
{
  struct nsfd_mount_entry *n = realloc (l->items, (l->len + 1) * sizeof (*n));
  if (n == NULL)
    return -ENOMEM;
  l->items = n;
  if (entry_from_fs (fs, &l->items[l->len]) < 0)
    return -ENOMEM;
  l->len++;
  return 0;
}

static int
parse_table (const char *mountinfo, struct libmnt_table **out, nsfd_error_t *err)
{
  struct libmnt_table *t;
  int r;
  if (nsfd_mounttable_load (err) < 0)
    return -1;
  t = mnt_new_table ();
  if (t == NULL)
    return nsfd_make_error (err, ENOMEM, "allocating a mount table");
  r = mnt_table_parse_file (t, mountinfo ? mountinfo : "/proc/self/mountinfo");
  if (r < 0)
    {
      mnt_unref_table (t);
      return nsfd_make_error (err, r < 0 && r > -4096 ? -r : EINVAL, "reading mount table \"%s\"",
                              mountinfo ? mountinfo : "/proc/self/mountinfo");
    }
  *out = t;
  return 0;
}

int
nsfd_mounts_below (const char *mountinfo, const char *root, struct nsfd_mount_entry *root_out,
                   struct nsfd_mount_list *children, struct nsfd_mount_list *nested_out,
                   nsfd_error_t *err)
{
  cleanup_table struct libmnt_table *t = NULL;
  cleanup_iter struct libmnt_iter *it = NULL;
  struct libmnt_fs *fs, *top = NULL;
  int root_id = -1;

  memset (children, 0, sizeof (*children));
  if (nested_out)
    memset (nested_out, 0, sizeof (*nested_out));
  if (parse_table (mountinfo, &t, err) < 0)
    return -1;
  it = mnt_new_iter (MNT_ITER_FORWARD);
  if (it == NULL)
    return nsfd_make_error (err, ENOMEM, "allocating a mount iterator");

  /* The mount holding root: the last mount (the topmost, since a mount
   * stacked later on the same path comes later) whose target is root or, when
   * root is a plain directory, the longest target root lies beneath. */
  {
    size_t best = 0;
    while (mnt_table_next_fs (t, it, &fs) == 0)
      {
        const char *tg = mnt_fs_get_target (fs);
        if (tg && nsfd_path_is_beneath (root, tg) && strlen (tg) >= best)
          {
            best = strlen (tg);
            top = fs;
          }
      }
  }
  if (top == NULL)
    return nsfd_make_error (err, ENOENT, "no mount holds \"%s\" in the mount table", root);
  root_id = mnt_fs_get_id (top);
  if (root_out && entry_from_fs (top, root_out) < 0)
    return nsfd_make_error (err, ENOMEM, "copying a mount entry");

  mnt_reset_iter (it, MNT_ITER_FORWARD);
  while (mnt_table_next_fs (t, it, &fs) == 0)
    {
      const char *tg = mnt_fs_get_target (fs);
      if (fs == top || tg == NULL || !nsfd_path_is_beneath (tg, root) || strcmp (tg, root) == 0)
        continue;
      if (mnt_fs_get_parent_id (fs) == root_id && list_push (children, fs) < 0)
        goto oom;
      if (nested_out && list_push (nested_out, fs) < 0)
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
  cleanup_table struct libmnt_table *t = NULL;
  if (parse_table (mountinfo, &t, err) < 0)
    return -1;
  *count = (size_t) mnt_table_get_nents (t);
  return 0;
}
