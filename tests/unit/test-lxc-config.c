/* lib/lxc-config.c: the overlay rootfs and id maps of an LXC config. */
#include <errno.h>
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

int
main (void)
{
  test_layouts ();
  test_refusals ();
  test_idmaps ();
  test_container_dir ();
  TAP_DONE ();
}
