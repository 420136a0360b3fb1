/* A container we set up that the real runtime no longer has: a checkpoint
 * without --leave-running removes it from the runtime, so when the wrapper
 * was killed after that runtime step, <runDir>/<id> and the layer's (stale)
 * holder are all that is left of it.  The next checkpoint or delete of that
 * id clears them (docs/checkpoint.md, "Faults"). */
#include <stdio.h>

#include "checkpoint-record.h"
#include "cleanup.h"
#include "log.h"
#include "rundir.h"
#include "runtime.h"

bool
runtime_end_if_gone (struct nsfd_session *s, const struct nsfd_runtime_args *a, const char *cmd)
{
  cleanup_error nsfd_error_t err = NULL;
  cleanup_close int idfd = -1;
  struct nsfd_record rec = { 0 };
  char rundir[4096];

  if (!runtime_container_unknown (runtime_real (&s->cfg), a))
    return false;
  idfd = nsfd_rundir_open (s->cfg.run_dir, a->id, NULL);
  if (idfd < 0 || nsfd_record_read (idfd, &rec, NULL) < 0)
    snprintf (rec.layer_path, sizeof (rec.layer_path), "?");
  if (nsfd_rundir_path (s->cfg.run_dir, a->id, NULL, rundir, sizeof (rundir), NULL) < 0)
    snprintf (rundir, sizeof (rundir), "%s/%s", s->cfg.run_dir, a->id);
  s->id = a->id;
  if (nsfd_session_end (s, &err) < 0)
    {
      nsfd_log (NSFD_LOG_WARNING, a->id, "the runtime has no container \"%s\" any more, but its leftovers stay: %s",
                a->id, nsfd_error_text (err));
      return false;
    }
  nsfd_log (NSFD_LOG_WARNING, a->id,
            "%s: the runtime has no container \"%s\" any more (a checkpoint stopped it, or it was deleted "
            "around nsfdsuds-runtime): layer %s released, %s removed. A checkpoint of it that was interrupted "
            "left no %s in its image directory: see docs/checkpoint.md before restoring it",
            cmd, a->id, rec.layer_path, rundir, NSFD_CHECKPOINT_RECORD);
  return true;
}
