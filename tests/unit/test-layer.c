/* lib/layer.c: creating and re-opening a persistent layer, refusing anything
 * that is not exactly what we made, and the exclusive-use holder record.
 * Runs in a forked child inside a temporary directory the parent removes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "cleanup.h"
#include "layer.h"
#include "tap.h"
#include "testutil.h"

static char tmp[64];
static struct stat lower_st;

static const char *
jstr (yajl_val v)
{
  const char *s = v ? YAJL_GET_STRING (v) : NULL;
  return s ? s : "";
}

/* A fresh volume directory tmp/<name>, opened O_RDONLY|O_DIRECTORY. */
static int
volume (const char *name, char *path, size_t cap)
{
  snprintf (path, cap, "%s/%s", tmp, name);
  mkdir (path, 0755);
  return open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
test_create (void)
{
  nsfd_error_t err = NULL;
  cleanup_layer struct nsfd_layer l;
  cleanup_layer struct nsfd_layer again;
  char vpath[128], p[256], real[4096];
  struct stat st;
  cleanup_close int vfd = volume ("create", vpath, sizeof (vpath));

  nsfd_layer_init (&again);
  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &l, &err) == 0, "create a layer: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (l.created, "created is true");
  snprintf (p, sizeof (p), "%s/.nsfdsuds/default", vpath);
  CHECK (realpath (p, real) && l.path && strcmp (l.path, real) == 0, "path is canonical: %s", l.path);
  CHECK (l.dir_fd >= 0 && l.upper_fd >= 0 && l.work_fd >= 0, "fds open");
  CHECK (l.lower_id == NULL, "no lower id recorded");

  snprintf (p, sizeof (p), "%s/.nsfdsuds", vpath);
  CHECK (lstat (p, &st) == 0 && S_ISDIR (st.st_mode) && (st.st_mode & 07777) == 0700 && st.st_uid == 0,
         ".nsfdsuds is 0700 root");
  snprintf (p, sizeof (p), "%s/.nsfdsuds/default", vpath);
  CHECK (lstat (p, &st) == 0 && S_ISDIR (st.st_mode) && (st.st_mode & 07777) == 0700 && st.st_uid == 0,
         "layer dir is 0700 root");
  snprintf (p, sizeof (p), "%s/.nsfdsuds/default/upper", vpath);
  CHECK (lstat (p, &st) == 0 && S_ISDIR (st.st_mode) && (st.st_mode & 07777) == (lower_st.st_mode & 07777)
             && st.st_uid == lower_st.st_uid && st.st_gid == lower_st.st_gid,
         "upper takes owner %u:%u and mode %o of the lower's root (got %u:%u %o)", (unsigned) lower_st.st_uid,
         (unsigned) lower_st.st_gid, (unsigned) (lower_st.st_mode & 07777), (unsigned) st.st_uid,
         (unsigned) st.st_gid, (unsigned) (st.st_mode & 07777));
  snprintf (p, sizeof (p), "%s/.nsfdsuds/default/work", vpath);
  CHECK (lstat (p, &st) == 0 && S_ISDIR (st.st_mode) && (st.st_mode & 07777) == 0700 && st.st_uid == 0,
         "work is 0700 root");
  snprintf (p, sizeof (p), "%s/.nsfdsuds/default/layer.json", vpath);
  CHECK (lstat (p, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_uid == 0,
         "layer.json is a 0600 root file");
  CHECK (strncmp (tu_slurp (p),
                  "{\n  \"format\": 1,\n  \"xattrs\": \"trusted\",\n  \"overlayOptions\": "
                  "\"index=off,metacopy=off,redirect_dir=off\",\n  \"createdAt\": \"",
                  119)
             == 0
             && strstr (tu_slurp (p), "\",\n  \"createdBy\": \"nsfdsuds ")
             && strcmp (tu_slurp (p) + strlen (tu_slurp (p)) - 4, "\"\n}\n") == 0,
         "layer.json laid out as it has always been: %s", tu_slurp (p));
  {
    const char *text = tu_slurp (p);
    yajl_val tree = text ? yajl_tree_parse (text, NULL, 0) : NULL;
    const char *pf[] = { "format", NULL }, *px[] = { "xattrs", NULL }, *po[] = { "overlayOptions", NULL },
               *pc[] = { "createdAt", NULL }, *pb[] = { "createdBy", NULL };
    yajl_val v;
    CHECK (tree && YAJL_IS_OBJECT (tree), "layer.json is a JSON object");
    v = tree ? yajl_tree_get (tree, pf, yajl_t_number) : NULL;
    CHECK (v && YAJL_IS_INTEGER (v) && YAJL_GET_INTEGER (v) == NSFD_LAYER_FORMAT, "format is %d", NSFD_LAYER_FORMAT);
    v = tree ? yajl_tree_get (tree, px, yajl_t_string) : NULL;
    CHECK (v && strcmp (jstr (v), "trusted") == 0, "xattrs is \"trusted\"");
    v = tree ? yajl_tree_get (tree, po, yajl_t_string) : NULL;
    CHECK (v && strcmp (jstr (v), NSFD_LAYER_OVERLAY_OPTIONS) == 0, "overlayOptions recorded");
    v = tree ? yajl_tree_get (tree, pc, yajl_t_string) : NULL;
    {
      const char *ca = v ? jstr (v) : "", *dot = strchr (ca, '.'), *z = strrchr (ca, 'Z');
      CHECK (strlen (ca) == 30 && dot && dot - ca == 19 && z && z - ca == 29,
             "createdAt is ISO UTC with nanoseconds: %s", ca);
    }
    v = tree ? yajl_tree_get (tree, pb, yajl_t_string) : NULL;
    CHECK (v && strncmp (jstr (v), "nsfdsuds ", 9) == 0, "createdBy names nsfdsuds");
    if (tree)
      yajl_tree_free (tree);
  }
  {
    /* Only the layer under its real name: no temporary ".new-*" left. */
    snprintf (p, sizeof (p), "%s/.nsfdsuds", vpath);
    cleanup_dir DIR *d = opendir (p);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir (d)))
      if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
        n++;
    CHECK (n == 1, ".nsfdsuds holds only the layer (%d entries)", n);
  }

  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &again, &err) == 0, "open it again");
  nsfd_error_free (&err);
  CHECK (!again.created, "created is false the second time");
  {
    struct stat a, b;
    CHECK (fstat (l.upper_fd, &a) == 0 && fstat (again.upper_fd, &b) == 0 && a.st_ino == b.st_ino,
           "same upper directory");
  }
  snprintf (p, sizeof (p), "%s/.nsfdsuds/default/upper/file", vpath);
  tu_write_file (p, "kept");
  nsfd_layer_close (&again);
  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &again, &err) == 0 && tu_slurp (p)
             && strcmp (tu_slurp (p), "kept") == 0,
         "contents of upper kept across opens");
  nsfd_error_free (&err);

  /* lowerId is read when present. */
  snprintf (p, sizeof (p), "%s/.nsfdsuds/default/layer.json", vpath);
  tu_write_file (p, "{\"format\": 1, \"xattrs\": \"trusted\", \"lowerId\": \"sha256:abc\"}");
  nsfd_layer_close (&again);
  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &again, &err) == 0 && again.lower_id
             && strcmp (again.lower_id, "sha256:abc") == 0,
         "lowerId read from layer.json");
  nsfd_error_free (&err);
  nsfd_layer_close (&again);
  nsfd_layer_close (&again);
  CHECK (again.dir_fd == -1 && again.path == NULL, "close twice is harmless");
}

