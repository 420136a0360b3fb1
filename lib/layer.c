#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "lowerid.h"
#include "procfs.h"
#include "safepath.h"

#define META_MAX (64 * 1024)

static bool valid_lower_id (const char *id);
#define LOCK_WAIT_MS 5000

void
nsfd_layer_init (struct nsfd_layer *l)
{
  memset (l, 0, sizeof (*l));
  l->dir_fd = l->upper_fd = l->work_fd = -1;
}

void
nsfd_layer_close (struct nsfd_layer *l)
{
  nsfd_closep (&l->dir_fd);
  nsfd_closep (&l->upper_fd);
  nsfd_closep (&l->work_fd);
  free (l->path);
  free (l->lower_id);
  free (l->created_at);
  l->path = l->lower_id = l->created_at = NULL;
}

/* Now in UTC, ISO 8601: 2026-12-02T05:06:37Z, or with nanoseconds
 * 2026-12-02T05:06:37.123456789Z (30 bytes). */
static void
now_iso (char buf[48], bool ns)
{
  struct timespec ts;
  struct tm tm;
  char sec[24];

  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  strftime (sec, sizeof (sec), "%Y-%m-%dT%H:%M:%S", &tm);
  if (ns)
    snprintf (buf, 48, "%s.%09ldZ", sec, ts.tv_nsec);
  else
    snprintf (buf, 48, "%sZ", sec);
}

/* Ends the document and saves it as name in dirfd (0600); durable: with
 * fsync, for layer.json which must survive a crash. */
static int
save_json (int dirfd, const char *name, struct nsfd_jw *w, bool durable, nsfd_error_t *err)
{
  size_t len;

  if (nsfd_jw_finish (w, name, &len, err) < 0)
    return -1;
  if (durable)
    return nsfd_write_file_atomic (dirfd, name, w->buf, len, 0600, err);
  return nsfd_write_file_replace (dirfd, name, w->buf, len, 0600, err);
}

/* layer.json.  created_at NULL: now.  lower_id/previous may be NULL. */
static int
write_meta_full (int dirfd, const char *created_at, const char *lower_id, const char *previous,
                 nsfd_error_t *err)
{
  char buf[4096], when[48], now[48];
  struct nsfd_jw w;

  now_iso (now, false);
  /* As before: a createdAt is a timestamp, cut to its size.  A new one has
   * nanoseconds: it tells this layer from another made under the same name
   * (a checkpoint's restore compares it), even one made the same second. */
  if (created_at == NULL)
    now_iso (when, true);
  else
    snprintf (when, sizeof (when), "%s", created_at);
  nsfd_jw_init (&w, buf, sizeof (buf), true);
  nsfd_jw_object_begin (&w);
  nsfd_jw_member_int (&w, "format", NSFD_LAYER_FORMAT);
  nsfd_jw_member_string (&w, "xattrs", "trusted");
  nsfd_jw_member_string (&w, "overlayOptions", NSFD_LAYER_OVERLAY_OPTIONS);
  nsfd_jw_member_string (&w, "createdAt", when);
  nsfd_jw_member_string (&w, "createdBy", "nsfdsuds " NSFD_VERSION);
  if (lower_id)
    {
      nsfd_jw_member_string (&w, "lowerId", lower_id);
      nsfd_jw_member_int (&w, "lowerIdScheme", NSFD_LOWERID_SCHEME);
    }
  if (previous)
    {
      nsfd_jw_member_string (&w, "previousLowerId", previous);
      nsfd_jw_member_string (&w, "lowerChangedAt", now);
    }
  nsfd_jw_object_end (&w);
  return save_json (dirfd, NSFD_LAYER_META, &w, true, err);
}

static int
write_meta (int dirfd, nsfd_error_t *err)
{
  return write_meta_full (dirfd, NULL, NULL, NULL, err);
}

