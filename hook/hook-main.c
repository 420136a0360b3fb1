/* Entry point: reads the OCI state from stdin, decides in one JSON read
 * whether this container is ours, and runs the stage. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "hook.h"
#include "log.h"

enum stage
{
  STAGE_CREATE_RUNTIME,
  STAGE_CREATE_CONTAINER,
  STAGE_POSTSTOP,
};

static const struct
{
  const char *name, *alias;
  int (*run) (struct hook_ctx *ctx, nsfd_error_t *err);
} stages[] = {
  [STAGE_CREATE_RUNTIME] = { "createRuntime", "create-runtime", hook_create_runtime },
  [STAGE_CREATE_CONTAINER] = { "createContainer", "create-container", hook_create_container },
  [STAGE_POSTSTOP] = { "poststop", "post-stop", hook_poststop },
};

static void
usage (FILE *out)
{
  fprintf (out,
           "Usage: nsfdsuds-hook [--config FILE] STAGE < state.json\n"
           "STAGE: createRuntime | createContainer | poststop\n"
           "An OCI runtime hook giving annotated containers a persistent overlay root.\n"
           "See nsfdsuds-hook(1) and docs/architecture.md.\n");
}

void
hook_report (enum nsfd_log_level level, const char *id, const char *msg)
{
  nsfd_log (level, id, "%s", msg);
}

/* -1: usage error (exit 2); 0: run *stage; 1: --help/--version done. */
static int
parse_args (int argc, char **argv, const char **config_path, int *stage)
{
  static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
                                        { "help", no_argument, NULL, 'h' },
                                        { "version", no_argument, NULL, 'V' },
                                        { NULL, 0, NULL, 0 } };
  int c;

  while ((c = getopt_long (argc, argv, "c:hV", opts, NULL)) != -1)
    switch (c)
      {
      case 'c':
        *config_path = optarg;
        break;
      case 'h':
        usage (stdout);
        return 1;
      case 'V':
        printf ("nsfdsuds-hook %s\n", NSFD_VERSION);
        return 1;
      default:
        usage (stderr);
        return -1;
      }
  *stage = -1;
  for (int i = 0; optind == argc - 1 && i < (int) NSFD_ARRAY_SIZE (stages); i++)
    if (strcmp (argv[optind], stages[i].name) == 0 || strcmp (argv[optind], stages[i].alias) == 0)
      *stage = i;
  if (*stage < 0)
    {
      usage (stderr);
      return -1;
    }
  return 0;
}

/* Config, activation and ownership; 1 when the stage has work to do. */
static int
ours (struct hook_ctx *ctx, enum stage stage, const char *config_path, nsfd_error_t *err)
{
  int r;

  if (nsfd_session_init (&ctx->session, "hook", config_path, err) < 0)
    return -1;
  ctx->session.report = hook_report;
  r = nsfd_session_decide (&ctx->session, ctx->state.id, &ctx->state.annotations, err);
  if (r < 0)
    {
      /* poststop must never fail a delete because of annotations; createRuntime
       * already reported them, so do not log a second "refusing to start". */
      nsfd_log (stage == STAGE_POSTSTOP ? NSFD_LOG_DEBUG : NSFD_LOG_ERROR, ctx->state.id,
                "%s: refusing to start: %s", ctx->stage, nsfd_error_text (*err));
      nsfd_error_free (err);
      return stage == STAGE_POSTSTOP ? 0 : -2;
    }
  if (r == 1 && nsfd_session_set_up_by_wrapper (&ctx->session.cfg, ctx->state.id))
    {
      nsfd_log (NSFD_LOG_DEBUG, ctx->state.id, "%s: set up by nsfdsuds-runtime; nothing to do", ctx->stage);
      return 0;
    }
  return r;
}

int
main (int argc, char **argv)
{
  struct hook_ctx ctx = { 0 };
  cleanup_error nsfd_error_t err = NULL;
  const char *config_path = NULL;
  int stage, r, ret = 0;

  nsfd_log_init ("nsfdsuds-hook", NSFD_LOG_INFO, NSFD_LOG_SINK_STDERR);
  r = parse_args (argc, argv, &config_path, &stage);
  if (r != 0)
    return r < 0 ? 2 : 0;
  ctx.stage = argv[optind];
  if (hook_read_state (&ctx.state, &err) < 0)
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
  r = ours (&ctx, (enum stage) stage, config_path, &err);
  nsfd_log_step (ctx.state.id, "config and activation");
  if (r == -1)
    nsfd_log (NSFD_LOG_ERROR, ctx.state.id, "%s: %s", ctx.stage, nsfd_error_text (err));
  else if (r == 1 && stages[stage].run (&ctx, &err) < 0)
    {
      nsfd_log (NSFD_LOG_ERROR, ctx.state.id, "%s: the container cannot get its persistent root: %s", ctx.stage,
                nsfd_error_text (err));
      r = -1;
    }
  ret = r < 0 ? 1 : 0;
  nsfd_log_step (ctx.state.id, ctx.stage);
  nsfd_session_free (&ctx.session);
  nsfd_oci_state_free (&ctx.state);
  return ret;
}