enum damage
{
  D_LAYER_SYMLINK_ETC,
  D_LAYER_SYMLINK_ROOT,
  D_TOP_SYMLINK,
  D_TOP_FILE,
  D_LAYER_OTHER_OWNER,
  D_UPPER_SYMLINK,
  D_WORK_SYMLINK,
  D_UPPER_FIFO,
  D_WORK_FIFO,
  D_UPPER_DEVICE,
  D_WORK_DEVICE,
  D_WORK_OTHER_UID,
  D_WORK_WRITABLE,
  D_META_FORMAT,
  D_META_NOT_JSON,
  D_META_SYMLINK,
  D_META_MISSING,
  D_META_NOT_TRUSTED,
  D_META_ARRAY,
  D_META_FIFO,
};

static const struct
{
  enum damage d;
  const char *what;
  const char *msg;  /* expected in the error */
} damages[] = {
  { D_LAYER_SYMLINK_ETC, "layer dir replaced by a symlink to /etc", "not a symlink" },
  { D_LAYER_SYMLINK_ROOT, "layer dir replaced by a symlink to /", "not a symlink" },
  { D_TOP_SYMLINK, ".nsfdsuds replaced by a symlink to /etc", ".nsfdsuds" },
  { D_TOP_FILE, ".nsfdsuds replaced by a file", ".nsfdsuds" },
  { D_LAYER_OTHER_OWNER, "layer dir owned by uid 1000", "owned by uid 1000" },
  { D_UPPER_SYMLINK, "upper replaced by a symlink to /etc", "upper" },
  { D_WORK_SYMLINK, "work replaced by a symlink to /etc", "work" },
  { D_UPPER_FIFO, "upper replaced by a fifo", "upper" },
  { D_WORK_FIFO, "work replaced by a fifo", "work" },
  { D_UPPER_DEVICE, "upper replaced by a device", "upper" },
  { D_WORK_DEVICE, "work replaced by a device", "work" },
  { D_WORK_OTHER_UID, "work owned by uid 1000", "owned by uid 1000" },
  { D_WORK_WRITABLE, "work writable by others", "writable by group or others" },
  { D_META_FORMAT, "layer.json of format 2", "has format 2" },
  { D_META_NOT_JSON, "layer.json not JSON", "not a JSON object" },
  { D_META_SYMLINK, "layer.json a symlink to a valid copy", "symbolic link" },
  { D_META_MISSING, "layer.json missing", "layer.json" },
  { D_META_NOT_TRUSTED, "layer.json with xattrs \"user\"", "xattrs" },
  { D_META_ARRAY, "layer.json an array", "not a JSON object" },
  { D_META_FIFO, "layer.json a fifo", "not a regular file" },
};

