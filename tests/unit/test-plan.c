/* lib/plan.c: host-side resolution of an activated container from the
 * bundle's config.json and the admin config, and opening its layer.  Runs in
 * a forked child inside a temporary directory the parent removes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "plan.h"
#include "tap.h"
#include "testutil.h"

static char tmp[64];
static char bundle[128], vols[128], v1[160], base[160], outside[128], rootfs[160];
static struct nsfd_config cfg;

/* Writes bundle/config.json: root.path, then the mounts and linux parts given. */
static void write_config (const char *root_path, const char *mounts, const char *linux_part, ...)
  __attribute__ ((format (printf, 3, 4)));
static void
write_config (const char *root_path, const char *mounts, const char *linux_part, ...)
{
  char path[256], lx[2048], doc[8192];
  va_list ap;

  va_start (ap, linux_part);
  vsnprintf (lx, sizeof (lx), linux_part, ap);
  va_end (ap);
  snprintf (path, sizeof (path), "%s/config.json", bundle);
  if ((size_t) snprintf (doc, sizeof (doc),
                         "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"%s\"},\n \"mounts\": [%s,\n"
                         "  {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"}],\n"
                         " \"annotations\": {\"nsfdsuds.io/persist\": \"/data\"}%s%s}\n",
                         root_path, mounts, *lx ? ",\n \"linux\": " : "", lx)
      >= sizeof (doc))
    abort ();
  tu_write_file (path, doc);
}

static char *
bind_mount (const char *dest, const char *src, const char *opts)
{
  static char buf[4][512];
  static int n;
  char *b = buf[n++ % 4];
  if (snprintf (b, 512, "{\"destination\": \"%s\", \"type\": \"bind\", \"source\": \"%s\", \"options\": [%s]}", dest,
                src, opts)
      >= 512)
    abort ();
  return b;
}

static struct nsfd_request
req (const char *persist, const char *lower, const char *layer)
{
  struct nsfd_request r = { 0 };
  r.activated = 1;
  r.persist_dest = (char *) persist;
  r.lower_dest = (char *) lower;
  r.layer_name = (char *) layer;
  return r;
}

/* Resolves and expects failure with errno status and msg in the text. */
static void
expect_fail (const struct nsfd_request *r, int status, const char *msg, const char *what)
{
  cleanup_plan struct nsfd_plan p;
  nsfd_error_t err = NULL;
  int ret = nsfd_plan_resolve (&cfg, "I-plan", bundle, r, &p, &err);
  CHECK (ret < 0 && err && err->status == status, "%s: refused (%s)", what, err ? nsfd_error_text (err) : "accepted");
  CHECK_STR_CONTAINS (nsfd_error_text (err), msg, "  message has \"%s\"", msg);
  nsfd_error_free (&err);
}

