/* nsfdsuds serve: listen on a SOCK_SEQPACKET socket and answer each
 * REQUEST with this process's namespace fds (protocol v1). */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "handshake.h"
#include "log.h"
#include "namespaces.h"

struct serve_opts
{
  const char *path;
  int keep;
  mode_t mode;
  unsigned timeout_ms; /* waiting for a client; 0 = no limit */
};

static int
parse (int argc, char **argv, struct serve_opts *o)
{
  o->path = NULL;
  o->keep = 0;
  o->mode = 0600;
  o->timeout_ms = NSFD_HS_NO_TIMEOUT;
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      if (strcmp (a, "--once") == 0)
        o->keep = 0;
      else if (strcmp (a, "--keep") == 0)
        o->keep = 1;
      else if (strcmp (a, "--mode") == 0 || strcmp (a, "--timeout") == 0)
        {
          bool is_mode = strcmp (a, "--mode") == 0;
          char *end = NULL;
          if (i + 1 >= argc)
            {
              fprintf (stderr, "nsfdsuds serve: %s needs a value\n", a);
              return -1;
            }
          if (is_mode)
            {
              unsigned long m = strtoul (argv[++i], &end, 8);
              if (*argv[i] == '\0' || *end != '\0' || m > 07777)
                {
                  fprintf (stderr, "nsfdsuds serve: invalid mode `%s`\n", argv[i]);
                  return -1;
                }
              o->mode = (mode_t) m;
            }
          else if (nsfd_cli_parse_seconds (argv[++i], &o->timeout_ms) < 0)
            {
              fprintf (stderr, "nsfdsuds serve: invalid timeout `%s`\n", argv[i]);
              return -1;
            }
        }
      else if (a[0] == '-' && a[1] != '\0')
        {
          fprintf (stderr, "nsfdsuds serve: unknown option `%s`\n", a);
          return -1;
        }
      else if (o->path == NULL)
        o->path = a;
      else
        {
          fprintf (stderr, "nsfdsuds serve: unexpected argument `%s`\n", a);
          return -1;
        }
    }
  if (o->path == NULL)
    {
      fprintf (stderr, "nsfdsuds serve: missing SOCKET\n");
      return -1;
    }
  return 0;
}

/* A leftover socket of a server that is gone is removed; a live server's
 * socket or anything that is not a socket is left alone. */
static int
remove_stale (const char *path, nsfd_error_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_close int fd = -1;
  struct stat st;

  if (lstat (path, &st) < 0)
    return errno == ENOENT ? 0 : nsfd_make_error (err, errno, "stat `%s`", path);
  if (!S_ISSOCK (st.st_mode))
    return nsfd_make_error (err, EEXIST, "`%s` exists and is not a socket", path);
  if (strlen (path) >= sizeof (addr.sun_path))
    return nsfd_make_error (err, ENAMETOOLONG, "socket path `%s`", path);
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nsfd_make_error (err, errno, "creating a socket");
  if (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0)
    return nsfd_make_error (err, EADDRINUSE, "another server is listening on `%s`", path);
  if (errno != ECONNREFUSED)
    return nsfd_make_error (err, errno, "probing `%s`", path);
  if (unlink (path) < 0 && errno != ENOENT)
    return nsfd_make_error (err, errno, "removing the stale socket `%s`", path);
  return 0;
}