static void
damage (const char *layer, enum damage d)
{
  char p[512], q[600];
#define AT(dst, rel) snprintf (dst, sizeof (dst), "%s/%s", layer, rel)
  switch (d)
    {
    case D_LAYER_SYMLINK_ETC:
    case D_LAYER_SYMLINK_ROOT:
      snprintf (p, sizeof (p), "%s.moved", layer);
      rename (layer, p);
      (void) !symlink (d == D_LAYER_SYMLINK_ETC ? "/etc" : "/", layer);
      break;
    case D_TOP_SYMLINK:
    case D_TOP_FILE:
      snprintf (p, sizeof (p), "%s", layer);
      *strrchr (p, '/') = '\0'; /* .nsfdsuds */
      snprintf (q, sizeof (q), "%s.moved", p);
      rename (p, q);
      if (d == D_TOP_SYMLINK)
        (void) !symlink ("/etc", p);
      else
        tu_write_file (p, "x");
      break;
    case D_LAYER_OTHER_OWNER:
      (void) !chown (layer, 1000, 1000);
      break;
    case D_UPPER_SYMLINK:
    case D_WORK_SYMLINK:
    case D_UPPER_FIFO:
    case D_WORK_FIFO:
    case D_UPPER_DEVICE:
    case D_WORK_DEVICE:
      AT (p, (d == D_UPPER_SYMLINK || d == D_UPPER_FIFO || d == D_UPPER_DEVICE) ? "upper" : "work");
      rmdir (p);
      if (d == D_UPPER_SYMLINK || d == D_WORK_SYMLINK)
        (void) !symlink ("/etc", p);
      else if (d == D_UPPER_FIFO || d == D_WORK_FIFO)
        mkfifo (p, 0700);
      else
        mknod (p, S_IFCHR | 0600, makedev (1, 3));
      break;
    case D_WORK_OTHER_UID:
      AT (p, "work");
      (void) !chown (p, 1000, 1000);
      break;
    case D_WORK_WRITABLE:
      AT (p, "work");
      chmod (p, 0777);
      break;
    case D_META_FORMAT:
      AT (p, "layer.json");
      tu_write_file (p, "{\"format\": 2, \"xattrs\": \"trusted\"}");
      break;
    case D_META_NOT_JSON:
      AT (p, "layer.json");
      tu_write_file (p, "format=1\n");
      break;
    case D_META_SYMLINK:
      AT (p, "layer.json");
      snprintf (q, sizeof (q), "%s.json-copy", layer);
      rename (p, q);
      (void) !symlink (q, p);
      break;
    case D_META_MISSING:
      AT (p, "layer.json");
      unlink (p);
      break;
    case D_META_NOT_TRUSTED:
      AT (p, "layer.json");
      tu_write_file (p, "{\"format\": 1, \"xattrs\": \"user\"}");
      break;
    case D_META_ARRAY:
      AT (p, "layer.json");
      tu_write_file (p, "[1]");
      break;
    case D_META_FIFO:
      AT (p, "layer.json");
      unlink (p);
      mkfifo (p, 0600);
      break;
    }
#undef AT
}

