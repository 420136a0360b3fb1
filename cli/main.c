/* Dispatch: modern subcommands by name from one table, everything else
 * follows the origin tool's argument rules exactly (argc check, mode check,
 * socket path length). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cli.h"
#include "log.h"

/* One row per subcommand; each gets argv from its own name on. */
static const struct
{
  const char *name;
  int (*run) (int argc, char **argv);
} commands[] = {
  { "serve", nsfd_cmd_serve },
  { "connect", nsfd_cmd_connect },
#ifndef NSFD_CLI_MINIMAL /* the static build carries the fd-passing tool only */
  { "layer", nsfd_cmd_layer },
  { "doctor", nsfd_cmd_doctor },
  { "status", nsfd_cmd_status },
#endif
};

/* The origin's rules, messages and exit codes. */
static int
legacy_main (int argc, char **argv)
{
  const char *prog = argv[0];

  if (argc < 3)
    {
      fprintf (stderr, "Invalid argument count\n\n");
      nsfd_cli_usage (stderr, prog);
      return EXIT_FAILURE;
    }
  if (strcmp (argv[1], "--client") != 0 && strcmp (argv[1], "--server") != 0)
    {
      fprintf (stderr, "Invalid mode\n\n");
      nsfd_cli_usage (stderr, prog);
      return EXIT_FAILURE;
    }
  if (strlen (argv[2]) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    {
      fprintf (stderr, "Socket path too long\n");
      return EXIT_FAILURE;
    }
  if (strcmp (argv[1], "--server") == 0)
    return nsfd_cmd_legacy_server (prog, argv[2]);
  return nsfd_cmd_legacy_client (argc, argv);
}

int
main (int argc, char **argv)
{
  if (argc < 1 || argv[0] == NULL)
    {
      fprintf (stderr, "The C implementation did not produce a valid program-name\n");
      return EXIT_FAILURE;
    }
  nsfd_log_init ("nsfdsuds", NSFD_LOG_INFO, NSFD_LOG_SINK_STDERR);
  if (getenv ("NSFDSUDS_DEBUG"))
    nsfd_log_set_level (NSFD_LOG_DEBUG);

  if (argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0))
    {
      nsfd_cli_usage (stdout, argv[0]);
      return EXIT_SUCCESS;
    }
  if (argc >= 2 && strcmp (argv[1], "--version") == 0)
    {
      printf ("nsfdsuds %s\n", NSFD_VERSION);
      return EXIT_SUCCESS;
    }
  for (size_t i = 0; argc >= 2 && i < sizeof (commands) / sizeof (commands[0]); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  return legacy_main (argc, argv);
}
