/* Dispatch: modern subcommands by name, everything else follows the origin
 * tool's argument rules exactly (argc check, mode check, socket path length). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cli.h"
#include "log.h"

void
nsfd_cli_usage (FILE *out, const char *prog)
{
  fprintf (out,
           "Usage:\n\n"
           "  %s serve SOCKET [--once|--keep] [--mode OCTAL] [--timeout SEC]\n"
           "      Listen on SOCKET (SOCK_SEQPACKET, protocol v1) and send this process's\n"
           "      namespace fds to each client that asks.\n"
           "  %s connect SOCKET [--enter TYPES] [--timeout SEC] -- PROGRAM [ARGS]\n"
           "      Receive namespace fds from SOCKET; with --enter TYPES (e.g. mnt,net or\n"
           "      all) join them and exec PROGRAM, else exec PROGRAM with the fds open\n"
           "      and their numbers in NSFDSUDS_FD_<TYPE>.\n\n"
           "Origin-compatible forms (legacy protocol, SOCK_STREAM):\n\n"
           "Client mode: %s --client <socketpath> [program [args]]\n"
           "Receive namespace FDs and execv to [program] with [args]\n"
           "(execv(program, args): the first of [args] becomes the program's argv[0])\n\n"
           "Server mode: %s --server <socketpath>\n"
           "Wait for connection from client and then send namespace FDs\n\n"
           "  %s --help | --version\n",
           prog, prog, prog, prog, prog);
}

int
nsfd_cli_parse_seconds (const char *s, unsigned *ms)
{
  char *end = NULL;
  double v;

  if (s == NULL || *s == '\0')
    return -1;
  v = strtod (s, &end);
  if (end == s || *end != '\0' || !(v >= 0) || v > 86400.0 * 365)
    return -1;
  *ms = (unsigned) (v * 1000.0 + 0.5);
  if (v > 0 && *ms == 0)
    *ms = 1;
  return 0;
}

unsigned
nsfd_cli_exchange_ms (void)
{
  const char *v = getenv ("NSFDSUDS_TIMEOUT");
  unsigned ms;

  if (v != NULL && nsfd_cli_parse_seconds (v, &ms) == 0 && ms > 0)
    return ms;
  return NSFD_CLI_EXCHANGE_MS;
}

int
main (int argc, char **argv)
{
  const char *prog;

  if (argc < 1 || argv[0] == NULL)
    {
      fprintf (stderr, "The C implementation did not produce a valid program-name\n");
      return EXIT_FAILURE;
    }
  prog = argv[0];
  nsfd_log_init ("nsfdsuds", NSFD_LOG_INFO, NSFD_LOG_SINK_STDERR);
  if (getenv ("NSFDSUDS_DEBUG"))
    nsfd_log_set_level (NSFD_LOG_DEBUG);

  if (argc >= 2)
    {
      if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
        {
          nsfd_cli_usage (stdout, prog);
          return EXIT_SUCCESS;
        }
      if (strcmp (argv[1], "--version") == 0)
        {
          printf ("nsfdsuds %s\n", NSFD_VERSION);
          return EXIT_SUCCESS;
        }
      if (strcmp (argv[1], "serve") == 0)
        return nsfd_cmd_serve (argc - 1, argv + 1);
      if (strcmp (argv[1], "connect") == 0)
        return nsfd_cmd_connect (argc - 1, argv + 1);
    }

  /* The origin's rules, messages and exit codes. */
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