/* A copy of the string member name, or NULL when there is none. */
static char *
dup_member (const struct nsfd_json *obj, const char *name)
{
  const struct nsfd_json *v = nsfd_json_get (obj, name, NSFD_JSON_STRING);
  return v ? strdup (v->text) : NULL;
}

int
nsfd_layer_write_meta (int layer_dir_fd, const char *lower_id, nsfd_error_t *err)
{
  if (lower_id && !valid_lower_id (lower_id))
    return nsfd_make_error (err, EINVAL, "invalid lower fingerprint");
  return write_meta_full (layer_dir_fd, NULL, lower_id, NULL, err);
}

static int
check_meta (struct nsfd_layer *l, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  cleanup_json struct nsfd_json *tree = NULL;
  const struct nsfd_json *v;
  long long format;
  size_t len;
  long long scheme;

  if (nsfd_read_file_at (l->dir_fd, NSFD_LAYER_META, META_MAX, &buf, &len, err) < 0)
    return nsfd_error_wrap (err, "layer metadata in \"%s\"", l->path);
  if (nsfd_json_parse (NSFD_LAYER_META, buf, len, &tree, NULL) < 0 || tree->type != NSFD_JSON_OBJECT)
    return nsfd_make_error (err, EINVAL, "layer metadata \"%s/%s\" is not a JSON object", l->path,
                            NSFD_LAYER_META);
  if (!nsfd_json_get_int (tree, "format", &format))
    return nsfd_make_error (err, EINVAL, "layer metadata \"%s/%s\": \"format\" missing", l->path,
                            NSFD_LAYER_META);
  if (format != NSFD_LAYER_FORMAT)
    return nsfd_make_error (err, EINVAL,
                            "layer \"%s\" has format %lld; this nsfdsuds reads format %d",
                            l->path, format, NSFD_LAYER_FORMAT);
  v = nsfd_json_get (tree, "xattrs", NSFD_JSON_STRING);
  if (v == NULL || strcmp (v->text, "trusted") != 0)
    return nsfd_make_error (err, EINVAL,
                            "layer \"%s\" was not made for host-privileged mounting (xattrs != \"trusted\")",
                            l->path);
  l->lower_id = dup_member (tree, "lowerId");
  l->created_at = dup_member (tree, "createdAt");
  /* Records from before lowerIdScheme were made with scheme 1. */
  l->lower_id_scheme = nsfd_json_get_int (tree, "lowerIdScheme", &scheme) && scheme > 0 && scheme < 100 ? (int) scheme : 1;
  return 0;
}

/* Builds a complete layer under a temporary name, then renames it into place,
 * so a crash never leaves a half-made layer under the real name. */
static int
create_layer (int top_fd, const char *name, const struct stat *lower_root, nsfd_error_t *err)
{
  char tmp[NAME_MAX + 1];
  cleanup_close int tfd = -1;
  cleanup_close int ufd = -1;
  cleanup_close int wfd = -1;

  snprintf (tmp, sizeof (tmp), ".new-%d-%.64s", (int) getpid (), name);
  (void) nsfd_rm_rf_at (top_fd, tmp, NULL);
  tfd = nsfd_mkdir_open (top_fd, tmp, 0700, 0, 0, NULL, err);
  if (tfd < 0)
    return -1;
  ufd = nsfd_mkdir_open (tfd, NSFD_LAYER_UPPER, lower_root->st_mode & 07777, lower_root->st_uid,
                         lower_root->st_gid, NULL, err);
  if (ufd < 0)
    goto fail;
  wfd = nsfd_mkdir_open (tfd, NSFD_LAYER_WORK, 0700, 0, 0, NULL, err);
  if (wfd < 0 || write_meta (tfd, err) < 0)
    goto fail;
  if (fsync (tfd) < 0)
    {
      nsfd_make_error (err, errno, "fsync new layer");
      goto fail;
    }
  if (renameat2 (top_fd, tmp, top_fd, name, RENAME_NOREPLACE) < 0)
    {
      int e = errno;
      (void) nsfd_rm_rf_at (top_fd, tmp, NULL);
      if (e == EEXIST)
        return 0; /* somebody else made it first: use theirs */
      return nsfd_make_error (err, e, "renaming new layer into place as \"%s\"", name);
    }
  (void) fsync (top_fd);
  return 1;

fail:
  (void) nsfd_rm_rf_at (top_fd, tmp, NULL);
  return -1;
}

