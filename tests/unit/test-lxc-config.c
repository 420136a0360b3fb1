/* lib/lxc-config.c and lib/lxc-include.c: the overlay rootfs and id maps of
 * an LXC config, and the files it includes. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lxc-config.h"
#include "tap.h"
#include "testutil.h"

static int
parse (const char *text, struct nsfd_lxc_rootfs *r, nsfd_error_t *err)
{
  return nsfd_lxc_parse_config (text, strlen (text), r, err);
}

static void
test_layouts (void)
{
  nsfd_error_t err = NULL;
  cleanup_lxc_rootfs struct nsfd_lxc_rootfs r;

  /* What lxc-copy -s -B overlay writes (LXC 4 and later). */
  CHECK (parse ("# Template used to create this container: busybox\n"
                "lxc.rootfs.path = overlay:/var/lib/lxc/base/rootfs:/var/lib/lxc/c1/overlay/delta\n"
                "lxc.uts.name = c1\n",
                &r, &err) == 0, "overlay: %s", err ? nsfd_error_text (err) : "ok");
  CHECK (r.lower && strcmp (r.lower, "/var/lib/lxc/base/rootfs") == 0, "lower %s", S (r.lower));
  CHECK (r.upper && strcmp (r.upper, "/var/lib/lxc/c1/overlay/delta") == 0, "upper %s", S (r.upper));
  nsfd_lxc_rootfs_free (&r);

  /* LXC 1.x/2.0: lxc.rootfs, the overlayfs: prefix and delta0. */
  CHECK (parse ("lxc.rootfs = overlayfs:/var/lib/lxc/base/rootfs:/var/lib/lxc/c1/delta0\n", &r, &err) == 0,
         "overlayfs: %s", err ? nsfd_error_text (err) : "ok");
  CHECK (r.upper && strcmp (r.upper, "/var/lib/lxc/c1/delta0") == 0, "delta0 upper %s", S (r.upper));
  nsfd_lxc_rootfs_free (&r);

  /* Spaces, tabs, CRLF, comments; the last assignment wins, as in LXC. */
  CHECK (parse ("lxc.rootfs.path = dir:/old\r\n  #lxc.rootfs.path = overlay:/x:/y\n"
                "\tlxc.rootfs.path\t=\toverlay:/b:/u\t\r\n",
                &r, &err) == 0, "last wins: %s", err ? nsfd_error_text (err) : "ok");
  CHECK (r.lower && strcmp (r.lower, "/b") == 0 && r.upper && strcmp (r.upper, "/u") == 0, "lower /b upper /u");
  nsfd_lxc_rootfs_free (&r);
}