static void
test_refusals (void)
{
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (damages); i++)
    {
      nsfd_error_t err = NULL;
      cleanup_layer struct nsfd_layer l;
      char name[32], vpath[128], layer[256];
      cleanup_close int vfd = -1;
      struct stat etc_before, etc_after;
      int r;

      snprintf (name, sizeof (name), "refuse-%zu", i);
      vfd = volume (name, vpath, sizeof (vpath));
      r = nsfd_layer_open (vfd, "default", &lower_st, &l, &err);
      nsfd_layer_close (&l);
      nsfd_error_free (&err);
      if (r < 0)
        {
          CHECK (0, "setup for \"%s\"", damages[i].what);
          continue;
        }
      snprintf (layer, sizeof (layer), "%s/.nsfdsuds/default", vpath);
      damage (layer, damages[i].d);
      stat ("/etc", &etc_before);
      alarm (10);
      r = nsfd_layer_open (vfd, "default", &lower_st, &l, &err);
      alarm (0);
      stat ("/etc", &etc_after);
      CHECK (r < 0, "refused: %s", damages[i].what);
      CHECK_STR_CONTAINS (nsfd_error_text (err), damages[i].msg, "  message: %s", nsfd_error_text (err));
      CHECK (etc_before.st_mtim.tv_sec == etc_after.st_mtim.tv_sec
                 && etc_before.st_mtim.tv_nsec == etc_after.st_mtim.tv_nsec,
             "  /etc untouched");
      nsfd_error_free (&err);
    }
  CHECK (access ("/etc/upper", F_OK) < 0 && access ("/etc/work", F_OK) < 0 && access ("/etc/layer.json", F_OK) < 0,
         "nothing created in /etc");
}

static pid_t
spawn_sleeper (void)
{
  pid_t pid = tu_fork ();
  if (pid == 0)
    {
      for (;;)
        pause ();
    }
  return pid;
}

static void
kill_reap (pid_t pid)
{
  if (pid > 0)
    {
      kill (pid, SIGKILL);
      (void) tu_wait (pid);
    }
}

static const char *
holder_text (const struct nsfd_layer *l)
{
  char p[4200];
  snprintf (p, sizeof (p), "%s/holder.json", l->path);
  return tu_slurp (p);
}

static void
write_holder (const struct nsfd_layer *l, const char *container, const char *boot, pid_t pid,
              unsigned long long start)
{
  char p[4200], text[512];
  snprintf (p, sizeof (p), "%s/holder.json", l->path);
  snprintf (text, sizeof (text),
            "{\"container\": \"%s\", \"bootId\": \"%s\", \"pid\": %d, \"pidStartTime\": %llu, "
            "\"mode\": \"hook\", \"since\": \"2020-01-01T00:00:00Z\"}\n",
            container, boot, (int) pid, start);
  tu_write_file (p, text);
}