int
nsfd_layer_open (int volume_fd, const char *name, const struct stat *lower_root,
                 struct nsfd_layer *out, nsfd_error_t *err)
{
  cleanup_close int top_fd = -1;
  char proc[32], real[PATH_MAX];
  ssize_t n;
  int made;

  nsfd_layer_init (out);
  top_fd = nsfd_mkdir_open (volume_fd, NSFD_LAYER_TOPDIR, 0700, 0, 0, NULL, err);
  if (top_fd < 0)
    return nsfd_error_wrap (err, "preparing the layer directory in the volume");

  made = 0;
  out->dir_fd = openat (top_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (out->dir_fd < 0 && errno == ENOENT)
    {
      made = create_layer (top_fd, name, lower_root, err);
      if (made < 0)
        return nsfd_error_wrap (err, "creating layer \"%s\"", name);
      out->dir_fd = openat (top_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
  if (out->dir_fd < 0)
    return nsfd_make_error (err, errno,
                            "opening layer \"%s/%s\" (it must be a real directory, not a symlink)",
                            NSFD_LAYER_TOPDIR, name);

  n = readlink (nsfd_fd_path (out->dir_fd, proc), real, sizeof (real) - 1);
  if (n < 0)
    return nsfd_make_error (err, errno, "resolving the layer path");
  real[n] = '\0';
  out->path = strdup (real);
  out->created = made > 0;

  if (nsfd_check_owned (out->dir_fd, out->path, true, 0, err) < 0)
    return -1;
  if (check_meta (out, err) < 0)
    return -1;

  out->upper_fd = openat (out->dir_fd, NSFD_LAYER_UPPER, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (out->upper_fd < 0)
    return nsfd_make_error (err, errno, "opening \"%s/%s\" (must be a real directory)", out->path,
                            NSFD_LAYER_UPPER);
  out->work_fd = openat (out->dir_fd, NSFD_LAYER_WORK, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (out->work_fd < 0)
    return nsfd_make_error (err, errno, "opening \"%s/%s\" (must be a real directory)", out->path,
                            NSFD_LAYER_WORK);
  if (nsfd_check_owned (out->work_fd, "the layer's work directory", true, 0, err) < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", out->path);
  return 0;
}

/* The contended case of nsfd_layer_lock: a blocking flock, which the kernel ends
 * the moment the holder unlocks, bounded by a one-shot timer whose signal
 * interrupts it.  Chosen over a retry loop (which slept 10 ms between tries,
 * so a waiter started up to 10 ms after the lock was free) and over a helper
 * process or thread blocking for us (a fork or a thread per wait, and one
 * more thing to clean up on every path).  The signal is a realtime one, sent
 * to this thread only, with our handler installed just for the wait and the
 * caller's put back after it. */
static volatile sig_atomic_t lock_timer_fired;
#ifndef sigev_notify_thread_id /* glibc before 2.35 names it only this way */
#define sigev_notify_thread_id _sigev_un._tid
#endif

static void
on_lock_timer (int sig)
{
  (void) sig;
  lock_timer_fired = 1;
}

static int
lock_layer_wait (int dir_fd, nsfd_error_t *err)
{
  struct sigaction sa = { .sa_handler = on_lock_timer }, old_sa;
  struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN };
  struct itimerspec its = { .it_value = { LOCK_WAIT_MS / 1000, (LOCK_WAIT_MS % 1000) * 1000000L } };
  sigset_t sig, old_mask;
  timer_t timer;
  int r, e;

  sev.sigev_notify_thread_id = (pid_t) syscall (SYS_gettid);
  sigemptyset (&sa.sa_mask); /* no SA_RESTART: the signal must end flock */
  sigemptyset (&sig);
  sigaddset (&sig, SIGRTMIN);
  lock_timer_fired = 0;
  if (sigaction (SIGRTMIN, &sa, &old_sa) < 0)
    return nsfd_make_error (err, errno, "locking the layer: installing the timeout handler");
  pthread_sigmask (SIG_UNBLOCK, &sig, &old_mask);
  if (timer_create (CLOCK_MONOTONIC, &sev, &timer) < 0)
    {
      e = errno;
      pthread_sigmask (SIG_SETMASK, &old_mask, NULL);
      sigaction (SIGRTMIN, &old_sa, NULL);
      return nsfd_make_error (err, e, "locking the layer: creating the timeout timer");
    }
  r = timer_settime (timer, 0, &its, NULL);
  while (r == 0 && (r = flock (dir_fd, LOCK_EX)) < 0 && errno == EINTR && !lock_timer_fired)
    r = 0; /* another signal: keep waiting, the timer still runs */
  e = errno;
  timer_delete (timer);
  pthread_sigmask (SIG_SETMASK, &old_mask, NULL);
  sigaction (SIGRTMIN, &old_sa, NULL);
  if (r == 0)
    return 0;
  if (lock_timer_fired)
    return nsfd_make_error (err, ETIMEDOUT, "locking the layer (held for more than %d ms)", LOCK_WAIT_MS);
  return nsfd_make_error (err, e, "locking the layer");
}

int
nsfd_layer_lock (int dir_fd, nsfd_error_t *err)
{
  if (flock (dir_fd, LOCK_EX | LOCK_NB) == 0)
    return 0;
  if (errno != EWOULDBLOCK && errno != EINTR)
    return nsfd_make_error (err, errno, "locking the layer");
  return lock_layer_wait (dir_fd, err);
}

/* The string member name into out (cut to cap), when there is one. */
static void
copy_member (const struct nsfd_json *obj, const char *name, char *out, size_t cap)
{
  const struct nsfd_json *v = nsfd_json_get (obj, name, NSFD_JSON_STRING);
  if (v)
    snprintf (out, cap, "%s", v->text);
}

int
nsfd_layer_read_holder (int dir_fd, struct nsfd_holder *h, nsfd_error_t *err)
{
  nsfd_error_t local = NULL;
  cleanup_free char *buf = NULL;
  cleanup_json struct nsfd_json *tree = NULL;
  long long n;
  size_t len;

  memset (h, 0, sizeof (*h));
  /* A local error: callers that do not want the message pass err NULL, and
   * "no record" must still be told apart from a failure. */
  if (nsfd_read_file_at (dir_fd, NSFD_LAYER_HOLDER, META_MAX, &buf, &len, &local) < 0)
    {
      if (local && local->status == ENOENT)
        {
          nsfd_error_free (&local);
          return 0;
        }
      if (err)
        {
          nsfd_error_free (err);
          *err = local;
        }
      else
        nsfd_error_free (&local);
      return -1;
    }
  if (nsfd_json_parse (NSFD_LAYER_HOLDER, buf, len, &tree, NULL) < 0)
    return 2; /* unreadable record: treated as stale */
  copy_member (tree, "container", h->container, sizeof (h->container));
  copy_member (tree, "bootId", h->boot_id, sizeof (h->boot_id));
  if (nsfd_json_get_int (tree, "pid", &n))
    h->pid = n;
  if (nsfd_json_get_int (tree, "pidStartTime", &n))
    h->start = (unsigned long long) n;
  copy_member (tree, "since", h->since, sizeof (h->since));
  copy_member (tree, "mode", h->mode, sizeof (h->mode));
  return 1;
}

bool
nsfd_holder_alive (const struct nsfd_holder *h)
{
  char boot[64];
  if (nsfd_boot_id (boot) < 0 || strcmp (boot, h->boot_id) != 0)
    return false; /* written before the last boot */
  if (h->pid <= 0 || h->pid > INT_MAX)
    return false;
  return nsfd_proc_is ((pid_t) h->pid, h->start); /* same pid number, same process */
}

static int
write_holder (int dir_fd, const char *container_id, pid_t pid, const char *mode, nsfd_error_t *err)
{
  char buf[8192], boot[64], when[48];
  unsigned long long start = 0;
  struct nsfd_jw w;

  if (nsfd_boot_id (boot) < 0)
    return nsfd_make_error (err, errno, "reading the boot id");
  if (nsfd_proc_start_time (pid, &start) < 0)
    return nsfd_make_error (err, ESRCH, "process %d (the container's) is gone", (int) pid);
  now_iso (when, false);
  nsfd_jw_init (&w, buf, sizeof (buf), true);
  nsfd_jw_object_begin (&w);
  nsfd_jw_member_string (&w, "container", container_id);
  nsfd_jw_member_string (&w, "bootId", boot);
  nsfd_jw_member_int (&w, "pid", pid);
  nsfd_jw_member_uint (&w, "pidStartTime", start);
  nsfd_jw_member_string (&w, "mode", mode);
  nsfd_jw_member_string (&w, "since", when);
  nsfd_jw_object_end (&w);
  return save_json (dir_fd, NSFD_LAYER_HOLDER, &w, false, err);
}

static int
busy_error (const struct nsfd_layer *l, const struct nsfd_holder *h, nsfd_error_t *err)
{
  return nsfd_make_error (err, EBUSY,
                          "layer \"%s\" is in use by container \"%s\" (pid %lld, since %s); "
                          "two containers must never share a layer: stop that container first, "
                          "or give this one its own layer (annotation nsfdsuds.io/layer)",
                          l->path, h->container, h->pid, h->since);
}

int
nsfd_layer_acquire (struct nsfd_layer *l, const char *container_id, pid_t pid,
                    const char *mode, nsfd_error_t *err)
{
  struct nsfd_holder h;
  bool same;
  int r;

  if (nsfd_layer_lock (l->dir_fd, err) < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", l->path);
  r = nsfd_layer_read_holder (l->dir_fd, &h, err);
  if (r < 0)
    {
      r = nsfd_error_wrap (err, "holder record of layer \"%s\"", l->path);
      goto out;
    }
  if (r == 1 && strcmp (h.container, container_id) != 0 && nsfd_holder_alive (&h))
    {
      r = busy_error (l, &h, err);
      goto out;
    }
  /* Only a new holder is a new use of the layer: not the wrapper's pid update. */
  same = r == 1 && strcmp (h.container, container_id) == 0 && nsfd_holder_alive (&h);
  r = write_holder (l->dir_fd, container_id, pid, mode, err);
  if (r == 0 && !same && !l->defer_generation)
    r = nsfd_layer_generation_bump (l->dir_fd, &l->generation, err);
out:
  (void) flock (l->dir_fd, LOCK_UN);
  return r < 0 ? r : 0;
}

int
nsfd_layer_update_pid (struct nsfd_layer *l, const char *container_id, pid_t pid, nsfd_error_t *err)
{
  return nsfd_layer_acquire (l, container_id, pid, "runtime", err);
}

int
nsfd_layer_release (int layer_dir_fd, const char *container_id, nsfd_error_t *err)
{
  struct nsfd_holder h;
  int r;

  if (nsfd_layer_lock (layer_dir_fd, err) < 0)
    return -1;
  r = nsfd_layer_read_holder (layer_dir_fd, &h, err);
  if (r == 1 && strcmp (h.container, container_id) == 0)
    {
      if (unlinkat (layer_dir_fd, NSFD_LAYER_HOLDER, 0) < 0 && errno != ENOENT)
        r = nsfd_make_error (err, errno, "removing the holder record");
    }
  else if (r > 0)
    r = 0;
  (void) flock (layer_dir_fd, LOCK_UN);
  return r < 0 ? r : 0;
}

static bool
valid_lower_id (const char *id)
{
  size_t n = strlen (id);
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == ':'))
      return false;
  return true;
}

/* Rewrites a scheme-1 record of this very lower in the current scheme. */
static int
migrate_lower_id (struct nsfd_layer *l, const char *lower_id, nsfd_error_t *err)
{
  char *copy;
  int r;

  if (nsfd_layer_lock (l->dir_fd, err) < 0)
    return -1;
  r = write_meta_full (l->dir_fd, l->created_at, lower_id, NULL, err);
  (void) flock (l->dir_fd, LOCK_UN);
  if (r < 0)
    return nsfd_error_wrap (err, "recording the lower fingerprint of layer \"%s\"", l->path);
  copy = strdup (lower_id);
  if (copy == NULL)
    return nsfd_make_error (err, ENOMEM, "lower fingerprint");
  free (l->lower_id);
  l->lower_id = copy;
  l->lower_id_scheme = NSFD_LOWERID_SCHEME;
  return 0;
}

int
nsfd_layer_check_lower (struct nsfd_layer *l, const char *lower_id, bool refuse, bool accept,
                        bool scheme1_matches, nsfd_error_t *err)
{
  struct nsfd_holder h;
  char *copy;
  int r;

  if (!valid_lower_id (lower_id))
    return nsfd_make_error (err, EINVAL, "invalid lower fingerprint");
  /* An older scheme that gives the same value for this lower, or a record
   * the caller found to be this lower's in scheme 1: the same image. */
  if (l->lower_id && strcmp (l->lower_id, lower_id) == 0)
    return l->lower_id_scheme == NSFD_LOWERID_SCHEME ? 0 : migrate_lower_id (l, lower_id, err);
  if (l->lower_id && l->lower_id_scheme == 1 && scheme1_matches)
    return migrate_lower_id (l, lower_id, err);
  if (nsfd_layer_lock (l->dir_fd, err) < 0)
    return -1;
  /* A live holder runs on the recorded lower: a container on another image
   * must neither record its fingerprint under it (the holder's next start
   * would be refused) nor be told the image changed; it is simply busy. */
  r = nsfd_layer_read_holder (l->dir_fd, &h, err);
  if (r < 0 || (r == 1 && nsfd_holder_alive (&h)))
    {
      r = r < 0 ? -1 : busy_error (l, &h, err);
      (void) flock (l->dir_fd, LOCK_UN);
      return r;
    }
  if (l->lower_id && refuse && !accept)
    {
      (void) flock (l->dir_fd, LOCK_UN);
      return nsfd_make_error (err, ESTALE,
                            "the image under layer \"%s\" changed since the layer last ran on it "
                            "(recorded %s, now %s). An upper layer made on one image can be inconsistent "
                            "with another, so nsfdsuds refuses by default. If the new image is intended, set "
                            "the annotation nsfdsuds.io/accept-image-change=\"true\" for one start; the node "
                            "admin can also set onImageChange to \"warn\"",
                            l->path, l->lower_id, lower_id);
    }
  r = write_meta_full (l->dir_fd, l->created_at, lower_id, l->lower_id, err);
  (void) flock (l->dir_fd, LOCK_UN);
  if (r < 0)
    return nsfd_error_wrap (err, "recording the lower fingerprint of layer \"%s\"", l->path);
  r = l->lower_id ? 1 : 0;
  copy = strdup (lower_id);
  free (l->lower_id);
  l->lower_id = copy;
  l->lower_id_scheme = NSFD_LOWERID_SCHEME;
  return r;
}
