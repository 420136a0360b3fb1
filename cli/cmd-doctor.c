/* `nsfdsuds doctor [--json] [--config FILE] ...`: runs the table of steps
 * below and prints the report.  Exit status: 0 all ok, 1 a warning, 2 a
 * failure (usage errors are 2 as well, with a message on stderr). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "clock.h"
#include "doctor.h"

/* The one piece of global state: which signal asked doctor to stop. */
volatile int nsfd_doctor_signal;

static const struct
{
  const char *what;
  void (*run) (struct nsfd_doctor *d);
} steps[] = {
  { "config (silent)", nsfd_doctor_config_load },
  { "engine configs (silent)", nsfd_doctor_engines_gather },
  { "kernel", nsfd_doctor_kernel },
  { "runtimes", nsfd_doctor_runtimes },
  { "hooks.d", nsfd_doctor_hooksd },
  { "containerd", nsfd_doctor_containerd },
  { "engines", nsfd_doctor_engines },
  { "config", nsfd_doctor_config },
  { "runDir", nsfd_doctor_rundir },
};

static void
on_signal (int sig)
{
  nsfd_doctor_signal = sig;
}

static void
usage (FILE *out)
{
  fprintf (out,
           "Usage: nsfdsuds doctor [--json] [--config FILE] [--hooks-dir DIR]... [--containerd-config FILE]\n"
           "                       [--crio-config-dir DIR] [--runtime PATH]... [--probe-dir DIR]\n"
           "                       [--busybox PATH] [--probe-timeout SEC]\n\n"
           "Checks whether this node can run persistent roots: kernel, runtimes (hook mode or the\n"
           "wrapper, found by running a probe container), engine registration, the nsfdsuds config\n"
           "and the runtime directory.  Exit status: 0 all ok, 1 a warning, 2 a failure.\n"
           "See docs/install.md (\"Checking a node\") and nsfdsuds(1).\n");
}

static int
add_list (const char **list, size_t *n, const char *v)
{
  if (*n >= NSFD_DOCTOR_MAX_LIST)
    return -1;
  list[(*n)++] = v;
  return 0;
}

/* One option with a value; returns 1 when taken, 0 when not ours, -1 on error. */
static int
option (struct nsfd_doctor *d, const char *a, const char *v)
{
  if (strcmp (a, "--config") == 0)
    d->config_path = v, d->config_explicit = true;
  else if (strcmp (a, "--hooks-dir") == 0)
    return add_list (d->hooks_dirs, &d->n_hooks_dirs, v) < 0 ? -1 : 1;
  else if (strcmp (a, "--containerd-config") == 0)
    d->containerd_config = v, d->containerd_explicit = true;
  else if (strcmp (a, "--crio-config-dir") == 0)
    d->crio_config_dir = v;
  else if (strcmp (a, "--runtime") == 0)
    return add_list (d->runtime_opts, &d->n_runtime_opts, v) < 0 ? -1 : 1;
  else if (strcmp (a, "--probe-dir") == 0)
    d->probe_dir = v;
  else if (strcmp (a, "--busybox") == 0)
    d->busybox = v;
  else if (strcmp (a, "--probe-timeout") == 0)
    return nsfd_cli_parse_seconds (v, &d->probe_timeout_ms) < 0 || d->probe_timeout_ms == 0 ? -1 : 1;
  else
    return 0;
  return 1;
}

static int
parse (int argc, char **argv, struct nsfd_doctor *d)
{
  static const char *const default_hooks_dirs[] = { "/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d" };
  const char *env = getenv ("NSFDSUDS_CONFIG");

  d->config_path = env && env[0] ? env : NULL;
  d->config_explicit = d->config_path != NULL;
  d->containerd_config = "/etc/containerd/config.toml";
  d->crio_config_dir = "/etc/crio";
  d->probe_dir = NSFD_DOCTOR_PROBE_DIR;
  d->busybox = "/bin/busybox";
  d->probe_timeout_ms = 10000;
  for (int i = 1; i < argc; i++)
    {
      int r;
      if (strcmp (argv[i], "--json") == 0)
        {
          d->json = true;
          continue;
        }
      if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        return 1;
      r = i + 1 < argc ? option (d, argv[i], argv[i + 1]) : 0;
      if (r <= 0)
        {
          fprintf (stderr, "nsfdsuds doctor: %s `%s`\n", r < 0 ? "invalid value for" : "unknown option or missing value",
                   argv[i]);
          return -1;
        }
      i++;
    }
  for (size_t i = 0; d->n_hooks_dirs == 0 && i < NSFD_ARRAY_SIZE (default_hooks_dirs); i++)
    d->hooks_dirs[i] = default_hooks_dirs[i];
  if (d->n_hooks_dirs == 0)
    d->n_hooks_dirs = NSFD_ARRAY_SIZE (default_hooks_dirs);
  return 0;
}

static void
install_handlers (void)
{
  struct sigaction sa;
  memset (&sa, 0, sizeof (sa));
  sa.sa_handler = on_signal; /* no SA_RESTART: waits end early */
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
}

int
nsfd_cmd_doctor (int argc, char **argv)
{
  static struct nsfd_doctor d; /* large (paths of every runtime and handler) */
  long long start = nsfd_now_ms ();
  int r, code;

  memset (&d, 0, sizeof (d));
  r = parse (argc, argv, &d);
  if (r != 0)
    {
      usage (r > 0 ? stdout : stderr);
      return r > 0 ? NSFD_EXIT_OK : NSFD_EXIT_USAGE;
    }
  install_handlers ();
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (steps) && !nsfd_doctor_signal; i++)
    steps[i].run (&d);
  if (nsfd_doctor_signal)
    {
      /* Everything the probe made is gone by now: die of the signal. */
      int sig = nsfd_doctor_signal;
      fprintf (stderr, "nsfdsuds doctor: stopped by signal %d\n", sig);
      nsfd_doctor_free (&d);
      signal (sig, SIG_DFL);
      raise (sig);
      return 128 + sig;
    }
  if (d.json)
    nsfd_doctor_print_json (&d, nsfd_now_ms () - start);
  else
    nsfd_doctor_print_table (&d, nsfd_now_ms () - start);
  code = (int) nsfd_doctor_verdict (&d);
  nsfd_doctor_free (&d);
  fflush (stdout);
  return code;
}