static void
test_holder (void)
{
  nsfd_error_t err = NULL;
  cleanup_layer struct nsfd_layer a;
  cleanup_layer struct nsfd_layer b;
  char vpath[128], boot[64], hp[4200];
  const char *text;
  unsigned long long start_self = 0, start;
  struct stat st;
  pid_t pa = -1, pb = -1;
  cleanup_close int vfd = volume ("holder", vpath, sizeof (vpath));

  nsfd_layer_init (&b);
  CHECK (nsfd_boot_id (boot) == 0 && strlen (boot) == 36, "boot id: %s", boot);
  CHECK (nsfd_proc_start_time (getpid (), &start_self) == 0 && start_self > 0, "own start time %llu", start_self);
  CHECK (nsfd_proc_start_time (0x3ffffff, &start) < 0, "start time of a missing pid fails");

  /* Two opens of the same layer, as two processes would have. */
  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &a, &err) == 0
             && nsfd_layer_open (vfd, "default", &lower_st, &b, &err) == 0,
         "open the layer twice");
  nsfd_error_free (&err);
  snprintf (hp, sizeof (hp), "%s/holder.json", a.path);

  pa = spawn_sleeper ();
  CHECK (nsfd_layer_acquire (&a, "I-A", pa, "hook", &err) == 0, "A acquires: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  text = holder_text (&a);
  CHECK (text && strncmp (text, "{\n  \"container\": \"I-A\",\n  \"bootId\": \"", 37) == 0
             && strstr (text, "\",\n  \"pid\": ") && strstr (text, ",\n  \"pidStartTime\": ")
             && strstr (text, ",\n  \"mode\": \"hook\",\n  \"since\": \"")
             && strcmp (text + strlen (text) - 4, "\"\n}\n") == 0,
         "holder.json laid out as it has always been: %s", text ? text : "");
  CHECK_STR_CONTAINS (text, "\"container\": \"I-A\"", "holder.json names A");
  {
    char want[64];
    snprintf (want, sizeof (want), "\"pid\": %d,", (int) pa);
    CHECK_STR_CONTAINS (text, want, "holder.json has A's pid");
  }
  CHECK_STR_CONTAINS (text, boot, "holder.json has the boot id");
  CHECK_STR_CONTAINS (text, "\"mode\": \"hook\"", "holder.json has the mode");
  CHECK (lstat (hp, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_uid == 0, "holder.json is 0600 root");

  CHECK (nsfd_layer_acquire (&b, "I-B", getpid (), "hook", &err) == -EBUSY - 1, "B refused with EBUSY");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "in use by container \"I-A\"", "message names A: %s",
                      nsfd_error_text (err));
  nsfd_error_free (&err);
  text = holder_text (&a);
  CHECK_STR_CONTAINS (text, "\"container\": \"I-A\"", "record still names A after B's refusal");

  CHECK (nsfd_layer_acquire (&a, "I-A", pa, "hook", &err) == 0, "A may acquire again (restart of the hook)");
  nsfd_error_free (&err);

  CHECK (nsfd_layer_release (b.dir_fd, "I-B", &err) == 0, "release by a non-holder returns 0");
  text = holder_text (&a);
  CHECK_STR_CONTAINS (text, "\"container\": \"I-A\"", "release by a non-holder leaves the record");

  kill_reap (pa);
  pa = -1;
  CHECK (nsfd_layer_acquire (&b, "I-B", getpid (), "runtime", &err) == 0, "A killed: B acquires (stale record): %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  text = holder_text (&b);
  CHECK_STR_CONTAINS (text, "\"container\": \"I-B\"", "record names B");
  CHECK_STR_CONTAINS (text, "\"mode\": \"runtime\"", "record has B's mode");

  /* update_pid: the wrapper learns the pid later. */
  pb = spawn_sleeper ();
  CHECK (nsfd_layer_update_pid (&b, "I-B", pb, &err) == 0, "update_pid");
  nsfd_error_free (&err);
  {
    char want[64];
    snprintf (want, sizeof (want), "\"pid\": %d,", (int) pb);
    text = holder_text (&b);
    CHECK_STR_CONTAINS (text, want, "record has the new pid");
    CHECK_STR_CONTAINS (text, "\"container\": \"I-B\"", "record still names B");
  }
  CHECK (nsfd_layer_update_pid (&a, "I-A", getpid (), &err) == -EBUSY - 1, "update_pid by a non-holder refused");
  nsfd_error_free (&err);

  CHECK (nsfd_layer_release (a.dir_fd, "I-A", &err) == 0 && access (hp, F_OK) == 0, "A cannot release B's record");
  CHECK (nsfd_layer_release (b.dir_fd, "I-B", &err) == 0 && access (hp, F_OK) < 0 && errno == ENOENT,
         "B releases: record removed");
  CHECK (nsfd_layer_release (b.dir_fd, "I-B", &err) == 0, "release with no record returns 0");
  nsfd_error_free (&err);
  kill_reap (pb);
  pb = -1;

  /* A live pid and the right start time but another boot: stale. */
  write_holder (&a, "I-C", "00000000-0000-0000-0000-000000000000", getpid (), start_self);
  CHECK (nsfd_layer_acquire (&b, "I-D", getpid (), "hook", &err) == 0, "record from another boot id is stale");
  nsfd_error_free (&err);
  CHECK_STR_CONTAINS (holder_text (&b), "\"container\": \"I-D\"", "record replaced");

  /* Same boot, live pid, right start time: a live holder. */
  write_holder (&a, "I-C", boot, getpid (), start_self);
  CHECK (nsfd_layer_acquire (&b, "I-D", getpid (), "hook", &err) == -EBUSY - 1, "hand-written live record is honoured");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "\"I-C\"", "message names I-C");
  nsfd_error_free (&err);

  /* Same pid number, other start time: the pid was reused, stale. */
  write_holder (&a, "I-C", boot, getpid (), start_self + 12345);
  CHECK (nsfd_layer_acquire (&b, "I-D", getpid (), "hook", &err) == 0, "reused pid (start time differs) is stale");
  nsfd_error_free (&err);

  write_holder (&a, "I-C", boot, 0, 0);
  CHECK (nsfd_layer_acquire (&b, "I-D", getpid (), "hook", &err) == 0, "pid 0 is stale");
  nsfd_error_free (&err);
  {
    struct nsfd_holder h;
    tu_write_file (hp, "/* c */ {\"container\": \"I-C\"}");
    CHECK (nsfd_layer_read_holder (b.dir_fd, &h, NULL) == 2, "a record with a comment is unreadable (2)");
    tu_write_file (hp, "{\"container\": \"I-C\", \"pid\": 1.5, \"mode\": 7, \"since\": \"s\"}");
    CHECK (nsfd_layer_read_holder (b.dir_fd, &h, NULL) == 1 && strcmp (h.container, "I-C") == 0 && h.pid == 0
               && h.mode[0] == '\0' && strcmp (h.since, "s") == 0,
           "fields of the wrong type are left empty, the others read");
  }
  tu_write_file (hp, "not json {");
  CHECK (nsfd_layer_acquire (&b, "I-D", getpid (), "hook", &err) == 0, "unreadable record is stale");
  nsfd_error_free (&err);
  CHECK_STR_CONTAINS (holder_text (&b), "\"container\": \"I-D\"", "unreadable record replaced");

  /* The container's process must exist when the record is written. */
  CHECK (nsfd_layer_release (b.dir_fd, "I-D", &err) == 0 && access (hp, F_OK) < 0, "I-D released");
  pa = spawn_sleeper ();
  kill_reap (pa);
  CHECK (nsfd_layer_acquire (&b, "I-E", pa, "hook", &err) == -ESRCH - 1, "acquire for a dead pid fails with ESRCH");
  nsfd_error_free (&err);
  pa = -1;

  /* A symlinked record is never followed. */
  {
    struct stat before, after;
    char x[4200];
    snprintf (x, sizeof (x), "%s/../../../target-file", a.path);
    tu_write_file (x, "untouched");
    unlink (hp);
    (void) !symlink (x, hp);
    stat (x, &before);
    (void) nsfd_layer_acquire (&b, "I-F", getpid (), "hook", &err);
    nsfd_error_free (&err);
    (void) nsfd_layer_release (b.dir_fd, "I-F", &err);
    nsfd_error_free (&err);
    stat (x, &after);
    CHECK (before.st_mtim.tv_nsec == after.st_mtim.tv_nsec && tu_slurp (x) && strcmp (tu_slurp (x), "untouched") == 0,
           "symlinked holder.json: target untouched");
  }
  /* Ids with quotes are escaped in the JSON. */
  unlink (hp);
  CHECK (nsfd_layer_acquire (&b, "I-\"q\\", getpid (), "hook", &err) == 0, "odd id acquired");
  {
    text = holder_text (&b);
    yajl_val t = text ? yajl_tree_parse (text, NULL, 0) : NULL;
    const char *pc[] = { "container", NULL };
    yajl_val v = t ? yajl_tree_get (t, pc, yajl_t_string) : NULL;
    CHECK (v && strcmp (jstr (v), "I-\"q\\") == 0, "odd id escaped and read back");
    if (t)
      yajl_tree_free (t);
  }
  CHECK (nsfd_layer_release (b.dir_fd, "I-\"q\\", &err) == 0 && access (hp, F_OK) < 0, "odd id released");
  nsfd_error_free (&err);
}

