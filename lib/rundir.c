#include "rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "cleanup.h"
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

int
nsfd_rundir_create (const char *run_dir, const char *id, nsfd_error_t *err)
{
  cleanup_close int rfd = -1;
  cleanup_close int ifd = -1;
  cleanup_close int sfd = -1;
  struct stat st;

  rfd = open_run_dir (run_dir, true, err);
  if (rfd < 0)
    return -1;
  ifd = nsfd_mkdir_open (rfd, id, 0711, 0, 0, NULL, err);
  if (ifd < 0)
    return nsfd_error_wrap (err, "runtime directory \"%s\"", run_dir);
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
  char esc[6 * 4096 + 1];
  char buf[sizeof (esc) + 128]; /* room for the escaped path and the rest */
  size_t o = 0;
  for (const char *s = r->layer_path; *s && o + 7 < sizeof (esc); s++)
    {
      unsigned char c = (unsigned char) *s;
      if (c < 0x20)
        o += (size_t) snprintf (esc + o, sizeof (esc) - o, "\\u%04x", c);
      else
        {
          if (c == '"' || c == '\\')
            esc[o++] = '\\';
          esc[o++] = (char) c;
        }
    }
  esc[o] = '\0';
  int n = snprintf (buf, sizeof (buf),
                    "{\"layer\":\"%s\",\"mounterPid\":%d,\"mounterStartTime\":%llu,\"wrapper\":%s}\n", esc,
                    (int) r->mounter_pid, r->mounter_start, r->by_wrapper ? "true" : "false");
  if (n < 0 || (size_t) n >= sizeof (buf))
    return nsfd_make_error (err, ENAMETOOLONG, "runtime record for layer \"%s\" is too long", r->layer_path);
  return nsfd_write_file_replace (id_dir_fd, NSFD_RUNDIR_RECORD, buf, (size_t) n, 0600, err);
}

int
nsfd_record_read (int id_dir_fd, struct nsfd_record *r, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len;
  yajl_val tree, v;
  const char *p_layer[] = { "layer", NULL }, *p_pid[] = { "mounterPid", NULL },
             *p_start[] = { "mounterStartTime", NULL }, *p_wrapper[] = { "wrapper", NULL };

  memset (r, 0, sizeof (*r));
  if (nsfd_read_file_at (id_dir_fd, NSFD_RUNDIR_RECORD, 64 * 1024, &buf, &len, err) < 0)
    return -1;
  tree = yajl_tree_parse (buf, NULL, 0);
  if (tree == NULL)
    return nsfd_make_error (err, EINVAL, "runtime record is not valid JSON");
  if ((v = yajl_tree_get (tree, p_layer, yajl_t_string)))
    snprintf (r->layer_path, sizeof (r->layer_path), "%s", YAJL_GET_STRING (v) ? YAJL_GET_STRING (v) : "");
  if ((v = yajl_tree_get (tree, p_pid, yajl_t_number)) && YAJL_IS_INTEGER (v))
    r->mounter_pid = (pid_t) YAJL_GET_INTEGER (v);
  if ((v = yajl_tree_get (tree, p_start, yajl_t_number)) && YAJL_IS_INTEGER (v))
    r->mounter_start = (unsigned long long) YAJL_GET_INTEGER (v);
  r->by_wrapper = (v = yajl_tree_get (tree, p_wrapper, yajl_t_true)) != NULL;
  yajl_tree_free (tree);
  return 0;
}
