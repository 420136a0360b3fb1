#include "rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "procfs.h"
#include "safepath.h"

static int
open_run_dir (const char *run_dir, bool create, nsfd_error_t *err)
{
  int fd;
  bool made = false;
  if (run_dir[0] != '/')
    return nsfd_make_error (err, EINVAL, "runDir \"%s\" is not absolute", run_dir);
  if (create && mkdir (run_dir, 0711) == 0)
    made = true;
  else if (create && errno != EEXIST)
    return nsfd_make_error (err, errno, "creating runtime directory \"%s\"", run_dir);
  fd = open (run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening runtime directory \"%s\"", run_dir);
  /* mkdir honours the umask; agents in user namespaces need the x bits. */
  if (made && fchmod (fd, 0711) < 0)
    {
      int e = errno;
      close (fd);
      return nsfd_make_error (err, e, "chmod runtime directory \"%s\"", run_dir);
    }
  if (nsfd_check_owned (fd, run_dir, true, 0, err) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

int
nsfd_rundir_path (const char *run_dir, const char *id, const char *name, char *buf, size_t cap,
                  nsfd_error_t *err)
{
  int n = snprintf (buf, cap, "%s/%s%s%s", run_dir, id, name ? "/" : "", name ? name : "");
  if (n < 0 || (size_t) n >= cap)
    return nsfd_make_error (err, ENAMETOOLONG, "runtime path for container \"%s\" is too long", id);
  return 0;
}

/* Someone accepts connections on <id>/socket (id_fd is <id>/). */
static bool
socket_listened (int id_fd)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int n = snprintf (sa.sun_path, sizeof (sa.sun_path), "/proc/self/fd/%d/%s", id_fd, NSFD_RUNDIR_SOCKET);

  if (fd < 0 || n < 0 || (size_t) n >= sizeof (sa.sun_path))
    return true;
  return connect (fd, (struct sockaddr *) &sa, sizeof (sa)) == 0 || errno != ECONNREFUSED;
}

/* What a start of this id that failed left behind, nothing of it running;
 * rec is its record, NULL when it has none. */
static bool
leftover_is_stale (int id_fd, const struct nsfd_record *rec, const char *run_dir, const char *id)
{
  if (rec == NULL)
    {
      /* Killed before the record was written: a live mounter still listens. */
      if (socket_listened (id_fd))
        return false;
    }
  else if (rec->container_pid <= 0 || nsfd_proc_is (rec->mounter_pid, rec->mounter_start))
    return false;
  nsfd_log (NSFD_LOG_WARNING, id,
            "removing what a failed start of container \"%s\" left in %s/%s (its mounter and init are gone; a "
            "runtime that runs no poststop after a failed create leaves it)", id, run_dir, id);
  return true;
}

int
nsfd_rundir_create (const char *run_dir, const char *id, nsfd_error_t *err)
{
  cleanup_close int rfd = -1;
  cleanup_close int ifd = -1;
  cleanup_close int sfd = -1;
  struct nsfd_record rec;
  bool has_rec;
  struct stat st;

  rfd = open_run_dir (run_dir, true, err);
  if (rfd < 0)
    return -1;
  ifd = nsfd_mkdir_open (rfd, id, 0711, 0, 0, NULL, err);
  if (ifd < 0)
    return nsfd_error_wrap (err, "runtime directory \"%s\"", run_dir);
  /* After a start the socket is gone but the record stays while the
   * container runs: the same id under another runtime root must not take it. */
  has_rec = nsfd_record_read (ifd, &rec, NULL) == 0;
  if (has_rec && nsfd_proc_is (rec.container_pid, rec.container_start))
    return nsfd_make_error (err, EEXIST,
                            "container \"%s\" is already running (init pid %d, runtime directory %s/%s) under "
                            "another runtime root: give this container another id, or delete that one first",
                            id, (int) rec.container_pid, run_dir, id);
  if (fstatat (ifd, NSFD_RUNDIR_SOCKET, &st, AT_SYMLINK_NOFOLLOW) == 0
      && leftover_is_stale (ifd, has_rec ? &rec : NULL, run_dir, id))
    {
      nsfd_closep (&ifd);
      if (nsfd_rm_rf_at (rfd, id, err) < 0)
        return nsfd_error_wrap (err, "removing the leftover runtime directory \"%s/%s\"", run_dir, id);
      ifd = nsfd_mkdir_open (rfd, id, 0711, 0, 0, NULL, err);
      if (ifd < 0)
        return nsfd_error_wrap (err, "runtime directory \"%s\"", run_dir);
    }
  if (fstatat (ifd, NSFD_RUNDIR_SOCKET, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return nsfd_make_error (err, EEXIST,
                            "a mounter is already waiting for container \"%s\" (%s/%s/%s exists)", id,
                            run_dir, id, NSFD_RUNDIR_SOCKET);
  sfd = nsfd_mkdir_open (ifd, NSFD_RUNDIR_STAGING, 0700, 0, 0, NULL, err);
  if (sfd < 0)
    return nsfd_error_wrap (err, "runtime directory of container \"%s\"", id);
  nsfd_closep (&sfd);
  sfd = nsfd_mkdir_open (ifd, NSFD_RUNDIR_STUBS, 0700, 0, 0, NULL, err);
  if (sfd < 0)
    return nsfd_error_wrap (err, "runtime directory of container \"%s\"", id);
  return nsfd_take_fd (&ifd);
}

int
nsfd_rundir_open (const char *run_dir, const char *id, nsfd_error_t *err)
{
  cleanup_close int rfd = open_run_dir (run_dir, false, err);
  if (rfd < 0)
    return -1;
  int fd = openat (rfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening \"%s/%s\"", run_dir, id);
  return fd;
}

int
nsfd_rundir_remove (const char *run_dir, const char *id, nsfd_error_t *err)
{
  cleanup_close int rfd = -1;
  rfd = open (run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rfd < 0)
    return errno == ENOENT ? 0 : nsfd_make_error (err, errno, "opening \"%s\"", run_dir);
  return nsfd_rm_rf_at (rfd, id, err);
}

int
nsfd_record_write (int id_dir_fd, const struct nsfd_record *r, nsfd_error_t *err)
{
  char buf[6 * sizeof (r->layer_path) + 256]; /* room for the escaped path and the rest */
  struct nsfd_jw w;
  size_t len;

  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_member_string (&w, "layer", r->layer_path);
  nsfd_jw_member_int (&w, "mounterPid", r->mounter_pid);
  nsfd_jw_member_uint (&w, "mounterStartTime", r->mounter_start);
  if (r->container_pid > 0)
    {
      nsfd_jw_member_int (&w, "containerPid", r->container_pid);
      nsfd_jw_member_uint (&w, "containerStartTime", r->container_start);
    }
  nsfd_jw_member_bool (&w, "wrapper", r->by_wrapper);
  nsfd_jw_object_end (&w);
  if (nsfd_jw_finish (&w, NSFD_RUNDIR_RECORD, &len, NULL) < 0)
    return nsfd_make_error (err, ENAMETOOLONG, "runtime record for layer \"%s\" is too long", r->layer_path);
  return nsfd_write_file_replace (id_dir_fd, NSFD_RUNDIR_RECORD, buf, len, 0600, err);
}

int
nsfd_record_read (int id_dir_fd, struct nsfd_record *r, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  cleanup_json struct nsfd_json *tree = NULL;
  const struct nsfd_json *v;
  long long n;
  size_t len;

  memset (r, 0, sizeof (*r));
  if (nsfd_read_file_at (id_dir_fd, NSFD_RUNDIR_RECORD, 64 * 1024, &buf, &len, err) < 0)
    return -1;
  if (nsfd_json_parse (NSFD_RUNDIR_RECORD, buf, len, &tree, NULL) < 0)
    return nsfd_make_error (err, EINVAL, "runtime record is not valid JSON");
  if ((v = nsfd_json_get (tree, "layer", NSFD_JSON_STRING)))
    snprintf (r->layer_path, sizeof (r->layer_path), "%s", v->text);
  if (nsfd_json_get_int (tree, "mounterPid", &n))
    r->mounter_pid = (pid_t) n;
  if (nsfd_json_get_int (tree, "mounterStartTime", &n))
    r->mounter_start = (unsigned long long) n;
  if (nsfd_json_get_int (tree, "containerPid", &n) && n > 0 && n <= INT_MAX)
    r->container_pid = (pid_t) n;
  if (nsfd_json_get_int (tree, "containerStartTime", &n))
    r->container_start = (unsigned long long) n;
  v = nsfd_json_get (tree, "wrapper", NSFD_JSON_BOOL);
  r->by_wrapper = v != NULL && v->boolean;
  return 0;
}

int
nsfd_record_set_container (const char *run_dir, const char *id, pid_t pid, nsfd_error_t *err)
{
  cleanup_close int idfd = nsfd_rundir_open (run_dir, id, err);
  struct nsfd_record rec;
  unsigned long long start;

  if (idfd < 0 || nsfd_record_read (idfd, &rec, err) < 0)
    return -1;
  if (nsfd_proc_start_time (pid, &start) < 0)
    return nsfd_make_error (err, errno, "reading the start time of the container's init (pid %d)", (int) pid);
  rec.container_pid = pid;
  rec.container_start = start;
  return nsfd_record_write (idfd, &rec, err);
}