/* The lower's fingerprint recorded in layer.json. */
static void
test_check_lower (void)
{
  nsfd_error_t err = NULL;
  cleanup_layer struct nsfd_layer l;
  cleanup_layer struct nsfd_layer again;
  char vpath[128], meta[4200];
  cleanup_close int vfd = volume ("lowerid", vpath, sizeof (vpath));

  nsfd_layer_init (&again);
  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &l, &err) == 0 && l.lower_id == NULL, "new layer: no fingerprint");
  nsfd_error_free (&err);
  snprintf (meta, sizeof (meta), "%s/layer.json", l.path ? l.path : "");
  CHECK (nsfd_layer_check_lower (&l, "fp:aaa", true, false, false, &err) == 0, "first fingerprint recorded: 0");
  CHECK (l.lower_id && strcmp (l.lower_id, "fp:aaa") == 0, "  kept in the struct");
  CHECK_STR_CONTAINS (tu_slurp (meta), "\"lowerId\": \"fp:aaa\"", "  written to layer.json");
  CHECK (nsfd_layer_check_lower (&l, "fp:aaa", true, false, false, &err) == 0, "same fingerprint: 0");
  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &again, &err) == 0 && again.lower_id
             && strcmp (again.lower_id, "fp:aaa") == 0,
         "reopened layer reads the fingerprint");
  nsfd_error_free (&err);
  CHECK (nsfd_layer_check_lower (&again, "fp:bbb", true, false, false, &err) == -ESTALE - 1, "changed image refused: ESTALE");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "recorded fp:aaa, now fp:bbb", "  message names both: %s",
                      nsfd_error_text (err));
  CHECK_STR_CONTAINS (nsfd_error_text (err), "nsfdsuds.io/accept-image-change", "  and the way out");
  nsfd_error_free (&err);
  CHECK_STR_CONTAINS (tu_slurp (meta), "\"lowerId\": \"fp:aaa\"", "  layer.json unchanged after a refusal");
  CHECK (nsfd_layer_check_lower (&again, "fp:bbb", true, true, false, &err) == 1, "accepted change: 1");
  CHECK_STR_CONTAINS (tu_slurp (meta), "\"lowerId\": \"fp:bbb\"", "  new fingerprint recorded");
  CHECK_STR_CONTAINS (tu_slurp (meta), "\"previousLowerId\": \"fp:aaa\"", "  previous one kept");
  CHECK (nsfd_layer_check_lower (&again, "fp:ccc", false, false, false, &err) == 1, "warn policy (refuse=false): 1");
  nsfd_error_free (&err);
  nsfd_layer_close (&again);
  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &again, &err) == 0, "layer with a changed image still opens: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  CHECK (nsfd_layer_check_lower (&again, "BAD\"id", true, true, false, &err) < 0 && err && err->status == EINVAL,
         "malformed fingerprint refused");
  nsfd_error_free (&err);
  CHECK (nsfd_layer_check_lower (&again, "", true, true, false, &err) < 0, "empty fingerprint refused");
  nsfd_error_free (&err);
}

