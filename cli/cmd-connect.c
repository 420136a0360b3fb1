/* nsfdsuds connect: ask a serve peer for its namespace fds, then either join
 * them (--enter, user namespace first) or pass them open to PROGRAM with
 * their numbers in NSFDSUDS_FD_<TYPE>. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "cli.h"
#include "handshake.h"
#include "log.h"
#include "namespaces.h"

struct connect_opts
{
  const char *path;
  uint32_t enter;      /* 0: do not enter, pass the fds on */
  unsigned timeout_ms;
  char **program;      /* NULL-terminated, from argv */
};

static int
parse (int argc, char **argv, struct connect_opts *o)
{
  cleanup_error nsfd_error_t err = NULL;

  o->path = NULL;
  o->enter = 0;
  o->timeout_ms = NSFD_CLI_DEFAULT_CONNECT_S * 1000;
  o->program = NULL;
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      if (strcmp (a, "--") == 0)
        {
          o->program = argv + i + 1;
          break;
        }
      if (strcmp (a, "--enter") == 0 || strcmp (a, "--timeout") == 0)
        {
          if (i + 1 >= argc)
            {
              fprintf (stderr, "nsfdsuds connect: %s needs a value\n", a);
              return -1;
            }
          if (strcmp (a, "--enter") == 0)
            {
              if (nsfd_ns_parse_list (argv[++i], &o->enter, &err) < 0)
                {
                  fprintf (stderr, "nsfdsuds connect: %s\n", nsfd_error_text (err));
                  return -1;
                }
            }
          else if (nsfd_cli_parse_seconds (argv[++i], &o->timeout_ms) < 0 || o->timeout_ms == 0)
            {
              fprintf (stderr, "nsfdsuds connect: invalid timeout `%s`\n", argv[i]);
              return -1;
            }
        }
      else if (a[0] == '-' && a[1] != '\0')
        {
          fprintf (stderr, "nsfdsuds connect: unknown option `%s`\n", a);
          return -1;
        }
      else if (o->path == NULL)
        o->path = a;
      else
        {
          /* PROGRAM without "--". */
          o->program = argv + i;
          break;
        }
    }
  if (o->path == NULL)
    {
      fprintf (stderr, "nsfdsuds connect: missing SOCKET\n");
      return -1;
    }
  if (o->program == NULL || o->program[0] == NULL)
    {
      fprintf (stderr, "nsfdsuds connect: missing PROGRAM\n");
      return -1;
    }
  return 0;
}

/* The server may not be up yet (a sidecar starting): retry while the socket
 * is missing or refusing, within the timeout. */
static int
connect_retry (const char *path, unsigned timeout_ms, nsfd_error_t *err)
{
  long long deadline = nsfd_now_ms () + timeout_ms;

  for (;;)
    {
      int fd = nsfd_hs_connect (path, err);
      if (fd >= 0)
        return fd;
      if ((*err)->status != ENOENT && (*err)->status != ECONNREFUSED)
        return fd;
      if (nsfd_now_ms () >= deadline)
        return nsfd_error_wrap (err, "gave up after %u ms", timeout_ms);
      nsfd_error_free (err);
      (void) usleep (100 * 1000);
    }
}

static int
receive (const struct connect_opts *o, struct nsfd_hs_msg *reply, nsfd_error_t *err)
{
  long long start = nsfd_now_ms ();
  cleanup_close int sock = -1;
  struct nsfd_hs_msg req;
  long long left;

  sock = connect_retry (o->path, o->timeout_ms, err);
  if (sock < 0)
    return -1;
  nsfd_hs_msg_init (&req);
  req.type = NSFD_HS_REQUEST;
  req.mask = o->enter ? o->enter : (1u << NSFD_NS_COUNT) - 1;
  if (nsfd_hs_send (sock, &req, err) < 0)
    return -1;
  left = o->timeout_ms - (nsfd_now_ms () - start);
  if (nsfd_hs_recv (sock, left < 1 ? 1 : (unsigned) left, reply, err) < 0)
    return nsfd_error_wrap (err, "`%s`", o->path);
  if (reply->type == NSFD_HS_RESULT)
    {
      int r = nsfd_make_error (err, reply->status > 0 ? reply->status : 0, "server refused: %s",
                               reply->text ? reply->text : "(no message)");
      nsfd_hs_msg_free (reply);
      return r;
    }
  if (reply->type != NSFD_HS_FDS)
    {
      nsfd_hs_msg_free (reply);
      return nsfd_make_error (err, EPROTO, "unexpected reply type %d", (int) reply->type);
    }
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    if ((o->enter & (1u << i)) && reply->ns.fd[i] < 0)
      {
        nsfd_hs_msg_free (reply);
        return nsfd_make_error (err, ENOENT, "the server sent no %s namespace", nsfd_ns_name (i));
      }
  nsfd_log (NSFD_LOG_DEBUG, NULL, "received fds from `%s`", reply->id ? reply->id : "?");
  return 0;
}

