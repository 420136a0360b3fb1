/* restore of an activated container: the persistent root is built as for
 * create (policy, layer held, stub layer, volume hidden, overlay on the
 * rootfs) after the checkpoint's record says this layer, in this state, is
 * the one its processes' files belong to; then the real runtime restores
 * onto it (docs/checkpoint.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint-record.h"
#include "cleanup.h"
#include "fault.h"
#include "layer.h"
#include "log.h"
#include "runtime.h"

struct restore_ctx
{
  struct nsfd_checkpoint_record rec;
  bool have_rec;
};

/* The checkpoint's record from its image directory.  None (a checkpoint not
 * taken through nsfdsuds-runtime) is refused unless overridden. */
static int
read_record (const struct nsfd_session *s, const struct nsfd_runtime_args *a, struct restore_ctx *c,
             nsfd_error_t *err)
{
  const char *image = runtime_image_dir (a);
  cleanup_close int ifd = open (image, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (ifd >= 0 && nsfd_checkpoint_record_read (ifd, &c->rec, err) == 0)
    {
      c->have_rec = true;
      return 0;
    }
  if (ifd < 0)
    nsfd_make_error (err, errno, "opening the checkpoint's image directory \"%s\"", image);
  if (s->req.restore_any_layer)
    {
      nsfd_log (NSFD_LOG_WARNING, a->id, "restoring without a checkpoint record (%s): nsfdsuds.io/restore-any-layer",
                nsfd_error_text (*err));
      nsfd_error_free (err);
      return 0;
    }
  if ((*err)->status == ENOENT && ifd >= 0)
    {
      nsfd_error_free (err);
      return nsfd_make_error (err, ENOENT,
                              "checkpoint \"%s\" has no %s: it was not taken through nsfdsuds-runtime, or "
                              "nsfdsuds-runtime was stopped after the runtime's checkpoint and before it "
                              "recorded the layer, so nothing tells which layer its processes' files are in, nor "
                              "in which state; set the annotation nsfdsuds.io/restore-any-layer=\"true\" to "
                              "restore anyway (only onto the layer it was taken on, unused since)",
                              image, NSFD_CHECKPOINT_RECORD);
    }
  return nsfd_error_wrap (err, "checkpoint \"%s\"", image);
}

/* Called with the layer open, before it is held: is it the checkpoint's? */
static int
check_layer (struct nsfd_session *s, void *ctx, nsfd_error_t *err)
{
  struct restore_ctx *c = ctx;
  const struct nsfd_layer *l = &s->plan.layer;
  struct nsfd_checkpoint_layer now = { 0 };
  int r;

  /* The generation moves on just before the runtime runs, not here: a
   * restore that fails before that leaves the checkpoint restorable. */
  s->plan.layer.defer_generation = true;
  if (!c->have_rec)
    return 0;
  snprintf (now.path, sizeof (now.path), "%s", l->path);
  snprintf (now.name, sizeof (now.name), "%s", s->req.layer_name);
  snprintf (now.created_at, sizeof (now.created_at), "%s", l->created_at ? l->created_at : "");
  snprintf (now.lower_id, sizeof (now.lower_id), "%s", l->lower_id ? l->lower_id : "");
  if (nsfd_layer_generation_read (l->dir_fd, &now.generation, err) < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", l->path);
  if ((r = nsfd_checkpoint_mark_present (l->dir_fd, err)) < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", l->path);
  now.marked = r == 1;
  if (nsfd_checkpoint_match (&c->rec, &now, err) == 0)
    return 0;
  if (!s->req.restore_any_layer)
    return -1;
  nsfd_log (NSFD_LOG_WARNING, s->id, "%s (accepted: nsfdsuds.io/restore-any-layer)", nsfd_error_text (*err));
  nsfd_error_free (err);
  return 0;
}

/* The layer's new use starts now: from the checkpoint's generation (another
 * container may have come and gone since the check), or from any with the
 * override. */
static int
advance_generation (struct nsfd_session *s, const struct restore_ctx *c, nsfd_error_t *err)
{
  bool strict = c->have_rec && !s->req.restore_any_layer;
  return nsfd_layer_generation_advance (&s->plan.layer, strict ? &c->rec.layer.generation : NULL,
                                        &s->plan.layer.generation, err);
}

int
runtime_restore (struct nsfd_session *s, const struct nsfd_runtime_args *a, const char *bundle, char **argv,
                 nsfd_error_t *err)
{
  struct restore_ctx c = { 0 };
  int status;

  if (nsfd_session_resolve (s, bundle, err) < 0 || read_record (s, a, &c, err) < 0)
    return -1;
  NSFD_FAULT ("restore-after-record");
  if (runtime_prepare_root_checked (s, check_layer, &c, err) < 0)
    return -1;
  NSFD_FAULT ("restore-before-exec");
  if (advance_generation (s, &c, err) < 0)
    {
      nsfd_session_release (s);
      return -1;
    }
  runtime_log_success (s, "restoring onto the persistent root on %s (layer %s, generation %llu)", s->plan.rootfs,
                       s->plan.layer.path, s->plan.layer.generation);
  status = runtime_run (runtime_real (&s->cfg), argv);
  NSFD_FAULT ("restore-after-runtime");
  return runtime_after_start (s, a, status, a->detach);
}
