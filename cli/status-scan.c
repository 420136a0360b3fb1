/* Reading the runtime directory and the holder records (see status.h).
 * Nothing is changed: records are read without the layer lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer.h"
#include "rundir.h"
#include "status.h"

void
nsfd_status_free (struct nsfd_status *s)
{
  free (s->entries);
  s->entries = NULL;
  s->n = 0;
}

static void
holder_into (struct nsfd_status_entry *e, const struct nsfd_holder *h)
{
  snprintf (e->since, sizeof (e->since), "%s", h->since);
  e->pid = h->pid;
}

/* Joins the entry with its layer's holder record. */
static void
join_holder (struct nsfd_status_entry *e)
{
  struct nsfd_holder h;
  cleanup_close int fd = open (e->layer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int r;

  if (fd < 0)
    {
      snprintf (e->problem, sizeof (e->problem), "layer %s: %s", e->layer, strerror (errno));
      return;
    }
  r = nsfd_layer_read_holder (fd, &h, NULL);
  if (r == 0)
    snprintf (e->problem, sizeof (e->problem), "the layer has no holder record (released)");
  else if (r == 2)
    snprintf (e->problem, sizeof (e->problem), "the layer's holder record is not valid JSON");
  else if (r < 0)
    snprintf (e->problem, sizeof (e->problem), "the layer's holder record cannot be read");
  else if (strcmp (h.container, e->id) != 0)
    snprintf (e->problem, sizeof (e->problem), "the layer is now held by container %s", h.container);
  else
    {
      holder_into (e, &h);
      e->alive = nsfd_holder_alive (&h);
      if (!e->alive)
        snprintf (e->problem, sizeof (e->problem), "process %lld is gone%s", h.pid,
                  strcmp (h.mode, "hook") == 0 ? " (stopped, not deleted?)" : "");
    }
}

static void
read_entry (int run_fd, const char *run_dir, const char *id, unsigned grace_ms, struct nsfd_status_entry *e)
{
  nsfd_error_t err = NULL;
  struct nsfd_record rec;
  struct stat st;
  cleanup_close int fd = openat (run_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  memset (e, 0, sizeof (*e));
  snprintf (e->id, sizeof (e->id), "%s", id);
  e->in_run_dir = true;
  snprintf (e->mode, sizeof (e->mode), "?");
  if (fd < 0 || nsfd_record_read (fd, &rec, &err) < 0)
    {
      bool young = fd >= 0 && fstat (fd, &st) == 0 && time (NULL) - st.st_mtime < (time_t) (grace_ms / 1000);
      snprintf (e->problem, sizeof (e->problem), "%s/%s has no readable record (%s)", run_dir, id,
                err ? nsfd_error_text (err) : strerror (errno));
      e->stale = !young;
      nsfd_error_free (&err);
      if (young)
        e->problem[0] = '\0';
      return;
    }
  snprintf (e->mode, sizeof (e->mode), "%s", rec.by_wrapper ? "wrapper" : "hook");
  snprintf (e->layer, sizeof (e->layer), "%s", rec.layer_path);
  if (rec.mounter_pid > 1 && nsfd_proc_is (rec.mounter_pid, rec.mounter_start))
    e->mounter_pid = rec.mounter_pid;
  join_holder (e);
  e->stale = !e->alive;
  if (e->stale && e->mounter_pid)
    snprintf (e->problem + strlen (e->problem), sizeof (e->problem) - strlen (e->problem),
              "; its mounter (pid %d) still runs", (int) e->mounter_pid);
}

int
nsfd_status_scan (const char *run_dir, unsigned grace_ms, struct nsfd_status *out, nsfd_error_t *err)
{
  cleanup_close int run_fd = open (run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;

  memset (out, 0, sizeof (*out));
  if (run_fd < 0)
    return errno == ENOENT ? 0 : nsfd_make_error (err, errno, "opening the runtime directory \"%s\"", run_dir);
  d = opendir (run_dir);
  if (d == NULL)
    return nsfd_make_error (err, errno, "reading the runtime directory \"%s\"", run_dir);
  while ((de = readdir (d)) != NULL && out->n < NSFD_STATUS_MAX_ENTRIES)
    {
      struct nsfd_status_entry *grown;
      if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
        continue;
      grown = realloc (out->entries, (out->n + 1) * sizeof (*grown));
      if (grown == NULL)
        return nsfd_make_error (err, ENOMEM, "runtime directory entries");
      out->entries = grown;
      read_entry (run_fd, run_dir, de->d_name, grace_ms, &out->entries[out->n++]);
    }
  return 0;
}

int
nsfd_status_filter_layer (struct nsfd_status *s, const char *layer_path, nsfd_error_t *err)
{
  struct nsfd_holder h;
  size_t k = 0;
  bool named = false;
  cleanup_close int fd = -1;

  for (size_t i = 0; i < s->n; i++)
    if (strcmp (s->entries[i].layer, layer_path) == 0)
      s->entries[k++] = s->entries[i];
  s->n = k;
  fd = open (layer_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : nsfd_make_error (err, errno, "opening the layer \"%s\"", layer_path);
  if (nsfd_layer_read_holder (fd, &h, NULL) != 1)
    return 0;
  for (size_t i = 0; i < s->n; i++)
    named = named || strcmp (s->entries[i].id, h.container) == 0;
  if (named)
    return 0;
  struct nsfd_status_entry *grown = realloc (s->entries, (s->n + 1) * sizeof (*grown));
  if (grown == NULL)
    return nsfd_make_error (err, ENOMEM, "status entries");
  s->entries = grown;
  struct nsfd_status_entry *e = &s->entries[s->n++];
  memset (e, 0, sizeof (*e));
  snprintf (e->id, sizeof (e->id), "%s", h.container);
  snprintf (e->mode, sizeof (e->mode), "%s", strcmp (h.mode, "runtime") == 0 ? "wrapper" : h.mode);
  snprintf (e->layer, sizeof (e->layer), "%s", layer_path);
  holder_into (e, &h);
  e->alive = nsfd_holder_alive (&h);
  e->stale = !e->alive;
  snprintf (e->problem, sizeof (e->problem), "%s; not in this runtime directory",
            e->alive ? "holds the layer" : "stale holder record");
  return 0;
}