/* Records from before lowerIdScheme (scheme 1) are migrated, not refused,
 * when they are this lower's; any other change is still refused. */
static void
test_lower_scheme_migration (void)
{
  nsfd_error_t err = NULL;
  char vpath[128], meta[4200];
  cleanup_close int vfd = volume ("scheme", vpath, sizeof (vpath));
  static const char old_meta[] = "{\n  \"format\": 1,\n  \"xattrs\": \"trusted\",\n  \"createdAt\": "
                                 "\"2026-11-29T00:30:32Z\",\n  \"lowerId\": \"fp:old\"\n}\n";

  for (int round = 0; round < 3; round++)
    {
      cleanup_layer struct nsfd_layer l;
      nsfd_layer_init (&l);
      CHECK (nsfd_layer_open (vfd, "default", &lower_st, &l, &err) == 0, "open (round %d)", round);
      nsfd_error_free (&err);
      snprintf (meta, sizeof (meta), "%s/layer.json", l.path ? l.path : "");
      tu_write_file (meta, old_meta);
      nsfd_layer_close (&l);
      CHECK (nsfd_layer_open (vfd, "default", &lower_st, &l, &err) == 0 && l.lower_id_scheme == 1,
             "a record without lowerIdScheme is scheme 1");
      nsfd_error_free (&err);
      if (round == 0)
        {
          CHECK (nsfd_layer_check_lower (&l, "fp:old", true, false, false, &err) == 0,
                 "scheme 1, same value: 0 (migrated)");
        }
      else if (round == 1)
        {
          CHECK (nsfd_layer_check_lower (&l, "fp:new", true, false, true, &err) == 0,
                 "scheme 1 record of this lower (caller checked): 0 (migrated)");
        }
      else
        {
          CHECK (nsfd_layer_check_lower (&l, "fp:new", true, false, false, &err) < 0 && err
                     && err->status == ESTALE,
                 "scheme 1 record of another lower: refused (ESTALE)");
          nsfd_error_free (&err);
          CHECK_STR_CONTAINS (tu_slurp (meta), "\"lowerId\": \"fp:old\"", "  layer.json unchanged");
          continue;
        }
      nsfd_error_free (&err);
      CHECK_STR_CONTAINS (tu_slurp (meta), "\"lowerIdScheme\": 2", "  rewritten in scheme 2");
      CHECK (strstr (tu_slurp (meta), "previousLowerId") == NULL, "  not recorded as an image change");
      CHECK_STR_CONTAINS (tu_slurp (meta), "\"createdAt\": \"2026-11-29T00:30:32Z\"", "  createdAt kept");
      CHECK (l.lower_id_scheme == 2, "  the struct says scheme 2");
    }
}

