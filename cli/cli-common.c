/* What the commands share: the usage text, seconds parsing and the bound on a
 * peer's exchange.  main.c only dispatches. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

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
#ifndef NSFD_CLI_MINIMAL /* the node tools are not in the static build */
  fprintf (out,
           "\nNode tools (run as root on the host):\n\n"
           "  %s doctor [--json] [--config FILE] [--runtime PATH]...   (--help for all options)\n"
           "      Check whether this node can run persistent roots, and which way in works.\n"
           "  %s status [--json] [--config FILE] [LAYER]\n"
           "      The containers using a persistent layer on this node.\n"
           "  %s layer import|info|diff|export|check ... LAYER   (`layer --help`)\n"
           "      Bring a layer in (an LXC container's delta), look at it, export it, check it.\n",
           prog, prog, prog);
#endif
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