static void
test_refusals (void)
{
  nsfd_error_t err = NULL;
  cleanup_lxc_rootfs struct nsfd_lxc_rootfs r;

  CHECK (parse ("lxc.rootfs.path = overlay:/a:/b:/c:/upper\n", &r, &err) < 0, "several lowers refused");
  CHECK (err && err->msg && strstr (err->msg, "flatten"), "the message says how to flatten: %s", err ? err->msg : "");
  CHECK (err && err->msg && strstr (err->msg, "3 lower layers"), "and counts them");
  nsfd_error_free (&err);
  nsfd_lxc_rootfs_free (&r);

  CHECK (parse ("lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs\n", &r, &err) < 0, "a dir rootfs is refused");
  CHECK (err && err->msg && strstr (err->msg, "--upper"), "and points to --upper: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  nsfd_lxc_rootfs_free (&r);

  CHECK (parse ("lxc.uts.name = c1\n", &r, &err) < 0 && err && err->status == ENOENT, "no rootfs line");
  nsfd_error_free (&err);
  CHECK (parse ("lxc.rootfs.path = overlay:/only\n", &r, &err) < 0, "no upper");
  nsfd_error_free (&err);
  CHECK (parse ("lxc.rootfs.path = overlay:base/rootfs:/u\n", &r, &err) < 0, "relative lower refused");
  nsfd_error_free (&err);
  CHECK (nsfd_lxc_parse_config ("lxc.rootfs.path = overlay:/a:/b\0x", 33, &r, &err) < 0, "a NUL byte is refused");
  nsfd_error_free (&err);
  CHECK (parse ("lxc.idmap = u 0 100000\nlxc.rootfs.path = overlay:/a:/b\n", &r, &err) < 0, "short idmap refused");
  nsfd_error_free (&err);
}

static void
test_idmaps (void)
{
  nsfd_error_t err = NULL;
  cleanup_lxc_rootfs struct nsfd_lxc_rootfs r;

  CHECK (parse ("lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"
                "lxc.rootfs.path = overlay:/a:/b\n",
                &r, &err) == 0, "idmaps: %s", err ? nsfd_error_text (err) : "ok");
  CHECK (r.n_idmaps == 2 && r.idmaps[0].kind == 'u' && r.idmaps[0].outer == 100000 && r.idmaps[1].kind == 'g'
             && r.idmaps[1].count == 65536,
         "two maps read");
}

static void
test_container_dir (void)
{
  nsfd_error_t err = NULL;
  cleanup_lxc_rootfs struct nsfd_lxc_rootfs r;
  char dir[] = "/tmp/test-lxc-XXXXXX", p[256], cfg[512];
  FILE *f;

  CHECK (mkdtemp (dir) != NULL, "temp dir");
  snprintf (p, sizeof (p), "%s/delta0", dir);
  mkdir (p, 0755);
  snprintf (p, sizeof (p), "%s/config", dir);
  f = fopen (p, "w");
  /* A container directory moved elsewhere: its config names the old place. */
  snprintf (cfg, sizeof (cfg), "lxc.rootfs.path = overlay:/nonexistent/base:/nonexistent/c1/delta0\n");
  fputs (cfg, f);
  fclose (f);
  CHECK (nsfd_lxc_read_container (dir, &r, &err) == 0, "moved container: %s", err ? nsfd_error_text (err) : "ok");
  snprintf (p, sizeof (p), "%s/delta0", dir);
  CHECK (r.upper && strcmp (r.upper, p) == 0, "its own delta0 is used: %s", S (r.upper));
  nsfd_lxc_rootfs_free (&r);
  snprintf (p, sizeof (p), "%s/delta0", dir);
  rmdir (p);
  CHECK (nsfd_lxc_read_container (dir, &r, &err) < 0 && err && err->status == ENOENT, "no delta at all: %s",
         err ? err->msg : "");
  nsfd_error_free (&err);
  snprintf (p, sizeof (p), "%s/config", dir);
  unlink (p);
  rmdir (dir);
}

static const char *
msg_of (nsfd_error_t err)
{
  return err && err->msg ? err->msg : "";
}

/* dir/name, in one of 8 static buffers used in turn. */
static const char *
at (const char *dir, const char *name)
{
  static char bufs[8][4096];
  static int i;
  char *b = bufs[i++ % 8];
  int n = snprintf (b, sizeof (bufs[0]), "%s/%s", dir, name);
  if (n < 0 || (size_t) n >= sizeof (bufs[0]))
    abort (); /* test paths are short: a cut one would test the wrong file */
  return b;
}

static void
put (const char *dir, const char *name, const char *fmt, const char *arg)
{
  char text[1024];
  snprintf (text, sizeof (text), fmt, arg ? arg : "");
  tu_write_file (at (dir, name), text);
}

static int
parse_inc (const char *fmt, const char *dir, struct nsfd_lxc_rootfs *r, nsfd_error_t *err)
{
  char text[1024];
  snprintf (text, sizeof (text), fmt, dir, dir);
  return parse (text, r, err);
}

static void
test_includes (void)
{
  nsfd_error_t err = NULL;
  cleanup_lxc_rootfs struct nsfd_lxc_rootfs r;
  char dir[] = "/tmp/test-lxc-inc-XXXXXX";
  char *big;

  CHECK (mkdtemp (dir) != NULL, "temp dir");
  put (dir, "rootfs.conf", "# common\nlxc.rootfs.path = overlay:/inc/lower:/inc/upper\n", NULL);
  mkdir (at (dir, "conf.d"), 0755);
  put (dir, "conf.d/20-b.conf", "lxc.rootfs.path = overlay:/b/l:/b/u\n", NULL);
  put (dir, "conf.d/10-a.conf", "lxc.idmap = u 0 100000 65536\nlxc.rootfs.path = overlay:/a/l:/a/u\n", NULL);
  put (dir, "conf.d/30-c.txt", "lxc.rootfs.path = overlay:/c/l:/c/u\n", NULL);
  put (dir, "conf.d/.conf", "lxc.rootfs.path = overlay:/d/l:/d/u\n", NULL);

  /* lxc.rootfs.path only in the included file. */
  CHECK (parse_inc ("lxc.uts.name = c1\nlxc.include = %s/rootfs.conf\n", dir, &r, &err) == 0,
         "rootfs from an include: %s", err ? nsfd_error_text (err) : "ok");
  CHECK (r.lower && strcmp (r.lower, "/inc/lower") == 0, "lower from the include: %s", S (r.lower));
  nsfd_lxc_rootfs_free (&r);

  /* Read where it stands: what follows wins, either way round. */
  CHECK (parse_inc ("lxc.include = %s/rootfs.conf\nlxc.rootfs.path = overlay:/main/l:/main/u\n", dir, &r, &err) == 0
             && r.lower && strcmp (r.lower, "/main/l") == 0,
         "a later line wins over the include: %s", S (r.lower));
  nsfd_lxc_rootfs_free (&r);
  CHECK (parse_inc ("lxc.rootfs.path = overlay:/main/l:/main/u\nlxc.include = %s/rootfs.conf\n", dir, &r, &err) == 0
             && r.lower && strcmp (r.lower, "/inc/lower") == 0,
         "a later include wins over the line: %s", S (r.lower));
  nsfd_lxc_rootfs_free (&r);

  /* A directory: its *.conf in name order (".conf" and *.txt are not read). */
  CHECK (parse_inc ("lxc.include = %s/conf.d\n", dir, &r, &err) == 0, "a directory: %s",
         err ? nsfd_error_text (err) : "ok");
  CHECK (r.lower && strcmp (r.lower, "/b/l") == 0, "the last *.conf by name wins: %s", S (r.lower));
  CHECK (r.n_idmaps == 1 && r.idmaps[0].outer == 100000, "idmaps from an include add up");
  nsfd_lxc_rootfs_free (&r);
  /* An empty lxc.include (LXC: clear the list) is not an error. */
  CHECK (parse ("lxc.include =\nlxc.rootfs.path = overlay:/a:/b\n", &r, &err) == 0, "empty lxc.include");
  nsfd_lxc_rootfs_free (&r);

  /* A loop through two files, and a file that includes itself. */
  put (dir, "loop-a.conf", "lxc.include = %s\n", at (dir, "loop-b.conf"));
  put (dir, "loop-b.conf", "lxc.include = %s\n", at (dir, "loop-a.conf"));
  CHECK (parse_inc ("lxc.include = %s/loop-a.conf\n", dir, &r, &err) < 0 && err && err->status == ELOOP,
         "a loop is refused");
  CHECK_STR_CONTAINS (msg_of (err), "loop-a.conf\" includes itself", "naming the path: %s",
                      err ? err->msg : "");
  nsfd_error_free (&err);
  nsfd_lxc_rootfs_free (&r);
  /* Included twice side by side is no loop. */
  CHECK (parse_inc ("lxc.include = %s/rootfs.conf\nlxc.include = %s/rootfs.conf\n", dir, &r, &err) == 0,
         "the same file twice, not nested: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_lxc_rootfs_free (&r);

  /* Depth: a chain of 8 includes is read, 9 is refused. */
  for (int i = 0; i < 9; i++)
    {
      char name[32], next[32];
      snprintf (name, sizeof (name), "deep%d.conf", i);
      snprintf (next, sizeof (next), "deep%d.conf", i + 1);
      if (i == 7)
        put (dir, name, "lxc.rootfs.path = overlay:/deep/l:/deep/u\n", NULL);
      else
        put (dir, name, "lxc.include = %s\n", at (dir, next));
    }
  CHECK (parse_inc ("lxc.include = %s/deep0.conf\n", dir, &r, &err) == 0 && r.lower
             && strcmp (r.lower, "/deep/l") == 0,
         "8 nested includes: %s", err ? nsfd_error_text (err) : S (r.lower));
  nsfd_lxc_rootfs_free (&r);
  put (dir, "deep7.conf", "lxc.include = %s\n", at (dir, "deep8.conf"));
  put (dir, "deep8.conf", "lxc.rootfs.path = overlay:/deep/l:/deep/u\n", NULL);
  CHECK (parse_inc ("lxc.include = %s/deep0.conf\n", dir, &r, &err) < 0 && err && err->status == ELOOP,
         "9 nested includes are refused");
  CHECK_STR_CONTAINS (msg_of (err), "more than 8 deep", "saying so: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  nsfd_lxc_rootfs_free (&r);

  /* Missing, relative, not a regular file (a fifo must not block), too large. */
  CHECK (parse_inc ("lxc.include = %s/missing.conf\n", dir, &r, &err) < 0 && err && err->status == ENOENT,
         "a missing include is refused");
  CHECK_STR_CONTAINS (msg_of (err), "missing.conf", "naming it: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  nsfd_lxc_rootfs_free (&r);
  CHECK (parse ("lxc.include = conf.d/x.conf\n", &r, &err) < 0 && err && err->status == EINVAL,
         "a relative include is refused");
  CHECK_STR_CONTAINS (msg_of (err), "absolute", "saying why: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  nsfd_lxc_rootfs_free (&r);
  CHECK (mkfifo (at (dir, "fifo.conf"), 0600) == 0, "fifo");
  CHECK (parse_inc ("lxc.include = %s/fifo.conf\n", dir, &r, &err) < 0 && err && err->status == EINVAL,
         "a fifo is refused: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  nsfd_lxc_rootfs_free (&r);
  big = malloc (NSFD_LXC_CONFIG_MAX + 2);
  if (big)
    {
      memset (big, '#', NSFD_LXC_CONFIG_MAX + 1);
      big[NSFD_LXC_CONFIG_MAX + 1] = '\0';
      tu_write_file (at (dir, "big.conf"), big);
      free (big);
    }
  CHECK (parse_inc ("lxc.include = %s/big.conf\n", dir, &r, &err) < 0 && err && err->status == EFBIG,
         "an include past the size bound is refused");
  CHECK_STR_CONTAINS (msg_of (err), "big.conf", "naming it: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  nsfd_lxc_rootfs_free (&r);

  /* From a container directory: its config includes a file with the rootfs,
   * and a config that includes itself is a loop. */
  {
    char c[600], delta[700];
    snprintf (c, sizeof (c), "%s/c1", dir);
    snprintf (delta, sizeof (delta), "%s/overlay/delta", c);
    mkdir (c, 0755);
    mkdir (at (c, "overlay"), 0755);
    mkdir (delta, 0755);
    put (dir, "c1-rootfs.conf", "lxc.rootfs.path = overlay:/var/lib/lxc/base/rootfs:%s\n", delta);
    put (c, "config", "lxc.include = %s\nlxc.uts.name = c1\n", at (dir, "c1-rootfs.conf"));
    CHECK (nsfd_lxc_read_container (c, &r, &err) == 0 && r.upper && strcmp (r.upper, delta) == 0,
           "container config with an include: %s", err ? nsfd_error_text (err) : S (r.upper));
    nsfd_lxc_rootfs_free (&r);
    put (c, "config", "lxc.include = %s\n", at (c, "config"));
    CHECK (nsfd_lxc_read_container (c, &r, &err) < 0 && err && err->status == ELOOP,
           "a config that includes itself: %s", err ? err->msg : "");
    nsfd_error_free (&err);
    nsfd_lxc_rootfs_free (&r);
  }
  tu_rm_tree (dir);
}

int
main (void)
{
  test_layouts ();
  test_refusals ();
  test_idmaps ();
  test_container_dir ();
  test_includes ();
  TAP_DONE ();
}
