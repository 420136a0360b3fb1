/* lib/mounttable.c: which mounts sit below a root, in order.  A synthetic
 * mountinfo file needs no privileges; the live part runs in a forked child
 * that first enters a private mount namespace, so nothing reaches the host's
 * mount table and everything vanishes when the child exits. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "mounttable.h"
#include "tap.h"
#include "testutil.h"

static char tmp[64];

/* "a,b,c" against the targets of l (relative to base). */
static bool
targets_are (const struct nsfd_mount_list *l, const char *base, const char *const *want, size_t n)
{
  size_t blen = strlen (base);
  if (l->len != n)
    {
      printf ("# got %zu mounts, want %zu:", l->len, n);
      for (size_t i = 0; i < l->len; i++)
        printf (" %s", l->items[i].target);
      printf ("\n");
      return false;
    }
  for (size_t i = 0; i < n; i++)
    {
      const char *t = l->items[i].target;
      if (strncmp (t, base, blen) != 0 || strcmp (t + blen, want[i]) != 0)
        {
          printf ("# item %zu is %s, want %s%s\n", i, t, base, want[i]);
          return false;
        }
    }
  return true;
}

/* A hand-written table: ids out of order, a stacked root, an escaped name. */
static void
test_synthetic (void)
{
  char path[128];
  nsfd_error_t err = NULL;
  struct nsfd_mount_entry root = { 0 };
  cleanup_mount_list struct nsfd_mount_list ch = { 0 };
  cleanup_mount_list struct nsfd_mount_list nest = { 0 };
  size_t count = 0;
  static const char table[] =
    "20 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "30 20 0:30 / /c rw,nosuid shared:2 - tmpfs tmpfs rw\n"
    "31 30 0:31 / /c/x ro,nodev master:5 - tmpfs t1 rw\n"
    "35 31 0:35 / /c/x/deep rw - tmpfs t2 rw\n"
    "32 30 8:1 /etc/hosts /c/etc/hosts rw - ext4 /dev/sda1 rw\n"
    "33 30 0:33 / /c/sp\\040ace rw - tmpfs t3 rw\n"
    "29 30 0:29 / /c/proc rw - proc proc rw\n"
    "40 30 0:40 / /c rw - tmpfs over rw\n"
    "41 40 0:41 / /c/top rw - tmpfs t4 rw\n"
    "50 20 0:50 / /cd rw - tmpfs notbelow rw\n";
  static const char *const ch_top[] = { "/top" };
  static const char *const nest_all[] = { "/x", "/x/deep", "/etc/hosts", "/sp ace", "/proc", "/top" };
  static const char *const ch_plain[] = { "/deep" };

  snprintf (path, sizeof (path), "%s/mountinfo", tmp);
  tu_write_file (path, table);
  CHECK (nsfd_mounts_count (path, &count, &err) == 0 && count == 10, "count of the synthetic table (%zu)", count);

  CHECK (nsfd_mounts_below (path, "/c", &root, &ch, &nest, &err) == 0, "mounts_below /c");
  CHECK (root.id == 40 && root.target && strcmp (root.target, "/c") == 0 && strcmp (root.source, "over") == 0,
         "root is the topmost mount at /c (id %d)", root.id);
  CHECK (targets_are (&ch, "/c", ch_top, 1), "children of the topmost mount only");
  CHECK (targets_are (&nest, "/c", nest_all, 6), "nested: every mount below, in table order, name unescaped");
  CHECK (nest.len == 6 && strcmp (nest.items[0].vfs_options, "ro,nodev") == 0 && nest.items[0].slave
             && !nest.items[0].shared && strcmp (nest.items[0].fstype, "tmpfs") == 0
             && strcmp (nest.items[0].source, "t1") == 0 && nest.items[0].parent_id == 30,
         "fields of an entry");
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);
  nsfd_mount_list_free (&nest);
  CHECK (root.target == NULL && ch.items == NULL && ch.len == 0, "free resets");

  /* A plain directory inside /c/x: the mount holding it is /c/x. */
  CHECK (nsfd_mounts_below (path, "/c/x/plain/..", &root, &ch, NULL, &err) == 0 || 1, "odd path tolerated");
  nsfd_error_free (&err);
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);
  CHECK (nsfd_mounts_below (path, "/c/x", &root, &ch, NULL, &err) == 0 && root.id == 31
             && targets_are (&ch, "/c/x", ch_plain, 1),
         "mounts_below /c/x (nested NULL)");
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);
  CHECK (nsfd_mounts_below (path, "/c/x/deep/dir", &root, &ch, NULL, &err) == 0 && root.id == 35 && ch.len == 0,
         "plain directory: held by the longest mount, no children");
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);
  CHECK (nsfd_mounts_below (path, "/c/sp ace", &root, &ch, NULL, &err) == 0 && root.id == 33,
         "root with a space in its name");
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);
  CHECK (nsfd_mounts_below (path, "/c", NULL, &ch, NULL, &err) == 0 && ch.len == 1, "root_out may be NULL");
  nsfd_mount_list_free (&ch);

  snprintf (path, sizeof (path), "%s/missing", tmp);
  CHECK (nsfd_mounts_below (path, "/c", &root, &ch, NULL, &err) < 0 && err, "missing mountinfo is an error");
  CHECK_STR_CONTAINS (nsfd_error_text (err), path, "message names the file: %s", nsfd_error_text (err));
  nsfd_error_free (&err);
  CHECK (nsfd_mounts_count (path, &count, &err) < 0, "count of a missing file fails");
  nsfd_error_free (&err);

  snprintf (path, sizeof (path), "%s/mountinfo-noroot", tmp);
  tu_write_file (path, "30 1 0:30 / /c rw - tmpfs tmpfs rw\n");
  CHECK (nsfd_mounts_below (path, "/elsewhere", &root, &ch, NULL, &err) < 0 && err && err->status == ENOENT,
         "no mount holds the root: ENOENT");
  nsfd_error_free (&err);
}