static int
enter_one (struct nsfd_ns_set *ns, int i, nsfd_error_t *err)
{
  if (setns (ns->fd[i], (int) nsfd_ns_clone_flag (i)) < 0)
    return nsfd_make_error (err, errno, "setns into the %s namespace", nsfd_ns_name (i));
  return 0;
}

/* LeakSanitizer's exit-time check cannot run after joining another pid
 * namespace (it hangs), so in a sanitizer build leaks are checked now. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NSFD_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NSFD_ASAN 1
#endif
#ifdef NSFD_ASAN
#include <sanitizer/lsan_interface.h>
#endif

static int
enter (struct nsfd_ns_set *ns, uint32_t mask, nsfd_error_t *err)
{
#ifdef NSFD_ASAN
  if (mask & (1u << NSFD_NS_PID))
    __lsan_do_leak_check ();
#endif
  /* The user namespace first: it grants the capabilities the others need.
   * Joining the one we are already in is refused by the kernel: skip it. */
  if (mask & (1u << NSFD_NS_USER))
    {
      cleanup_close int self = open ("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
      int same = self >= 0 ? nsfd_ns_same (self, ns->fd[NSFD_NS_USER], err) : 0;
      if (same < 0)
        return same;
      if (!same && enter_one (ns, NSFD_NS_USER, err) < 0)
        return -1;
    }
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    if (i != NSFD_NS_USER && (mask & (1u << i)) && enter_one (ns, i, err) < 0)
      return -1;
  return 0;
}

static int
export_fds (struct nsfd_ns_set *ns, nsfd_error_t *err)
{
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    {
      char name[32], value[16];
      const char *n = nsfd_ns_name (i);
      size_t k;

      if (ns->fd[i] < 0)
        continue;
      if (fcntl (ns->fd[i], F_SETFD, 0) < 0)
        return nsfd_make_error (err, errno, "clearing close-on-exec on fd %d", ns->fd[i]);
      memcpy (name, "NSFDSUDS_FD_", 12);
      for (k = 0; n[k] && k < sizeof (name) - 13; k++)
        name[12 + k] = (char) toupper ((unsigned char) n[k]);
      name[12 + k] = '\0';
      snprintf (value, sizeof (value), "%d", ns->fd[i]);
      if (setenv (name, value, 1) < 0)
        return nsfd_make_error (err, errno, "setting %s", name);
    }
  return 0;
}

static int
run (char **program)
{
  execvp (program[0], program);
  fprintf (stderr, "nsfdsuds connect: executing `%s`: %s\n", program[0], strerror (errno));
  return errno == ENOENT ? NSFD_EXIT_NOTFOUND : NSFD_EXIT_NOEXEC;
}

/* pid and time namespaces apply to children only: fork, exec in the child,
 * pass its exit status on. */
static int
run_in_child (char **program)
{
  int status;
  pid_t pid = fork ();

  if (pid < 0)
    {
      fprintf (stderr, "nsfdsuds connect: fork: %s\n", strerror (errno));
      return NSFD_EXIT_FAIL;
    }
  if (pid == 0)
    _exit (run (program));
  /* Terminal signals go to the child; we only report its end. */
  signal (SIGINT, SIG_IGN);
  signal (SIGQUIT, SIG_IGN);
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      {
        fprintf (stderr, "nsfdsuds connect: waitpid: %s\n", strerror (errno));
        return NSFD_EXIT_FAIL;
      }
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return 128 + WTERMSIG (status);
}

int
nsfd_cmd_connect (int argc, char **argv)
{
  cleanup_error nsfd_error_t err = NULL;
  struct connect_opts o;
  struct nsfd_hs_msg reply;

  nsfd_hs_msg_init (&reply);
  if (parse (argc, argv, &o) < 0)
    return NSFD_EXIT_USAGE;
  if (receive (&o, &reply, &err) < 0)
    goto fail;
  if (o.enter)
    {
      if (enter (&reply.ns, o.enter, &err) < 0)
        goto fail;
      nsfd_hs_msg_free (&reply);
      if (o.enter & ((1u << NSFD_NS_PID) | (1u << NSFD_NS_TIME)))
        return run_in_child (o.program);
      return run (o.program);
    }
  if (export_fds (&reply.ns, &err) < 0)
    goto fail;
  /* The fds now belong to PROGRAM. */
  free (reply.id);
  return run (o.program);

fail:
  nsfd_hs_msg_free (&reply);
  fprintf (stderr, "nsfdsuds connect: %s\n", nsfd_error_text (err));
  return NSFD_EXIT_FAIL;
}