static void
test_found (void)
{
  cleanup_plan struct nsfd_plan p;
  cleanup_plan struct nsfd_plan again;
  struct nsfd_request r = req ("/data", NULL, NULL);
  nsfd_error_t err = NULL;
  char real[PATH_MAX], want[PATH_MAX + 16];
  struct stat st, rst;

  nsfd_plan_init (&again);
  write_config ("rootfs", bind_mount ("/data", v1, "\"rbind\", \"rw\""), "%s", "");
  CHECK (nsfd_plan_resolve (&cfg, "I-plan", bundle, &r, &p, &err) == 0, "persist mount found: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (p.id && strcmp (p.id, "I-plan") == 0 && p.bundle && strcmp (p.bundle, bundle) == 0, "id and bundle kept");
  CHECK (realpath (rootfs, real) && p.rootfs && strcmp (p.rootfs, real) == 0, "rootfs is canonical: %s", p.rootfs);
  CHECK (realpath (v1, real) && p.volume_path && strcmp (p.volume_path, real) == 0, "volume path: %s",
         p.volume_path);
  snprintf (want, sizeof (want), "%s/data", p.rootfs ? p.rootfs : "");
  CHECK (p.persist_target && strcmp (p.persist_target, want) == 0, "persist target: %s", p.persist_target);
  CHECK (p.lower_path == NULL && p.lower_target == NULL && p.lower_fd == -1, "no base volume");
  CHECK (p.root_uid == 0 && p.root_gid == 0, "no user namespace: root is 0:0");
  CHECK (p.req.layer_name && strcmp (p.req.layer_name, "default") == 0, "default layer name");
  CHECK (p.volume_fd == -1 && p.layer.dir_fd == -1, "resolve does not touch the volume");
  CHECK (access (v1, F_OK) == 0 && faccessat (AT_FDCWD, v1, F_OK, 0) == 0, "volume exists");
  {
    char top[256];
    snprintf (top, sizeof (top), "%s/.nsfdsuds", v1);
    CHECK (access (top, F_OK) < 0, "no .nsfdsuds before open_layer");
  }

  CHECK (nsfd_plan_open_layer (&p, &cfg, &err) == 0, "open_layer creates the layer: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (p.layer.created, "layer.created");
  snprintf (want, sizeof (want), "%s/.nsfdsuds/default/upper", p.volume_path);
  CHECK (p.upper_path && strcmp (p.upper_path, want) == 0, "upper path: %s", p.upper_path);
  snprintf (want, sizeof (want), "%s/.nsfdsuds/default/work", p.volume_path);
  CHECK (p.work_path && strcmp (p.work_path, want) == 0, "work path: %s", p.work_path);
  CHECK (p.volume_fd >= 0 && (fcntl (p.volume_fd, F_GETFL) & O_PATH), "volume fd is O_PATH");
  CHECK (stat (rootfs, &rst) == 0 && p.upper_path && stat (p.upper_path, &st) == 0 && st.st_uid == rst.st_uid
             && st.st_gid == rst.st_gid && (st.st_mode & 07777) == (rst.st_mode & 07777),
         "upper takes the rootfs root's owner and mode (%u:%u %o)", (unsigned) st.st_uid, (unsigned) st.st_gid,
         (unsigned) (st.st_mode & 07777));

  CHECK (nsfd_plan_resolve (&cfg, "I-plan", bundle, &r, &again, &err) == 0
             && nsfd_plan_open_layer (&again, &cfg, &err) == 0 && !again.layer.created,
         "a second plan opens the same layer (created=false)");
  nsfd_error_free (&err);
  nsfd_plan_free (&again);

  r = req ("/data", NULL, "I-other");
  CHECK (nsfd_plan_resolve (&cfg, "I-plan", bundle, &r, &again, &err) == 0
             && nsfd_plan_open_layer (&again, &cfg, &err) == 0 && again.layer.created,
         "a named layer is a separate layer");
  snprintf (want, sizeof (want), "%s/.nsfdsuds/I-other/upper", again.volume_path ? again.volume_path : "");
  CHECK (again.upper_path && strcmp (again.upper_path, want) == 0, "  under its own name");
  nsfd_error_free (&err);
  nsfd_plan_free (&again);
  nsfd_plan_free (&again);
  CHECK (again.volume_fd == -1 && again.rootfs == NULL, "plan_free twice is harmless");
}

static void
test_refusals (void)
{
  struct nsfd_request r = req ("/data", NULL, NULL);
  char p[512], esc[256];

  write_config ("rootfs", bind_mount ("/other", v1, "\"rbind\""), "%s", "");
  expect_fail (&r, ENOENT, "has no mount there", "persist destination not mounted");

  write_config ("rootfs", "{\"destination\": \"/data\", \"type\": \"tmpfs\", \"source\": \"tmpfs\"}", "%s", "");
  expect_fail (&r, EINVAL, "which is a tmpfs mount", "non-bind mount");

  write_config ("rootfs", bind_mount ("/data", "relative/dir", "\"rbind\""), "%s", "");
  expect_fail (&r, EINVAL, "not a volume bind-mounted from a host directory", "relative bind source");

  write_config ("rootfs", bind_mount ("/data", outside, "\"rbind\""), "%s", "");
  expect_fail (&r, EPERM, "outside the allowed volume prefixes", "source outside the allowed prefixes");

  snprintf (p, sizeof (p), "%s2", vols);
  mkdir (p, 0755);
  write_config ("rootfs", bind_mount ("/data", p, "\"rbind\""), "%s", "");
  expect_fail (&r, EPERM, "outside the allowed volume prefixes", "sibling of the prefix (vols2)");

  snprintf (esc, sizeof (esc), "%s/escape", vols);
  (void) !symlink (outside, esc);
  write_config ("rootfs", bind_mount ("/data", esc, "\"rbind\""), "%s", "");
  expect_fail (&r, EPERM, "outside the allowed volume prefixes", "symlink inside the prefix leading outside");

  snprintf (p, sizeof (p), "%s/../outside", vols);
  write_config ("rootfs", bind_mount ("/data", p, "\"rbind\""), "%s", "");
  expect_fail (&r, EPERM, "outside the allowed volume prefixes", "\"..\" leading outside");

  snprintf (p, sizeof (p), "%s/missing", vols);
  write_config ("rootfs", bind_mount ("/data", p, "\"rbind\""), "%s", "");
  expect_fail (&r, ENOENT, "volume source", "missing source");

  /* Volume and rootfs overlapping (both under the prefix). */
  snprintf (p, sizeof (p), "%s/rootfs-in", vols);
  mkdir (p, 0755);
  snprintf (esc, sizeof (esc), "%s/rootfs-in/data", vols);
  mkdir (esc, 0755);
  write_config (p, bind_mount ("/data", esc, "\"rbind\""), "%s", "");
  expect_fail (&r, EINVAL, "overlap", "volume inside the rootfs");

  write_config ("rootfs", bind_mount ("/data", v1, "\"rbind\""), "%s", "");
  {
    cleanup_plan struct nsfd_plan pl;
    nsfd_error_t err = NULL;
    CHECK (nsfd_plan_resolve (&cfg, "I-plan", "relative/bundle", &r, &pl, &err) < 0 && err
               && err->status == EINVAL,
           "relative bundle path refused");
    nsfd_error_free (&err);
  }
  {
    char cj[256], cj2[256];
    cleanup_plan struct nsfd_plan pl;
    nsfd_error_t err = NULL;
    snprintf (cj, sizeof (cj), "%s/config.json", bundle);
    snprintf (cj2, sizeof (cj2), "%s/real-config.json", tmp);
    rename (cj, cj2);
    (void) !symlink (cj2, cj);
    CHECK (nsfd_plan_resolve (&cfg, "I-plan", bundle, &r, &pl, &err) < 0 && err && err->status == ELOOP,
           "config.json that is a symlink refused: %s", err ? nsfd_error_text (err) : "accepted");
    nsfd_error_free (&err);
    unlink (cj);
  }
}

static void
test_userns (void)
{
  struct nsfd_request r = req ("/data", NULL, NULL);
  nsfd_error_t err = NULL;

  write_config ("rootfs", bind_mount ("/data", v1, "\"rbind\""),
                "{\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"user\"}],"
                " \"uidMappings\": [{\"containerID\": 0, \"hostID\": %d, \"size\": 65536}],"
                " \"gidMappings\": [{\"containerID\": 1, \"hostID\": 5000, \"size\": 10},"
                " {\"containerID\": 0, \"hostID\": %d, \"size\": 1}]}",
                100000, 200000);
  {
    cleanup_plan struct nsfd_plan p;
    CHECK (nsfd_plan_resolve (&cfg, "I-plan", bundle, &r, &p, &err) == 0, "user namespace config resolves: %s",
           err ? nsfd_error_text (err) : "ok");
    CHECK (p.root_uid == 100000 && p.root_gid == 200000, "container root maps to host %u:%u", (unsigned) p.root_uid,
           (unsigned) p.root_gid);
    nsfd_error_free (&err);
  }
  write_config ("rootfs", bind_mount ("/data", v1, "\"rbind\""), "%s",
                "{\"namespaces\": [{\"type\": \"user\"}],"
                " \"uidMappings\": [{\"containerID\": 1, \"hostID\": 100001, \"size\": 65535}],"
                " \"gidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}]}");
  expect_fail (&r, EINVAL, "uid 0 of the container is not mapped", "user namespace without uid 0 mapped");
  write_config ("rootfs", bind_mount ("/data", v1, "\"rbind\""), "%s",
                "{\"namespaces\": [{\"type\": \"user\"}],"
                " \"uidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}],"
                " \"gidMappings\": [{\"containerID\": 1, \"hostID\": 100001, \"size\": 65535}]}");
  expect_fail (&r, EINVAL, "gid 0 of the container is not mapped", "user namespace without gid 0 mapped");
}

static void
test_lower (void)
{
  char mounts[1200];
  struct nsfd_request r = req ("/data", "/base", NULL);
  nsfd_error_t err = NULL;
  struct stat st;

  snprintf (mounts, sizeof (mounts), "%s, %s", bind_mount ("/data", v1, "\"rbind\""),
            bind_mount ("/base", base, "\"rbind\", \"rw\""));
  write_config ("rootfs", mounts, "%s", "");
  expect_fail (&r, EINVAL, "not mounted read-only", "base volume mounted read-write");

  snprintf (mounts, sizeof (mounts), "%s, %s", bind_mount ("/data", v1, "\"rbind\""),
            bind_mount ("/base", outside, "\"rbind\", \"ro\""));
  write_config ("rootfs", mounts, "%s", "");
  expect_fail (&r, EPERM, "nsfdsuds.io/lower", "base volume outside the allowed prefixes");

  {
    struct nsfd_request same = req ("/data", "/data", NULL);
    snprintf (mounts, sizeof (mounts), "%s", bind_mount ("/data", v1, "\"rbind\", \"ro\""));
    write_config ("rootfs", mounts, "%s", "");
    expect_fail (&same, EINVAL, "name the same volume", "base and persistent volume the same");
  }

  snprintf (mounts, sizeof (mounts), "%s, %s", bind_mount ("/data", v1, "\"rbind\""),
            bind_mount ("/base", base, "\"rbind\", \"ro\""));
  write_config ("rootfs", mounts, "%s", "");
  {
    cleanup_plan struct nsfd_plan p;
    char real[PATH_MAX], want[PATH_MAX + 16];
    CHECK (nsfd_plan_resolve (&cfg, "I-plan", bundle, &r, &p, &err) == 0, "read-only base volume accepted: %s",
           err ? nsfd_error_text (err) : "ok");
    nsfd_error_free (&err);
    CHECK (realpath (base, real) && p.lower_path && strcmp (p.lower_path, real) == 0, "lower path");
    snprintf (want, sizeof (want), "%s/base", p.rootfs ? p.rootfs : "");
    CHECK (p.lower_target && strcmp (p.lower_target, want) == 0, "lower target %s", p.lower_target);
    r.layer_name = (char *) "I-with-base";
    nsfd_request_free (&p.req);
    p.req.persist_dest = strdup ("/data");
    p.req.lower_dest = strdup ("/base");
    p.req.layer_name = strdup ("I-with-base");
    p.req.activated = 1;
    CHECK (nsfd_plan_open_layer (&p, &cfg, &err) == 0 && p.lower_fd >= 0, "open_layer opens the base volume: %s",
           err ? nsfd_error_text (err) : "ok");
    nsfd_error_free (&err);
    CHECK (p.upper_path && stat (p.upper_path, &st) == 0 && st.st_uid == 1000 && st.st_gid == 1001
               && (st.st_mode & 07777) == 0750,
           "upper takes the base volume's owner and mode (%u:%u %o)", (unsigned) st.st_uid, (unsigned) st.st_gid,
           (unsigned) (st.st_mode & 07777));
  }
}

/* The volume is swapped for a symlink between resolve and open_layer. */
static void
test_swapped_volume (void)
{
  cleanup_plan struct nsfd_plan p;
  struct nsfd_request r = req ("/data", NULL, NULL);
  nsfd_error_t err = NULL;
  char v2[256], v2real[256], top[300];

  snprintf (v2, sizeof (v2), "%s/v2", vols);
  snprintf (v2real, sizeof (v2real), "%s/v2-real", vols);
  mkdir (v2, 0755);
  mkdir (v2real, 0755);
  write_config ("rootfs", bind_mount ("/data", v2, "\"rbind\""), "%s", "");
  CHECK (nsfd_plan_resolve (&cfg, "I-plan", bundle, &r, &p, &err) == 0, "resolve v2");
  nsfd_error_free (&err);
  rmdir (v2);
  (void) !symlink ("v2-real", v2);
  CHECK (nsfd_plan_open_layer (&p, &cfg, &err) < 0 && err && err->status == ELOOP,
         "a volume replaced by a symlink after resolve is refused: %s", err ? nsfd_error_text (err) : "accepted");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "nsfdsuds.io/persist", "  message names the annotation");
  nsfd_error_free (&err);
  snprintf (top, sizeof (top), "%s/.nsfdsuds", v2real);
  CHECK (access (top, F_OK) < 0, "nothing created behind the symlink");
}

static int
body (void)
{
  char cfgtext[512];
  nsfd_error_t err = NULL;

  snprintf (bundle, sizeof (bundle), "%s/bundle", tmp);
  snprintf (rootfs, sizeof (rootfs), "%s/rootfs", bundle);
  snprintf (vols, sizeof (vols), "%s/vols", tmp);
  snprintf (v1, sizeof (v1), "%s/v1", vols);
  snprintf (base, sizeof (base), "%s/base", vols);
  snprintf (outside, sizeof (outside), "%s/outside", tmp);
  mkdir (bundle, 0755);
  mkdir (rootfs, 0755);
  chmod (rootfs, 0705);
  mkdir (vols, 0755);
  mkdir (v1, 0755);
  mkdir (base, 0750);
  chmod (base, 0750);
  (void) !chown (base, 1000, 1001);
  mkdir (outside, 0755);

  memset (&cfg, 0, sizeof (cfg));
  snprintf (cfgtext, sizeof (cfgtext), "{\"allowedVolumePrefixes\": [\"%s\"]}", vols);
  CHECK (nsfd_config_parse (cfgtext, strlen (cfgtext), &cfg, &err) == 0, "admin config: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);

  test_found ();
  test_refusals ();
  test_userns ();
  test_lower ();
  test_swapped_volume ();
  nsfd_config_free (&cfg);
  TAP_DONE ();
}

int
main (void)
{
  TAP_SKIP_UNLESS_ROOT ();
  TU_SKIP_UNLESS_OPENAT2 ();
  return tu_run_in_tmpdir (tmp, sizeof (tmp), "plan", body);
}