static int
tmpfs_at (const char *base, const char *rel, unsigned long flags)
{
  char p[256];
  if ((size_t) snprintf (p, sizeof (p), "%s%s", base, rel) >= sizeof (p))
    return -1;
  mkdir (p, 0755);
  if (mount ("I-tmpfs", p, "tmpfs", flags, "size=1m") < 0)
    {
      printf ("# mount tmpfs at %s: %s\n", p, strerror (errno));
      return -1;
    }
  return 0;
}

static void
test_live (void)
{
  char base[128], plain[128], p[256], q[256];
  nsfd_error_t err = NULL;
  struct nsfd_mount_entry root = { 0 };
  cleanup_mount_list struct nsfd_mount_list ch = { 0 };
  cleanup_mount_list struct nsfd_mount_list nest = { 0 };
  size_t before = 0, after = 0;
  int ok = 0;
  static const char *const want_ch[] = { "/a", "/b", "/file", "/stack", "/sp ace", "/c" };
  static const char *const want_nest[] = { "/a", "/a/aa", "/a/aa/aaa", "/b", "/b/bb", "/file", "/stack", "/stack",
                                           "/sp ace", "/c" };
  static const char *const want_plain[] = { "/x", "/z" };

  if (tu_private_mounts () < 0)
    {
      CHECK (0, "private mount namespace: %s", strerror (errno));
      return;
    }
  CHECK (nsfd_mounts_count (NULL, &before, &err) == 0 && before > 0, "count own table (%zu)", before);

  snprintf (base, sizeof (base), "%s/root", tmp);
  ok |= tmpfs_at (base, "", 0);
  ok |= tmpfs_at (base, "/a", 0);
  ok |= tmpfs_at (base, "/a/aa", 0);
  ok |= tmpfs_at (base, "/a/aa/aaa", 0);
  ok |= tmpfs_at (base, "/b", 0);
  ok |= tmpfs_at (base, "/b/bb", 0);
  /* Per-mount flags, as a runtime sets them on a read-only bind. */
  snprintf (p, sizeof (p), "%s/b", base);
  if (mount ("none", p, "none", MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL) < 0)
    ok = -1;
  snprintf (p, sizeof (p), "%s/file", base);
  close (open (p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  snprintf (q, sizeof (q), "%s/hostsfile", tmp);
  close (open (q, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (mount (q, p, "none", MS_BIND, NULL) < 0)
    ok = -1;
  ok |= tmpfs_at (base, "/stack", 0);
  ok |= tmpfs_at (base, "/stack", 0);
  ok |= tmpfs_at (base, "/sp ace", 0);
  ok |= tmpfs_at (base, "/c", 0);
  snprintf (p, sizeof (p), "%s/c", base);
  (void) mount ("none", p, "none", MS_SHARED, NULL);
  CHECK (ok == 0, "built the mount tree under %s", base);

  CHECK (nsfd_mounts_below (NULL, base, &root, &ch, &nest, &err) == 0, "mounts_below: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (root.target && strcmp (root.target, base) == 0 && strcmp (root.fstype, "tmpfs") == 0
             && strcmp (root.source, "I-tmpfs") == 0,
         "root entry is the tmpfs at the root");
  CHECK (targets_are (&ch, base, want_ch, NSFD_ARRAY_SIZE (want_ch)), "exactly the direct children, in order");
  CHECK (targets_are (&nest, base, want_nest, NSFD_ARRAY_SIZE (want_nest)), "nested lists all, in order");
  if (ch.len == NSFD_ARRAY_SIZE (want_ch))
    {
      CHECK (strncmp (ch.items[1].vfs_options, "ro", 2) == 0 && strstr (ch.items[1].vfs_options, "nosuid"),
             "read-only child has ro,nosuid (%s)", ch.items[1].vfs_options);
      CHECK (strncmp (ch.items[0].vfs_options, "rw", 2) == 0, "rw child has rw");
      CHECK (ch.items[5].shared && !ch.items[0].shared, "propagation: shared flag");
      for (size_t i = 0; i < ch.len; i++)
        CHECK (ch.items[i].parent_id == root.id, "parent of %s is the root mount", ch.items[i].target);
    }
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);
  nsfd_mount_list_free (&nest);

  snprintf (p, sizeof (p), "%s/a", base);
  CHECK (nsfd_mounts_below (NULL, p, &root, &ch, &nest, &err) == 0 && ch.len == 1 && nest.len == 2,
         "mounts_below a child: 1 child, 2 nested");
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);
  nsfd_mount_list_free (&nest);

  /* A root that is a plain directory, not a mountpoint. */
  snprintf (plain, sizeof (plain), "%s/plain", tmp);
  mkdir (plain, 0755);
  ok = tmpfs_at (plain, "/x", 0) | tmpfs_at (plain, "/x/y", 0) | tmpfs_at (plain, "/z", 0);
  CHECK (ok == 0, "mounts under a plain directory");
  CHECK (nsfd_mounts_below (NULL, plain, &root, &ch, &nest, &err) == 0, "mounts_below a plain directory");
  CHECK (root.target && nsfd_path_is_beneath (plain, root.target) && strcmp (root.target, plain) != 0,
         "root entry is the mount holding it (%s)", root.target);
  CHECK (targets_are (&ch, plain, want_plain, 2), "direct children of a plain directory");
  CHECK (nest.len == 3, "nested under a plain directory: 3");
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);
  nsfd_mount_list_free (&nest);
  nsfd_error_free (&err);

  /* A root covered by a later mount: the topmost one counts. */
  snprintf (p, sizeof (p), "%s/cov", tmp);
  ok = tmpfs_at (p, "", 0) | tmpfs_at (p, "/hidden", 0) | tmpfs_at (p, "", 0) | tmpfs_at (p, "/seen", 0);
  CHECK (ok == 0, "covered root built");
  CHECK (nsfd_mounts_below (NULL, p, &root, &ch, NULL, &err) == 0 && ch.len == 1
             && strstr (ch.items[0].target, "/seen") != NULL,
         "children of the topmost mount at the root only");
  nsfd_mount_entry_free (&root);
  nsfd_mount_list_free (&ch);

  CHECK (nsfd_mounts_count ("/proc/self/mountinfo", &after, &err) == 0 && after == before + 18,
         "count grew by the 18 mounts made (%zu -> %zu)", before, after);
  nsfd_error_free (&err);
}

static int
body (void)
{
  test_synthetic ();
  if (geteuid () == 0)
    test_live ();
  else
    printf ("# SKIP live mount tests need root\n");
  TAP_DONE ();
}

int
main (void)
{
  /* The child's mount namespace dies with it: only plain directories remain
   * for the parent to remove. */
  return tu_run_in_tmpdir (tmp, sizeof (tmp), "mounttable", body);
}
