#include "checkpoint-record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "json.h"
#include "safepath.h"

#define DOC NSFD_CHECKPOINT_RECORD
#define OVERRIDE "set the annotation nsfdsuds.io/restore-any-layer=\"true\" to restore anyway"

int
nsfd_checkpoint_record_write (int image_dir_fd, const struct nsfd_checkpoint_record *r, nsfd_error_t *err)
{
  char buf[8192], when[32];
  struct nsfd_jw w;
  time_t t = time (NULL);
  struct tm tm;
  size_t len;

  gmtime_r (&t, &tm);
  strftime (when, sizeof (when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  nsfd_jw_init (&w, buf, sizeof (buf), true);
  nsfd_jw_object_begin (&w);
  nsfd_jw_member_int (&w, "format", NSFD_CHECKPOINT_FORMAT);
  nsfd_jw_member_string (&w, "container", r->container);
  nsfd_jw_member_string (&w, "takenAt", r->taken_at[0] ? r->taken_at : when);
  nsfd_jw_member_bool (&w, "leftRunning", r->left_running);
  nsfd_jw_member_string (&w, "layerPath", r->layer.path);
  nsfd_jw_member_string (&w, "layerName", r->layer.name);
  nsfd_jw_member_string (&w, "layerCreatedAt", r->layer.created_at);
  nsfd_jw_member_string (&w, "lowerId", r->layer.lower_id);
  nsfd_jw_member_uint (&w, "generation", r->layer.generation);
  if (r->layer.marked)
    nsfd_jw_member_string (&w, "layerMark", NSFD_CHECKPOINT_MARK);
  nsfd_jw_object_end (&w);
  if (nsfd_jw_finish (&w, DOC, &len, err) < 0)
    return -1;
  /* Durable: the checkpoint is useless if the record is lost with it. */
  return nsfd_write_file_atomic (image_dir_fd, DOC, buf, len, 0600, err);
}

/* The string field name of obj into out (cap bytes, NUL included). */
static int
get_string (const struct nsfd_json *obj, const char *name, char *out, size_t cap, nsfd_error_t *err)
{
  const struct nsfd_json *v = NULL;
  cleanup_free char *s = NULL;

  if (nsfd_json_field (DOC, obj, "", name, &v, err) < 0)
    return -1;
  if (v == NULL)
    return nsfd_make_error (err, EINVAL, "%s: \"%s\" missing", DOC, name);
  if (nsfd_json_string (DOC, v, name, cap - 1, &s, err) < 0)
    return -1;
  snprintf (out, cap, "%s", s);
  return 0;
}

static int
get_int (const struct nsfd_json *obj, const char *name, long long max, long long *out, nsfd_error_t *err)
{
  const struct nsfd_json *v = NULL;

  if (nsfd_json_field (DOC, obj, "", name, &v, err) < 0)
    return -1;
  if (v == NULL)
    return nsfd_make_error (err, EINVAL, "%s: \"%s\" missing", DOC, name);
  return nsfd_json_int (DOC, v, name, 0, max, out, err);
}

int
nsfd_checkpoint_record_parse (const char *buf, size_t len, struct nsfd_checkpoint_record *r, nsfd_error_t *err)
{
  static const char *const known[] = { "format", "container", "takenAt", "leftRunning", "layerPath", "layerName",
                                       "layerCreatedAt", "lowerId", "generation", "layerMark", NULL };
  cleanup_json struct nsfd_json *tree = NULL;
  const struct nsfd_json *v = NULL;
  long long n;

  memset (r, 0, sizeof (*r));
  if (nsfd_json_parse (DOC, buf, len, &tree, err) < 0 || nsfd_json_only_keys (DOC, tree, "", known, err) < 0)
    return -1;
  if (get_int (tree, "format", 1000, &n, err) < 0)
    return -1;
  if (n != NSFD_CHECKPOINT_FORMAT)
    return nsfd_make_error (err, EINVAL, "%s has format %lld; this nsfdsuds reads format %d", DOC, n,
                            NSFD_CHECKPOINT_FORMAT);
  if (get_string (tree, "container", r->container, sizeof (r->container), err) < 0
      || get_string (tree, "takenAt", r->taken_at, sizeof (r->taken_at), err) < 0
      || get_string (tree, "layerPath", r->layer.path, sizeof (r->layer.path), err) < 0
      || get_string (tree, "layerName", r->layer.name, sizeof (r->layer.name), err) < 0
      || get_string (tree, "layerCreatedAt", r->layer.created_at, sizeof (r->layer.created_at), err) < 0
      || get_string (tree, "lowerId", r->layer.lower_id, sizeof (r->layer.lower_id), err) < 0
      || get_int (tree, "generation", 0x7fffffffffffffffLL, &n, err) < 0)
    return -1;
  r->layer.generation = (unsigned long long) n;
  if (nsfd_json_field (DOC, tree, "", "leftRunning", &v, err) < 0)
    return -1;
  if (v != NULL && nsfd_json_expect (DOC, v, "leftRunning", NSFD_JSON_BOOL, err) < 0)
    return -1;
  r->left_running = v != NULL && v->boolean;
  /* Optional: records written before the mark existed have none. */
  if (nsfd_json_field (DOC, tree, "", "layerMark", &v, err) < 0)
    return -1;
  if (v != NULL && nsfd_json_expect (DOC, v, "layerMark", NSFD_JSON_STRING, err) < 0)
    return -1;
  if (v != NULL && strcmp (v->text, NSFD_CHECKPOINT_MARK) != 0)
    return nsfd_make_error (err, EINVAL, "%s: \"layerMark\" is not %s", DOC, NSFD_CHECKPOINT_MARK);
  r->layer.marked = v != NULL;
  if (r->layer.name[0] == '\0')
    return nsfd_make_error (err, EINVAL, "%s: \"layerName\" is empty", DOC);
  return 0;
}

int
nsfd_checkpoint_record_read (int image_dir_fd, struct nsfd_checkpoint_record *r, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len;

  if (nsfd_read_file_at (image_dir_fd, DOC, NSFD_CHECKPOINT_RECORD_MAX, &buf, &len, err) < 0)
    return -1;
  return nsfd_checkpoint_record_parse (buf, len, r, err);
}

int
nsfd_checkpoint_match (const struct nsfd_checkpoint_record *r, const struct nsfd_checkpoint_layer *now,
                       nsfd_error_t *err)
{
  const struct nsfd_checkpoint_layer *was = &r->layer;

  if (strcmp (was->name, now->name) != 0)
    return nsfd_make_error (err, ESTALE,
                            "the checkpoint of container \"%s\" belongs to layer \"%s\" (%s), not to layer \"%s\" "
                            "(%s) that this restore would use; " OVERRIDE,
                            r->container, was->name, was->path, now->name, now->path);
  if (strcmp (was->created_at, now->created_at) != 0)
    return nsfd_make_error (err, ESTALE,
                            "the checkpoint of container \"%s\" belongs to layer \"%s\" created %s (%s); layer %s "
                            "was created %s: another layer of the same name (copy the checkpointed volume "
                            "first); " OVERRIDE,
                            r->container, was->name, was->created_at, was->path, now->path,
                            now->created_at[0] ? now->created_at : "now");
  if (now->generation == 0)
    return nsfd_make_error (err, ESTALE,
                            "the checkpoint of container \"%s\" belongs to layer \"%s\" (%s) at generation %llu; "
                            "layer %s has no generation: it has never run a container, or it was copied without "
                            "its \"generation\" file (copy the checkpointed layer directory whole: layer.json, "
                            "generation, upper/); " OVERRIDE,
                            r->container, was->name, was->path, was->generation, now->path);
  if (strcmp (was->lower_id, now->lower_id) != 0)
    return nsfd_make_error (err, ESTALE,
                            "the checkpoint of container \"%s\" was taken on image %s (layer %s); layer %s now "
                            "runs on image %s: the image changed; " OVERRIDE,
                            r->container, was->lower_id[0] ? was->lower_id : "(none)", was->path, now->path,
                            now->lower_id[0] ? now->lower_id : "(none)");
  if (was->generation != now->generation)
    return nsfd_make_error (err, ESTALE,
                            "layer %s is at generation %llu, the checkpoint of container \"%s\" was taken at "
                            "generation %llu (layer %s): the layer was used after the checkpoint, and its "
                            "files no longer match the processes' state; " OVERRIDE,
                            now->path, now->generation, r->container, was->generation, was->path);
  if (was->marked && !now->marked)
    return nsfd_make_error (err, ESTALE,
                            "layer %s has lost its trusted.* extended attributes since the checkpoint of "
                            "container \"%s\" (%s, set then, is missing): it was copied without them (podman's "
                            "volume export drops them, as do tar without --xattrs and rsync without -X), "
                            "and with them the overlay's opaque directories, so deleted image files would "
                            "come back; copy the volume again keeping its xattrs; " OVERRIDE,
                            now->path, r->container, NSFD_CHECKPOINT_MARK);
  return 0;
}
