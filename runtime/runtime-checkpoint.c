/* checkpoint of a container we set up: the real runtime checkpoints it
 * (options passed through), then its layer is made durable and the
 * checkpoint's image directory gets a record of which layer, in which state,
 * the processes' open files belong to (docs/checkpoint.md). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint-record.h"
#include "cleanup.h"
#include "fault.h"
#include "json.h"
#include "layer.h"
#include "log.h"
#include "overlay.h"
#include "rundir.h"
#include "runtime.h"
#include "safepath.h"

#define META_MAX (64 * 1024)

const char *
runtime_image_dir (const struct nsfd_runtime_args *a)
{
  return a->image_path && *a->image_path ? a->image_path : "checkpoint";
}

/* name, createdAt, lowerId and generation of the layer directory lfd at path. */
static int
layer_state (int lfd, const char *path, struct nsfd_checkpoint_layer *out, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  cleanup_json struct nsfd_json *tree = NULL;
  const struct nsfd_json *v;
  char copy[4096];
  size_t len;

  snprintf (out->path, sizeof (out->path), "%s", path);
  snprintf (copy, sizeof (copy), "%s", path);
  snprintf (out->name, sizeof (out->name), "%s", basename (copy));
  if (nsfd_read_file_at (lfd, NSFD_LAYER_META, META_MAX, &buf, &len, err) < 0)
    return nsfd_error_wrap (err, "layer metadata in \"%s\"", path);
  if (nsfd_json_parse (NSFD_LAYER_META, buf, len, &tree, err) < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", path);
  if ((v = nsfd_json_get (tree, "createdAt", NSFD_JSON_STRING)) != NULL)
    snprintf (out->created_at, sizeof (out->created_at), "%s", v->text);
  if ((v = nsfd_json_get (tree, "lowerId", NSFD_JSON_STRING)) != NULL)
    snprintf (out->lower_id, sizeof (out->lower_id), "%s", v->text);
  return nsfd_layer_generation_read (lfd, &out->generation, err);
}

/* After the runtime's checkpoint: the layer directory gets the checkpoint's
 * mark, everything the processes wrote through the overlay is made durable
 * (syncfs of the upper's file system), then the record. */
static int
record_checkpoint (const struct nsfd_runtime_args *a, const char *layer_path, bool running, nsfd_error_t *err)
{
  struct nsfd_checkpoint_record rec = { 0 };
  cleanup_close int lfd = -1;
  cleanup_close int ufd = -1;
  cleanup_close int ifd = -1;
  const char *image = runtime_image_dir (a);

  lfd = nsfd_open_checked (layer_path, O_RDONLY | O_DIRECTORY, -1, err);
  if (lfd < 0)
    return -1;
  ufd = openat (lfd, NSFD_LAYER_UPPER, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ufd < 0)
    return nsfd_make_error (err, errno, "opening the upper directory of layer \"%s\"", layer_path);
  if (layer_state (lfd, layer_path, &rec.layer, err) < 0)
    return -1;
  /* Before the sync, so that it is as durable as the layer's files. */
  if (nsfd_checkpoint_mark_set (lfd, rec.layer.generation, err) < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", layer_path);
  rec.layer.marked = true;
  if (syncfs (ufd) < 0)
    return nsfd_make_error (err, errno, "syncfs of layer \"%s\"", layer_path);
  NSFD_FAULT ("checkpoint-after-sync");
  snprintf (rec.container, sizeof (rec.container), "%s", a->id);
  rec.left_running = running;
  ifd = open (image, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ifd < 0)
    return nsfd_make_error (err, errno, "opening the checkpoint's image directory \"%s\"", image);
  if (nsfd_checkpoint_record_write (ifd, &rec, err) < 0)
    return nsfd_error_wrap (err, "writing %s into \"%s\"", NSFD_CHECKPOINT_RECORD, image);
  nsfd_log (NSFD_LOG_INFO, a->id, "checkpoint in %s belongs to layer %s at generation %llu", image, layer_path,
            rec.layer.generation);
  return 0;
}

/* A process that has exited and waits to be reaped. */
static bool
is_zombie (pid_t pid)
{
  char path[64], buf[512];
  cleanup_close int fd = -1;
  const char *close_paren;
  ssize_t n;

  snprintf (path, sizeof (path), "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || (n = read (fd, buf, sizeof (buf) - 1)) <= 0)
    return true; /* gone meanwhile */
  buf[n] = '\0';
  close_paren = strrchr (buf, ')');
  return close_paren == NULL || close_paren[1] != ' ' || close_paren[2] == 'Z' || close_paren[2] == 'X';
}

/* --leave-running, and also --pre-dump (or any option of a newer runtime)
 * that leaves the processes running: then the container still holds its
 * layer.  Asked of the runtime rather than guessed from the options. */
static bool
still_running (const struct nsfd_session *s, const struct nsfd_runtime_args *a)
{
  pid_t pid;

  if (a->leave_running)
    return true;
  pid = runtime_container_pid (runtime_real (&s->cfg), a);
  /* No answer: keep the layer held; the engine's delete releases it. */
  if (pid < 0)
    return true;
  return pid > 0 && kill (pid, 0) == 0 && !is_zombie (pid);
}

int
runtime_checkpoint (struct nsfd_session *s, const struct nsfd_runtime_args *a, char **argv)
{
  cleanup_error nsfd_error_t err = NULL;
  cleanup_close int idfd = -1;
  struct nsfd_record rec;
  int status, rc = 0;
  bool running;

  /* Only containers we set up have a record naming their layer. */
  if (nsfd_policy_check_container_id (a->id, NULL) < 0
      || (idfd = nsfd_rundir_open (s->cfg.run_dir, a->id, NULL)) < 0 || nsfd_record_read (idfd, &rec, NULL) < 0
      || rec.layer_path[0] != '/')
    runtime_exec (runtime_real (&s->cfg), argv);
  status = runtime_run (runtime_real (&s->cfg), argv);
  if (status != 0)
    {
      /* An earlier checkpoint stopped it, and we were killed before
       * cleaning up after it: nothing to checkpoint, but nothing to keep. */
      (void) runtime_end_if_gone (s, a, "checkpoint");
      return runtime_exit_code (status);
    }
  NSFD_FAULT ("checkpoint-after-runtime");
  running = still_running (s, a);
  if (record_checkpoint (a, rec.layer_path, running, &err) < 0)
    {
      nsfd_log (NSFD_LOG_ERROR, a->id, "the checkpoint was taken, but it cannot be restored with its layer: %s",
                nsfd_error_text (err));
      runtime_log_for_engine (a, "the checkpoint cannot be restored with its layer", nsfd_error_text (err));
      nsfd_error_free (&err);
      rc = 1;
    }
  /* The processes are gone: the layer is free. */
  s->id = a->id;
  if (!running && nsfd_session_end (s, &err) < 0)
    nsfd_log (NSFD_LOG_WARNING, a->id, "%s", nsfd_error_text (err));
  return rc;
}
