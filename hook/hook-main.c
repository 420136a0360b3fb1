/* Entry point: reads the OCI state from stdin, decides in one JSON read
 * whether this container is ours, and runs the stage. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "hook.h"
#include "log.h"
#include "rundir.h"

#define STATE_READ_TIMEOUT_MS 10000

static void
usage (FILE *out)
{
  fprintf (out,
           "Usage: nsfdsuds-hook [--config FILE] STAGE < state.json\n"
           "STAGE: createRuntime | createContainer | poststop\n"
           "An OCI runtime hook giving annotated containers a persistent overlay root.\n"
           "See nsfdsuds-hook(1) and docs/architecture.md.\n");
}

/* The runtime writes the state and closes the pipe; bound both size and time. */
static int
read_state (struct nsfd_oci_state *st, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0, cap = 0;
  long long deadline = nsfd_now_ms () + STATE_READ_TIMEOUT_MS;

  for (;;)
    {
      struct pollfd p = { .fd = 0, .events = POLLIN };
      long long left = deadline - nsfd_now_ms ();
      ssize_t n;
      int pr;
      if (left <= 0)
        return nsfd_make_error (err, ETIMEDOUT, "reading the OCI state from stdin");
      pr = poll (&p, 1, (int) left);
      if (pr < 0)
        {
          if (errno == EINTR)
            continue;
          return nsfd_make_error (err, errno, "waiting for the OCI state on stdin");
        }
      /* Timed out: the check above ends the wait (a blocking read here
       * would wait for a writer that never writes nor closes). */
      if (pr == 0)
        continue;
      if (len + 4096 + 1 > cap)
        {
          if (cap >= NSFD_OCI_MAX_JSON + 4096)
            return nsfd_make_error (err, EFBIG, "OCI state on stdin is larger than %d bytes", NSFD_OCI_MAX_JSON);
          char *n2 = realloc (buf, cap = cap ? cap * 2 : 8192);
          if (n2 == NULL)
            return nsfd_make_error (err, ENOMEM, "reading the OCI state");
          buf = n2;
        }
      n = read (0, buf + len, cap - len - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return nsfd_make_error (err, errno, "reading the OCI state from stdin");
      if (n == 0)
        break;
      len += (size_t) n;
      if (len > NSFD_OCI_MAX_JSON)
        return nsfd_make_error (err, EFBIG, "OCI state on stdin is larger than %d bytes", NSFD_OCI_MAX_JSON);
    }
  if (buf == NULL)
    return nsfd_make_error (err, EINVAL, "no OCI state on stdin");
  buf[len] = '\0';
  if (nsfd_oci_state_parse (buf, len, st, err) < 0)
    return nsfd_error_wrap (err, "OCI state on stdin");
  return 0;
}

static int
stage_index (const char *s)
{
  static const char *names[][2] = { { "createRuntime", "create-runtime" },
                                    { "createContainer", "create-container" },
                                    { "poststop", "post-stop" } };
  for (int i = 0; i < 3; i++)
    if (strcmp (s, names[i][0]) == 0 || strcmp (s, names[i][1]) == 0)
      return i;
  return -1;
}

int
hook_wrapper_owns (struct hook_ctx *ctx)
{
  cleanup_close int idfd = nsfd_rundir_open (ctx->cfg.run_dir, ctx->state.id, NULL);
  struct nsfd_record rec;
  return idfd >= 0 && nsfd_record_read (idfd, &rec, NULL) == 0 && rec.by_wrapper;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
                                        { "help", no_argument, NULL, 'h' },
                                        { "version", no_argument, NULL, 'V' },
                                        { NULL, 0, NULL, 0 } };
  const char *config_path = NULL;
  struct hook_ctx ctx = { 0 };
  cleanup_error nsfd_error_t err = NULL;
  int c, stage, ret;

  nsfd_log_init ("nsfdsuds-hook", NSFD_LOG_INFO, NSFD_LOG_SINK_STDERR);
  while ((c = getopt_long (argc, argv, "c:hV", opts, NULL)) != -1)
    switch (c)
      {
      case 'c':
        config_path = optarg;
        break;
      case 'h':
        usage (stdout);
        return 0;
      case 'V':
        printf ("nsfdsuds-hook %s\n", NSFD_VERSION);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (optind != argc - 1 || (stage = stage_index (argv[optind])) < 0)
    {
      usage (stderr);
      return 2;
    }
  ctx.stage = argv[optind];

  if (read_state (&ctx.state, &err) < 0)
    {
      nsfd_log (NSFD_LOG_ERROR, NULL, "%s: %s", ctx.stage, nsfd_error_text (err));
      return 1;
    }
  /* Idle path: one state read, nothing else touched. */
  if (!nsfd_policy_maybe_activated (&ctx.state.annotations))
    {
      nsfd_oci_state_free (&ctx.state);
      return 0;
    }

  nsfd_config_defaults (&ctx.cfg);
  if (nsfd_config_load (config_path, config_path != NULL, &ctx.cfg, &err) < 0)
    {
      nsfd_log_set_sinks (NSFD_LOG_SINK_STDERR | NSFD_LOG_SINK_SYSLOG);
      nsfd_log (NSFD_LOG_ERROR, ctx.state.id, "%s: nsfdsuds config: %s", ctx.stage, nsfd_error_text (err));
      ret = 1;
      goto out;
    }
  nsfd_log_set_level ((enum nsfd_log_level) ctx.cfg.log_level);
  nsfd_log_set_sinks (ctx.cfg.log_sinks);

  if (nsfd_policy_parse (&ctx.state.annotations, &ctx.req, &err) < 0)
    {
      /* poststop must never fail a delete because of annotations; createRuntime
       * already reported them, so do not log a second "refusing to start". */
      nsfd_log (stage == 2 ? NSFD_LOG_DEBUG : NSFD_LOG_ERROR, ctx.state.id, "%s: refusing to start: %s", ctx.stage,
                nsfd_error_text (err));
      ret = stage == 2 ? 0 : 1;
      goto out;
    }
  if (!ctx.req.activated)
    {
      ret = 0;
      goto out;
    }
  if (nsfd_policy_check_container_id (ctx.state.id, &err) < 0)
    {
      nsfd_log (NSFD_LOG_ERROR, ctx.state.id, "%s: %s", ctx.stage, nsfd_error_text (err));
      ret = stage == 2 ? 0 : 1;
      goto out;
    }

  if (hook_wrapper_owns (&ctx))
    {
      nsfd_log (NSFD_LOG_DEBUG, ctx.state.id, "%s: set up by nsfdsuds-runtime; nothing to do", ctx.stage);
      ret = 0;
      goto out;
    }

  switch (stage)
    {
    case 0:
      ret = hook_create_runtime (&ctx, &err);
      break;
    case 1:
      ret = hook_create_container (&ctx, &err);
      break;
    default:
      ret = hook_poststop (&ctx, &err);
      break;
    }
  if (ret < 0)
    {
      nsfd_log (NSFD_LOG_ERROR, ctx.state.id, "%s: the container cannot get its persistent root: %s",
                ctx.stage, nsfd_error_text (err));
      ret = 1;
    }
  else
    ret = 0;
out:
  nsfd_request_free (&ctx.req);
  nsfd_config_free (&ctx.cfg);
  nsfd_oci_state_free (&ctx.state);
  return ret;
}
