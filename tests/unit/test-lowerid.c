/* lib/lowerid.c: the same image gives the same fingerprint whether the
 * runtime's mount points are in it (hook mode) or not (wrapper mode), and a
 * record of the previous scheme is recognised in both views.  The scheme-1
 * values below were computed by nsfdsuds 0.1.0 (lib/lowerid.c before scheme
 * 2) on exactly this fixture. */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "cleanup.h"
#include "lowerid.h"
#include "testutil.h"

#define S1_HOOK_VIEW "fnv1a64:088a7bfe998feae6"     /* the fixture with the mount points */
#define S1_WRAPPER_VIEW "fnv1a64:c8d6c09b3529e14c"  /* the fixture without them */

static const struct nsfd_mount_point mps[] = {
  { "/proc", true },
  { "/dev", true },
  { "/etc/hosts", false },
  { "/etc/hostname", false },
  { "/var/run/secrets/kubernetes.io/serviceaccount", true },
};

static void
file_of (const char *root, const char *rel, char c, size_t n)
{
  char path[4096], buf[128];
  struct timespec t[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
  memset (buf, c, n);
  buf[n] = '\0';
  snprintf (path, sizeof (path), "%s/%s", root, rel);
  tu_write_file (path, buf);
  (void) utimensat (AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW);
}

static void
dir_of (const char *root, const char *rel)
{
  char path[4096], *p;
  snprintf (path, sizeof (path), "%s/%s", root, rel);
  for (p = path + strlen (root) + 1; (p = strchr (p, '/')) != NULL; p++)
    {
      *p = '\0';
      (void) mkdir (path, 0755);
      *p = '/';
    }
  (void) mkdir (path, 0755);
}

/* The image; with_mount_points: as the runtime leaves it in hook mode. */
static void
fixture (const char *root, bool with_mount_points)
{
  char path[4096];
  tu_rm_tree (root);
  (void) mkdir (root, 0755);
  dir_of (root, "bin");
  dir_of (root, "etc");
  dir_of (root, "usr/bin");
  file_of (root, "bin/sh", 'x', 100);
  snprintf (path, sizeof (path), "%s/etc/os-release", root);
  tu_write_file (path, "ID=test\n");
  {
    struct timespec t[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
    (void) utimensat (AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW);
  }
  file_of (root, "usr/bin/env", 'y', 50);
  if (with_mount_points)
    {
      snprintf (path, sizeof (path), "%s/etc/hosts", root);
      tu_write_file (path, "");
      snprintf (path, sizeof (path), "%s/etc/hostname", root);
      tu_write_file (path, "");
      dir_of (root, "proc");
      dir_of (root, "dev");
      dir_of (root, "var/run/secrets/kubernetes.io/serviceaccount");
    }
}

static int
compute (const char *root, char out[NSFD_LOWERID_LEN + 1])
{
  cleanup_error nsfd_error_t err = NULL;
  cleanup_close int fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? -1 : nsfd_lowerid_compute (fd, out, &err);
}

static int
scheme1 (const char *root, const char *recorded)
{
  cleanup_error nsfd_error_t err = NULL;
  cleanup_close int fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? -1 : nsfd_lowerid_matches_scheme1 (fd, recorded, mps, NSFD_ARRAY_SIZE (mps), &err);
}

int
main (void)
{
  char tmpl[] = "/tmp/nsfd-test-lowerid.XXXXXX", hook[4200], wrap[4200];
  char a[NSFD_LOWERID_LEN + 1], b[NSFD_LOWERID_LEN + 1], c[NSFD_LOWERID_LEN + 1];
  const char *top = mkdtemp (tmpl);

  if (top == NULL)
    return 1;
  snprintf (hook, sizeof (hook), "%s/hook", top);
  snprintf (wrap, sizeof (wrap), "%s/wrapper", top);
  fixture (hook, true);
  fixture (wrap, false);

  CHECK (compute (hook, a) == 0 && compute (wrap, b) == 0, "fingerprints computed");
  CHECK (strcmp (a, b) == 0, "scheme 2: the same image with and without the runtime's mount points: %s / %s", a, b);
  CHECK (strncmp (a, "fnv1a64:", 8) == 0 && strlen (a) == NSFD_LOWERID_LEN, "the id keeps its form: %s", a);

  CHECK (scheme1 (hook, S1_HOOK_VIEW) == 1, "scheme 1, recorded in hook mode, read in hook mode");
  CHECK (scheme1 (wrap, S1_HOOK_VIEW) == 1, "scheme 1, recorded in hook mode, read by the wrapper");
  CHECK (scheme1 (hook, S1_WRAPPER_VIEW) == 1, "scheme 1, recorded by the wrapper, read in hook mode");
  CHECK (scheme1 (wrap, S1_WRAPPER_VIEW) == 1, "scheme 1, recorded by the wrapper, read by the wrapper");
  CHECK (scheme1 (wrap, "fnv1a64:0000000000000000") == 0, "another scheme-1 record does not match");

  /* A real change to the image: a program grows. */
  file_of (wrap, "bin/sh", 'x', 101);
  CHECK (compute (wrap, c) == 0 && strcmp (c, b) != 0, "scheme 2: a changed /bin/sh changes the fingerprint");
  CHECK (scheme1 (wrap, S1_HOOK_VIEW) == 0 && scheme1 (wrap, S1_WRAPPER_VIEW) == 0,
         "scheme 1 records do not match a changed image");
  file_of (wrap, "bin/sh", 'x', 100);

  /* Non-empty content where a mount point was counts. */
  {
    char path[4300];
    snprintf (path, sizeof (path), "%s/etc/hosts", wrap);
    tu_write_file (path, "127.0.0.1 localhost\n");
    CHECK (compute (wrap, c) == 0 && strcmp (c, b) != 0, "a non-empty /etc/hosts in the image counts");
    (void) unlink (path);
    snprintf (path, sizeof (path), "%s/opt/tool", wrap);
    dir_of (wrap, "opt");
    tu_write_file (path, "#!/bin/sh\n");
    CHECK (compute (wrap, c) == 0 && strcmp (c, b) != 0, "a new top-level directory with a file counts");
  }
  tu_rm_tree (top);
  TAP_DONE ();
}
