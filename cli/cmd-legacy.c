/* The origin's --server and --client modes over the legacy protocol, with
 * the origin's behaviour: the server unlinks the socket path before bind and
 * after finishing and serves exactly one client; the client execv()s
 * argv[3] with argv + 4 (so argv[4] is the program's argv[0]) and leaves
 * the six fds open across exec.  Exit codes: 0 success, 1 any failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "handshake.h"
#include "namespaces.h"

static int
unlink_socket (const char *path)
{
  if (unlink (path) < 0 && errno != ENOENT)
    {
      fprintf (stderr, "Unlinking '%s' failed with error %d:\n%s\n", path, errno, strerror (errno));
      return -1;
    }
  return 0;
}

static uint32_t
legacy_mask (void)
{
  uint32_t m = 0;
  for (int k = 0; k < NSFD_LEGACY_NFDS; k++)
    m |= 1u << nsfd_legacy_order[k];
  return m;
}

static int
serve_bound (int sock, const char *path)
{
  cleanup_ns_set struct nsfd_ns_set ns;
  cleanup_error nsfd_error_t err = NULL;
  cleanup_close int client = -1;

  nsfd_ns_set_init (&ns);
  if (nsfd_ns_open_self (legacy_mask (), &ns, &err) < 0)
    {
      fprintf (stderr, "%s\n", nsfd_error_text (err));
      return EXIT_FAILURE;
    }
  for (int k = 0; k < NSFD_LEGACY_NFDS; k++)
    if (ns.fd[nsfd_legacy_order[k]] < 0)
      {
        fprintf (stderr, "Error while opening '/proc/self/ns/%s': not supported by this kernel\n",
                 nsfd_ns_name (nsfd_legacy_order[k]));
        return EXIT_FAILURE;
      }
  /* Backlog 1 and one accept: the origin serves exactly one client. */
  if (listen (sock, 1) < 0)
    {
      fprintf (stderr, "Error %d while trying to listen on socket: %s\n", errno, strerror (errno));
      return EXIT_FAILURE;
    }
  client = nsfd_hs_accept (sock, NSFD_HS_NO_TIMEOUT, &err);
  if (client < 0)
    {
      fprintf (stderr, "%s\n", nsfd_error_text (err));
      return EXIT_FAILURE;
    }
  if (nsfd_legacy_serve (client, &ns, nsfd_cli_exchange_ms (), &err) < 0)
    {
      fprintf (stderr, "Serving client on '%s': %s\n", path, nsfd_error_text (err));
      return EXIT_FAILURE;
    }
  return EXIT_SUCCESS;
}

int
nsfd_cmd_legacy_server (const char *prog, const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_close int sock = -1;
  int rv;

  (void) prog;
  if (unlink_socket (path) < 0)
    return EXIT_FAILURE;
  sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    {
      fprintf (stderr, "Socket error %d: %s\n", errno, strerror (errno));
      return EXIT_FAILURE;
    }
  strcpy (addr.sun_path, path); /* length checked by main */
  if (bind (sock, (struct sockaddr *) &addr, sizeof (addr)) < 0)
    {
      fprintf (stderr, "Error %d while binding socket: %s\n", errno, strerror (errno));
      rv = EXIT_FAILURE;
    }
  else
    rv = serve_bound (sock, path);
  nsfd_closep (&sock);
  /* Although established via bind, cleaned up after closing the socket. */
  (void) unlink_socket (path);
  return rv;
}

int
nsfd_cmd_legacy_client (int argc, char **argv)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_ns_set struct nsfd_ns_set ns;
  cleanup_error nsfd_error_t err = NULL;
  cleanup_close int sock = -1;

  nsfd_ns_set_init (&ns);
  sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    {
      fprintf (stderr, "Socket error %d: %s\n", errno, strerror (errno));
      return EXIT_FAILURE;
    }
  strcpy (addr.sun_path, argv[2]);
  if (connect (sock, (struct sockaddr *) &addr, sizeof (addr)) < 0)
    {
      fprintf (stderr, "Error %d while connecting to server: %s\n", errno, strerror (errno));
      return EXIT_FAILURE;
    }
  if (nsfd_legacy_request (sock, nsfd_cli_exchange_ms (), &ns, &err) < 0)
    {
      fprintf (stderr, "Error while receiving FDs: %s\n", nsfd_error_text (err));
      return EXIT_FAILURE;
    }
  if (argc < 4)
    {
      fprintf (stderr, "Received FDs and nothing more to do\n");
      return EXIT_SUCCESS;
    }
  /* The origin received without MSG_CMSG_CLOEXEC: the program inherits the
   * six fds (its scripts find the mount namespace by scanning /proc/self/fd). */
  for (int k = 0; k < NSFD_LEGACY_NFDS; k++)
    {
      int fd = ns.fd[nsfd_legacy_order[k]];
      if (fcntl (fd, F_SETFD, 0) < 0)
        {
          fprintf (stderr, "Error %d while clearing close-on-exec on fd %d: %s\n", errno, fd,
                   strerror (errno));
          return EXIT_FAILURE;
        }
    }
  execv (argv[3], argv + 4);
  fprintf (stderr, "Failed to execv to program '%s' with error %d: %s\n", argv[3], errno, strerror (errno));
  return EXIT_FAILURE;
}