static int
serve_one (int client, const struct nsfd_ns_set *ns, nsfd_error_t *err)
{
  struct nsfd_hs_msg req, reply;
  struct ucred cred = { .pid = 0 };
  char id[64];
  int r;

  if (nsfd_hs_peer_cred (client, &cred, err) < 0)
    return -1;
  r = nsfd_hs_recv (client, nsfd_cli_exchange_ms (), &req, err);
  if (r < 0)
    return nsfd_error_wrap (err, "client pid %d", (int) cred.pid);
  if (req.type != NSFD_HS_REQUEST)
    {
      nsfd_hs_msg_free (&req);
      return nsfd_make_error (err, EPROTO, "client pid %d sent message type %d, expected REQUEST",
                              (int) cred.pid, (int) req.type);
    }
  nsfd_hs_msg_init (&reply);
  reply.type = NSFD_HS_FDS;
  snprintf (id, sizeof (id), "nsfdsuds-serve:%d", (int) getpid ());
  reply.id = id;
  /* Borrowed fds: reply is never freed, only sent. */
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    if ((req.mask & (1u << i)) && ns->fd[i] >= 0)
      reply.ns.fd[i] = ns->fd[i];
  nsfd_log (NSFD_LOG_INFO, NULL, "client pid %d uid %d asked for mask 0x%x", (int) cred.pid,
            (int) cred.uid, req.mask);
  nsfd_hs_msg_free (&req);
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    if (reply.ns.fd[i] >= 0)
      return nsfd_hs_send (client, &reply, err);

  nsfd_hs_msg_init (&reply);
  reply.type = NSFD_HS_RESULT;
  reply.status = ENOENT;
  reply.text = (char *) "none of the requested namespace types is available";
  (void) nsfd_hs_send (client, &reply, NULL);
  return nsfd_make_error (err, ENOENT, "client pid %d: %s", (int) cred.pid, reply.text);
}

/* Signals arrive through a signalfd so the socket is always removed. */
static int
signal_fd (nsfd_error_t *err)
{
  sigset_t sigs;
  int fd;

  sigemptyset (&sigs);
  sigaddset (&sigs, SIGINT);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGHUP);
  if (sigprocmask (SIG_BLOCK, &sigs, NULL) < 0 || (fd = signalfd (-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
    return nsfd_make_error (err, errno, "setting up signal handling");
  return fd;
}

/* Waits for a client or a signal: 1 a client is pending, 0 stop (a
 * signal), <0 an error (a timeout among them). */
static int
wait_client (const struct serve_opts *o, int lfd, int sfd, nsfd_error_t *err)
{
  for (;;)
    {
      struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
      int r = poll (p, 2, o->timeout_ms == NSFD_HS_NO_TIMEOUT ? -1 : (int) o->timeout_ms);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return nsfd_make_error (err, errno, "poll");
      if (r == 0)
        return nsfd_make_error (err, ETIMEDOUT, "no client connected to `%s` within %u ms", o->path, o->timeout_ms);
      if (p[1].revents)
        {
          struct signalfd_siginfo si;
          if (read (sfd, &si, sizeof (si)) == (ssize_t) sizeof (si))
            nsfd_log (NSFD_LOG_INFO, NULL, "signal %u, stopping", si.ssi_signo);
          return 0;
        }
      return 1;
    }
}

int
nsfd_cmd_serve (int argc, char **argv)
{
  cleanup_ns_set struct nsfd_ns_set ns;
  cleanup_error nsfd_error_t err = NULL;
  cleanup_close int lfd = -1;
  cleanup_close int sfd = -1;
  struct serve_opts o;

  nsfd_ns_set_init (&ns);
  if (parse (argc, argv, &o) < 0)
    return NSFD_EXIT_USAGE;
  if (nsfd_ns_open_self ((1u << NSFD_NS_COUNT) - 1, &ns, &err) < 0 || remove_stale (o.path, &err) < 0
      || (sfd = signal_fd (&err)) < 0)
    goto fail;
  lfd = nsfd_hs_listen (o.path, o.mode, (uid_t) -1, (gid_t) -1, &err);
  if (lfd < 0)
    goto fail;
  nsfd_log (NSFD_LOG_INFO, NULL, "listening on `%s` (%s)", o.path, o.keep ? "keep" : "once");

  while (wait_client (&o, lfd, sfd, &err) > 0)
    {
      cleanup_close int client = nsfd_hs_accept (lfd, 1000, &err);
      if (client < 0)
        break;
      if (serve_one (client, &ns, &err) < 0 && o.keep)
        {
          nsfd_log (NSFD_LOG_WARNING, NULL, "%s", nsfd_error_text (err));
          nsfd_error_free (&err);
        }
      if (!o.keep)
        break;
    }
  (void) unlink (o.path);
  if (err == NULL)
    return NSFD_EXIT_OK;
fail:
  fprintf (stderr, "nsfdsuds serve: %s\n", nsfd_error_text (err));
  return NSFD_EXIT_FAIL;
}
