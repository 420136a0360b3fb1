/* lib/rundir.c: the per-container runtime directory and its record.  Runs in
 * a forked child; run_dir is a temporary directory the parent removes. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "procfs.h"
#include "rundir.h"
#include "tap.h"
#include "testutil.h"

static char tmp[64];

static unsigned
mode_of (const char *fmt, const char *a, const char *b)
{
  char p[512];
  struct stat st;
  snprintf (p, sizeof (p), fmt, a, b);
  if (lstat (p, &st) < 0)
    return 0xffff;
  return (unsigned) (st.st_mode & 07777);
}

static int
bind_socket (const char *run, const char *id, bool listening)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int s = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  snprintf (sa.sun_path, sizeof (sa.sun_path), "%s/%s/socket", run, id);
  CHECK (s >= 0 && bind (s, (struct sockaddr *) &sa, sizeof (sa)) == 0 && (!listening || listen (s, 4) == 0),
         "bind a socket in %s/", id);
  if (!listening && s >= 0)
    {
      close (s);
      s = -1;
    }
  return s;
}

/* A process that has ended (forked and reaped): its pid names nothing. */
static pid_t
dead_pid (void)
{
  pid_t c = fork ();
  if (c == 0)
    _exit (0);
  waitpid (c, NULL, 0);
  return c;
}

static bool
exists (const char *run, const char *id, const char *name)
{
  char p[512];
  snprintf (p, sizeof (p), "%s/%s/%s", run, id, name);
  return access (p, F_OK) == 0;
}

