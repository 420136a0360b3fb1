/* poststop: release the layer and remove whatever is left for this container
 * (a mounter still waiting because the container never got to createContainer,
 * the socket, the runtime directory).  Idempotent. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "hook.h"
#include "layer.h"
#include "log.h"
#include "overlay.h"
#include "rundir.h"

static void
stop_mounter (const struct nsfd_record *rec, const char *id)
{
  unsigned long long start;
  if (rec->mounter_pid <= 1 || nsfd_proc_start_time (rec->mounter_pid, &start) < 0
      || start != rec->mounter_start)
    return; /* gone, or the pid now names another process */
  nsfd_log (NSFD_LOG_INFO, id, "stopping mounter %d that is still waiting", (int) rec->mounter_pid);
  kill (rec->mounter_pid, SIGTERM);
  for (int i = 0; i < 200; i++)
    {
      struct timespec ts = { 0, 10 * 1000 * 1000 };
      if (nsfd_proc_start_time (rec->mounter_pid, &start) < 0 || start != rec->mounter_start)
        return;
      nanosleep (&ts, NULL);
    }
  kill (rec->mounter_pid, SIGKILL);
}

int
hook_poststop (struct hook_ctx *ctx, nsfd_error_t *err)
{
  cleanup_close int idfd = -1;
  struct nsfd_record rec;
  const char *id = ctx->state.id;

  idfd = nsfd_rundir_open (ctx->cfg.run_dir, id, err);
  if (idfd < 0)
    {
      if ((*err)->status == ENOENT)
        {
          nsfd_error_free (err);
          return 0;
        }
      return -1;
    }
  if (nsfd_record_read (idfd, &rec, err) == 0)
    {
      stop_mounter (&rec, id);
      if (rec.layer_path[0] == '/')
        {
          cleanup_close int lfd = nsfd_open_checked (rec.layer_path, O_RDONLY | O_DIRECTORY, -1, err);
          if (lfd < 0 || nsfd_layer_release (lfd, id, err) < 0)
            {
              nsfd_log (NSFD_LOG_WARNING, id, "releasing layer %s: %s", rec.layer_path, nsfd_error_text (*err));
              nsfd_error_free (err);
            }
        }
    }
  else
    nsfd_error_free (err);
  if (nsfd_rundir_remove (ctx->cfg.run_dir, id, err) < 0)
    return nsfd_error_wrap (err, "removing the runtime directory");
  return 0;
}