/* A child holding the layer's lock on its own open file description for
 * hold_ms; returns once it holds it. */
static pid_t
hold_lock (const char *layer_path, int hold_ms)
{
  int ready[2];
  char c;
  pid_t pid;

  if (pipe (ready) < 0)
    return -1;
  pid = tu_fork ();
  if (pid == 0)
    {
      int fd = open (layer_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || flock (fd, LOCK_EX) < 0)
        _exit (1);
      (void) !write (ready[1], "L", 1);
      usleep ((useconds_t) hold_ms * 1000);
      _exit (0);
    }
  close (ready[1]);
  if (read (ready[0], &c, 1) != 1)
    pid = -1;
  close (ready[0]);
  return pid;
}

static long long
mono_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A held lock is waited for and taken as soon as it is let go (no retry
 * interval), and a lock held too long ends in ETIMEDOUT, not a hang. */
static void
test_lock_wait (void)
{
  nsfd_error_t err = NULL;
  cleanup_layer struct nsfd_layer l;
  char vpath[128];
  cleanup_close int vfd = volume ("lockwait", vpath, sizeof (vpath));
  long long t0, dt;
  pid_t holder, self = getpid ();
  int st;

  CHECK (nsfd_layer_open (vfd, "default", &lower_st, &l, &err) == 0, "open: %s", err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  holder = hold_lock (l.path, 300);
  CHECK (holder > 0, "a child holds the layer's lock");
  t0 = mono_ms ();
  CHECK (nsfd_layer_acquire (&l, "I-W", self, "hook", &err) == 0, "acquire waits for the lock: %s",
         err ? nsfd_error_text (err) : "ok");
  nsfd_error_free (&err);
  dt = mono_ms () - t0;
  CHECK (dt >= 250 && dt < 2000, "  and gets it when the holder lets go (%lld ms)", dt);
  (void) waitpid (holder, &st, 0);
  CHECK (nsfd_layer_release (l.dir_fd, "I-W", &err) == 0, "release");
  nsfd_error_free (&err);

  holder = hold_lock (l.path, 7000);
  CHECK (holder > 0, "a child holds the lock for longer than the bound");
  t0 = mono_ms ();
  CHECK (nsfd_layer_acquire (&l, "I-W", self, "hook", &err) < 0 && err && err->status == ETIMEDOUT,
         "acquire gives up with ETIMEDOUT: %s", err ? nsfd_error_text (err) : "succeeded");
  nsfd_error_free (&err);
  dt = mono_ms () - t0;
  CHECK (dt >= 4900 && dt < 6500, "  after the 5 s bound (%lld ms)", dt);
  kill (holder, SIGKILL);
  (void) waitpid (holder, &st, 0);
  CHECK (sigaction (SIGRTMIN, NULL, &(struct sigaction){ 0 }) == 0, "the timer's signal handler is put back");
  {
    struct sigaction sa;
    sigaction (SIGRTMIN, NULL, &sa);
    CHECK (sa.sa_handler == SIG_DFL, "  to the default");
  }
}

static int
body (void)
{
  char lower[128];
  snprintf (lower, sizeof (lower), "%s/lower", tmp);
  mkdir (lower, 0751);
  chmod (lower, 0751);
  (void) !chown (lower, 1000, 1001);
  CHECK (stat (lower, &lower_st) == 0, "lower root stat");
  test_create ();
  test_refusals ();
  test_holder ();
  test_check_lower ();
  test_lower_scheme_migration ();
  test_lock_wait ();
  TAP_DONE ();
}

int
main (void)
{
  TAP_SKIP_UNLESS_ROOT ();
  TU_SKIP_UNLESS_OPENAT2 ();
  return tu_run_in_tmpdir (tmp, sizeof (tmp), "layer", body);
}