static void
test_dirs (const char *run)
{
  nsfd_error_t err = NULL;
  char p[512];
  struct stat st;
  int fd, fd2;

  /* A restrictive umask must not make the directories unusable. */
  umask (077);
  fd = nsfd_rundir_create (run, "I-c1", &err);
  umask (022);
  CHECK (fd >= 0, "create: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode), "returns an fd of <id>/");
  CHECK (fd >= 0 && (fcntl (fd, F_GETFD) & FD_CLOEXEC), "  CLOEXEC");
  CHECK (mode_of ("%s%s", run, "") == 0711, "runDir is 0711 (%o)", mode_of ("%s%s", run, ""));
  CHECK (mode_of ("%s/%s", run, "I-c1") == 0711, "<id>/ is 0711 (%o)", mode_of ("%s/%s", run, "I-c1"));
  CHECK (mode_of ("%s/%s/newroot", run, "I-c1") == 0700, "newroot is 0700 (%o)",
         mode_of ("%s/%s/newroot", run, "I-c1"));
  snprintf (p, sizeof (p), "%s/I-c1", run);
  CHECK (lstat (p, &st) == 0 && st.st_uid == 0 && st.st_gid == 0, "<id>/ owned by root");

  fd2 = nsfd_rundir_create (run, "I-c1", &err);
  CHECK (fd2 >= 0, "create again without a socket is fine");
  if (fd2 >= 0)
    close (fd2);
  nsfd_error_free (&err);

  /* A mounter is waiting (no record yet): its socket listens. */
  {
    int s = bind_socket (run, "I-c1", true);
    fd2 = nsfd_rundir_create (run, "I-c1", &err);
    CHECK (fd2 < 0 && err && err->status == EEXIST, "EEXIST when a socket is listened on");
    CHECK_STR_CONTAINS (nsfd_error_text (err), "a mounter is already waiting for container \"I-c1\"",
                        "  message: %s", nsfd_error_text (err));
    nsfd_error_free (&err);
    if (fd2 >= 0)
      close (fd2);
    if (s >= 0)
      close (s);
  }

  fd2 = nsfd_rundir_open (run, "I-c1", &err);
  CHECK (fd2 >= 0, "open");
  {
    struct stat a, b;
    CHECK (fd2 >= 0 && fstat (fd, &a) == 0 && fstat (fd2, &b) == 0 && a.st_ino == b.st_ino, "  same directory");
  }
  if (fd2 >= 0)
    close (fd2);
  fd2 = nsfd_rundir_open (run, "I-missing", &err);
  CHECK (fd2 < 0 && err && err->status == ENOENT, "open of a missing id: ENOENT");
  nsfd_error_free (&err);

  snprintf (p, sizeof (p), "%s/I-link", run);
  (void) !symlink ("I-c1", p);
  fd2 = nsfd_rundir_open (run, "I-link", &err);
  CHECK (fd2 < 0 && err, "open refuses an id that is a symlink");
  nsfd_error_free (&err);
  fd2 = nsfd_rundir_create (run, "I-link", &err);
  CHECK (fd2 < 0 && err, "create refuses an id that is a symlink");
  nsfd_error_free (&err);
  unlink (p);

  close (fd);
  CHECK (nsfd_rundir_remove (run, "I-c1", &err) == 0, "remove");
  snprintf (p, sizeof (p), "%s/I-c1", run);
  CHECK (access (p, F_OK) < 0 && errno == ENOENT, "  <id>/ is gone (with its socket and newroot)");
  CHECK (access (run, F_OK) == 0, "  runDir stays");
  CHECK (nsfd_rundir_remove (run, "I-c1", &err) == 0, "remove again is fine");
  snprintf (p, sizeof (p), "%s/nonexistent", tmp);
  CHECK (nsfd_rundir_remove (p, "I-c1", &err) == 0, "remove with a missing runDir is fine");
  nsfd_error_free (&err);

  /* A removal never follows a symlink planted inside. */
  fd = nsfd_rundir_create (run, "I-c2", &err);
  nsfd_error_free (&err);
  {
    char keep[256], lnk[512];
    snprintf (keep, sizeof (keep), "%s/keep", tmp);
    mkdir (keep, 0755);
    snprintf (lnk, sizeof (lnk), "%s/keep/file", tmp);
    close (open (lnk, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    snprintf (lnk, sizeof (lnk), "%s/I-c2/newroot/evil", run);
    (void) !symlink (keep, lnk);
    CHECK (nsfd_rundir_remove (run, "I-c2", &err) == 0, "remove with a planted symlink");
    snprintf (lnk, sizeof (lnk), "%s/keep/file", tmp);
    CHECK (access (lnk, F_OK) == 0, "  the symlink's target survives");
  }
  if (fd >= 0)
    close (fd);
}

/* <id>/ with a socket and a record: create EEXIST (expect_stale false) or a
 * clean new <id>/ (true). */
static void
check_leftover (const char *run, const char *id, const struct nsfd_record *rec, bool listening, bool expect_stale,
                const char *what)
{
  nsfd_error_t err = NULL;
  int s, fd = nsfd_rundir_create (run, id, &err);
  nsfd_error_free (&err);
  if (rec)
    CHECK (fd >= 0 && nsfd_record_write (fd, rec, &err) == 0, "%s: record written", what);
  nsfd_error_free (&err);
  if (fd >= 0)
    close (fd);
  s = bind_socket (run, id, listening);
  fd = nsfd_rundir_create (run, id, &err);
  if (expect_stale)
    {
      CHECK (fd >= 0, "%s: taken over as a failed start's leftover (%s)", what, err ? nsfd_error_text (err) : "ok");
      CHECK (!exists (run, id, "socket") && !exists (run, id, "record") && exists (run, id, "newroot"),
             "  <id>/ is new: no socket, no record, newroot made again");
    }
  else
    CHECK (fd < 0 && err && err->status == EEXIST, "%s: EEXIST (%s)", what, err ? nsfd_error_text (err) : "created");
  nsfd_error_free (&err);
  if (fd >= 0)
    close (fd);
  if (s >= 0)
    close (s);
  CHECK (nsfd_rundir_remove (run, id, &err) == 0, "  removed");
  nsfd_error_free (&err);
}

/* What a start killed part-way leaves (crun runs no poststop after a failed
 * create) must not refuse the next create of that id; what lives must. */
static void
test_leftovers (const char *run)
{
  struct nsfd_record rec;
  unsigned long long self_start = 0;

  CHECK (nsfd_proc_start_time (getpid (), &self_start) == 0, "our own start time");
  check_leftover (run, "I-s1", NULL, false, true, "no record, nobody listening");
  check_leftover (run, "I-s2", NULL, true, false, "no record, a mounter listening");

  memset (&rec, 0, sizeof (rec));
  snprintf (rec.layer_path, sizeof (rec.layer_path), "/vol/.nsfdsuds/default");
  rec.mounter_pid = dead_pid ();
  rec.mounter_start = 1;
  rec.container_pid = dead_pid ();
  rec.container_start = 1;
  check_leftover (run, "I-s3", &rec, false, true, "mounter and container init gone");

  rec.container_pid = getpid ();
  rec.container_start = self_start;
  check_leftover (run, "I-s4", &rec, false, false, "the container's init runs");

  /* A started container: the mounter removed the socket, the record stays. */
  {
    nsfd_error_t err = NULL;
    int fd = nsfd_rundir_create (run, "I-run", &err), fd2;
    CHECK (fd >= 0 && nsfd_record_write (fd, &rec, &err) == 0, "a running container's record");
    nsfd_error_free (&err);
    fd2 = nsfd_rundir_create (run, "I-run", &err);
    CHECK (fd2 < 0 && err && err->status == EEXIST, "the same id again while it runs: EEXIST");
    CHECK_STR_CONTAINS (nsfd_error_text (err), "is already running (init pid", "  message: %s", nsfd_error_text (err));
    nsfd_error_free (&err);
    if (fd2 >= 0)
      close (fd2);
    rec.container_pid = dead_pid ();
    CHECK (nsfd_record_write (fd, &rec, &err) == 0, "  its init gone");
    fd2 = nsfd_rundir_create (run, "I-run", &err);
    CHECK (fd2 >= 0, "  then the id is free again: %s", err ? nsfd_error_text (err) : "ok");
    nsfd_error_free (&err);
    if (fd2 >= 0)
      close (fd2);
    if (fd >= 0)
      close (fd);
    nsfd_rundir_remove (run, "I-run", &err);
    nsfd_error_free (&err);
    rec.container_pid = getpid ();
  }

  /* Its pid reused by another process: the start time tells. */
  rec.container_start = self_start + 1;
  check_leftover (run, "I-s5", &rec, false, true, "the init's pid now names another process");

  rec.container_pid = dead_pid ();
  rec.mounter_pid = getpid ();
  rec.mounter_start = self_start;
  check_leftover (run, "I-s6", &rec, false, false, "the mounter still runs");

  /* A record of an older nsfdsuds names no container: nothing to tell by. */
  rec.container_pid = 0;
  rec.mounter_pid = dead_pid ();
  check_leftover (run, "I-s7", &rec, false, false, "a record without the container's pid");
}

static void
test_bad_run_dirs (void)
{
  nsfd_error_t err = NULL;
  char p[256], q[256];
  int fd;

  fd = nsfd_rundir_create ("relative/run", "I-c", &err);
  CHECK (fd < 0 && err && err->status == EINVAL, "relative runDir refused");
  nsfd_error_free (&err);

  snprintf (p, sizeof (p), "%s/real-run", tmp);
  mkdir (p, 0711);
  snprintf (q, sizeof (q), "%s/link-run", tmp);
  (void) !symlink (p, q);
  fd = nsfd_rundir_create (q, "I-c", &err);
  CHECK (fd < 0 && err, "runDir that is a symlink refused: %s", nsfd_error_text (err));
  nsfd_error_free (&err);
  fd = nsfd_rundir_open (q, "I-c", &err);
  CHECK (fd < 0 && err, "  also by open");
  nsfd_error_free (&err);

  snprintf (p, sizeof (p), "%s/user-run", tmp);
  mkdir (p, 0711);
  (void) !chown (p, 1000, 1000);
  fd = nsfd_rundir_create (p, "I-c", &err);
  CHECK (fd < 0 && err && err->status == EPERM, "runDir owned by another user refused");
  nsfd_error_free (&err);

  snprintf (p, sizeof (p), "%s/open-run", tmp);
  mkdir (p, 0777);
  chmod (p, 0777);
  fd = nsfd_rundir_create (p, "I-c", &err);
  CHECK (fd < 0 && err && err->status == EPERM, "world-writable runDir refused");
  nsfd_error_free (&err);

  snprintf (p, sizeof (p), "%s/r", tmp);
  mkdir (p, 0711);
  fd = nsfd_rundir_create (p, "../escape", &err);
  CHECK (fd < 0 && err && err->status == EINVAL, "an id with a slash refused");
  nsfd_error_free (&err);
  fd = nsfd_rundir_create (p, "..", &err);
  CHECK (fd < 0 && err, "an id \"..\" refused");
  nsfd_error_free (&err);
}

static void
test_path (void)
{
  nsfd_error_t err = NULL;
  char buf[64];
  CHECK (nsfd_rundir_path ("/run/nsfdsuds", "c", "socket", buf, sizeof (buf), &err) == 0
             && strcmp (buf, "/run/nsfdsuds/c/socket") == 0,
         "rundir_path with a name");
  CHECK (nsfd_rundir_path ("/run/nsfdsuds", "c", NULL, buf, sizeof (buf), &err) == 0
             && strcmp (buf, "/run/nsfdsuds/c") == 0,
         "rundir_path without a name");
  CHECK (nsfd_rundir_path ("/run/nsfdsuds", "a-very-long-container-id-that-does-not-fit-in-64-bytes", "socket", buf,
                           sizeof (buf), &err)
             < 0
             && err && err->status == ENAMETOOLONG,
         "rundir_path too long: ENAMETOOLONG");
  nsfd_error_free (&err);
  CHECK (nsfd_rundir_path ("/r", "id", "socket", buf, 13, &err) == 0 && nsfd_rundir_path ("/r", "id", "socket", buf, 12, &err) < 0,
         "rundir_path bound is exact (12 chars + NUL)");
  nsfd_error_free (&err);
}

static void
test_record (const char *run)
{
  nsfd_error_t err = NULL;
  struct nsfd_record w, r;
  char p[512];
  struct stat st;
  cleanup_close int fd = nsfd_rundir_create (run, "I-rec", &err);

  nsfd_error_free (&err);
  memset (&w, 0, sizeof (w));
  snprintf (w.layer_path, sizeof (w.layer_path), "/vol/with \"quotes\" and \\backslash/.nsfdsuds/default");
  w.mounter_pid = 12345;
  w.mounter_start = 9876543210ULL;
  CHECK (nsfd_record_write (fd, &w, &err) == 0, "record write");
  snprintf (p, sizeof (p), "%s/I-rec/record", run);
  CHECK (lstat (p, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_uid == 0,
         "record is a 0600 root file");
  CHECK (strcmp (tu_slurp (p), "{\"layer\":\"/vol/with \\\"quotes\\\" and \\\\backslash/.nsfdsuds/default\","
                               "\"mounterPid\":12345,\"mounterStartTime\":9876543210,\"wrapper\":false}\n")
             == 0,
         "record bytes as they have always been: %s", tu_slurp (p));
  CHECK (nsfd_record_read (fd, &r, &err) == 0, "record read: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (strcmp (r.layer_path, w.layer_path) == 0, "layer path round trip: %s", r.layer_path);
  CHECK (r.mounter_pid == 12345 && r.mounter_start == 9876543210ULL, "pid and start time round trip");
  CHECK (r.container_pid == 0 && r.container_start == 0, "no container pid when none was written");
  w.container_pid = 4242;
  w.container_start = 77;
  CHECK (nsfd_record_write (fd, &w, &err) == 0 && nsfd_record_read (fd, &r, &err) == 0 && r.container_pid == 4242
             && r.container_start == 77,
         "the container's pid and start time round trip");
  CHECK_STR_CONTAINS (tu_slurp (p), "\"containerPid\":4242,\"containerStartTime\":77", "  as %s", tu_slurp (p));
  nsfd_error_free (&err);

  /* The longest path made only of characters that need escaping. */
  memset (w.layer_path, '"', sizeof (w.layer_path) - 1);
  w.layer_path[sizeof (w.layer_path) - 1] = '\0';
  if (nsfd_record_write (fd, &w, &err) == 0)
    {
      CHECK (nsfd_record_read (fd, &r, &err) == 0 && strcmp (r.layer_path, w.layer_path) == 0 && r.mounter_pid == 12345,
             "a record with a 4095-byte escaped path round trips");
    }
  else
    CHECK (err != NULL, "a record too long to write is an error: %s", nsfd_error_text (err));
  nsfd_error_free (&err);

  {
    int f = open (p, O_WRONLY | O_TRUNC | O_CLOEXEC);
    (void) !write (f, "not json", 8);
    close (f);
  }
  CHECK (nsfd_record_read (fd, &r, &err) < 0 && err && err->status == EINVAL, "record that is not JSON: EINVAL");
  nsfd_error_free (&err);
  unlink (p);
  CHECK (nsfd_record_read (fd, &r, &err) < 0 && err && err->status == ENOENT, "missing record: ENOENT");
  nsfd_error_free (&err);
  {
    char t[256];
    snprintf (t, sizeof (t), "%s/fake-record", tmp);
    tu_write_file (t, "{\"layer\":\"/etc\",\"mounterPid\":1}");
    (void) !symlink (t, p);
    CHECK (nsfd_record_read (fd, &r, &err) < 0 && err && err->status == ELOOP, "record that is a symlink refused");
    nsfd_error_free (&err);
    unlink (p);
  }
  CHECK (nsfd_rundir_remove (run, "I-rec", &err) == 0, "remove after the record");
}

static int
body (void)
{
  char run[128];
  snprintf (run, sizeof (run), "%s/run", tmp);
  test_dirs (run);
  test_leftovers (run);
  test_bad_run_dirs ();
  test_path ();
  test_record (run);
  TAP_DONE ();
}

int
main (void)
{
  TAP_SKIP_UNLESS_ROOT ();
  TU_SKIP_UNLESS_OPENAT2 ();
  return tu_run_in_tmpdir (tmp, sizeof (tmp), "rundir", body);
}
