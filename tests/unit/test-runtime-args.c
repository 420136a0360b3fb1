/* lib/runtime-args.c: finding the subcommand, the container id, the bundle,
 * the pid file, --root and --detach in runc and crun command lines as the
 * engines write them (containerd's runc shim, CRI-O, podman, by hand). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime-args.h"
#include "tap.h"
#include "testutil.h"

#define MAX_ARGS 32

/* Parses "nsfdsuds-runtime" followed by the given arguments (NULL-terminated). */
static struct nsfd_runtime_args
parse (const char *first, ...)
{
  static char *argv[MAX_ARGS + 2];
  struct nsfd_runtime_args a;
  va_list ap;
  int argc = 0;

  argv[argc++] = (char *) "nsfdsuds-runtime";
  va_start (ap, first);
  for (const char *s = first; s && argc < MAX_ARGS; s = va_arg (ap, const char *))
    argv[argc++] = (char *) s;
  va_end (ap);
  argv[argc] = NULL;
  memset (&a, 0x5a, sizeof (a)); /* the parser must set every field */
  nsfd_runtime_args_parse (argc, argv, &a);
  return a;
}

static int
eq (const char *a, const char *b)
{
  return (a == NULL && b == NULL) || (a && b && strcmp (a, b) == 0);
}

/* Checks every field at once and names the case on failure. */
static void
expect (const char *what, struct nsfd_runtime_args a, int cmd_index, const char *cmd, const char *id,
        const char *bundle, const char *pid_file, const char *root, int detach)
{
  int ok = a.cmd_index == cmd_index && eq (a.cmd, cmd) && eq (a.id, id) && eq (a.bundle, bundle)
           && eq (a.pid_file, pid_file) && eq (a.root, root) && a.detach == detach;
  CHECK (ok, "%s (got cmd_index=%d cmd=%s id=%s bundle=%s pid_file=%s root=%s detach=%d)", what, a.cmd_index,
         S (a.cmd), S (a.id), S (a.bundle), S (a.pid_file), S (a.root), a.detach);
}

static void
test_containerd_shim (void)
{
  /* go-runc as used by containerd's io.containerd.runc.v2 shim. */
  expect ("shim create",
          parse ("--root", "/run/containerd/runc/k8s.io", "--log", "/run/x/log.json", "--log-format", "json",
                 "create", "--bundle", "/run/b", "--pid-file", "/run/b/init.pid", "--console-socket", "/tmp/s",
                 "abc", NULL),
          7, "create", "abc", "/run/b", "/run/b/init.pid", "/run/containerd/runc/k8s.io", 0);
  expect ("shim start", parse ("--root", "/r", "--log", "l", "--log-format", "json", "start", "abc", NULL), 7,
          "start", "abc", NULL, NULL, "/r", 0);
  expect ("shim state", parse ("--root", "/r", "state", "abc", NULL), 3, "state", "abc", NULL, NULL, "/r", 0);
  expect ("shim exec",
          parse ("--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "--pid-file", "/tmp/e.pid", "abc",
                 NULL),
          3, "exec", "abc", NULL, "/tmp/e.pid", "/r", 1);
  expect ("shim kill", parse ("--root", "/r", "kill", "abc", "9", NULL), 3, "kill", "abc", NULL, NULL, "/r", 0);
  expect ("shim kill --all", parse ("--root", "/r", "kill", "--all", "abc", "KILL", NULL), 3, "kill", "abc", NULL,
          NULL, "/r", 0);
  expect ("shim delete", parse ("--root", "/r", "--log", "l", "--log-format", "json", "delete", "abc", NULL), 7,
          "delete", "abc", NULL, NULL, "/r", 0);
  expect ("shim delete --force", parse ("--root", "/r", "delete", "--force", "abc", NULL), 3, "delete", "abc",
          NULL, NULL, "/r", 0);
}

static void
test_option_forms (void)
{
  expect ("--root=R", parse ("--root=/r", "create", "--bundle=/b", "--pid-file=/p", "id1", NULL), 2, "create",
          "id1", "/b", "/p", "/r", 0);
  expect ("--root= (empty)", parse ("--root=", "state", "id1", NULL), 2, "state", "id1", NULL, NULL, "", 0);
  expect ("-b short", parse ("create", "-b", "/b", "id1", NULL), 1, "create", "id1", "/b", NULL, NULL, 0);
  expect ("-b=B", parse ("create", "-b=/b", "id1", NULL), 1, "create", "id1", "/b", NULL, NULL, 0);
  expect ("Go single-dash long -bundle", parse ("-root", "/r", "create", "-bundle", "/b", "id1", NULL), 3, "create",
          "id1", "/b", NULL, "/r", 0);
  expect ("id before options (crun permutes)", parse ("create", "id1", "--bundle", "/b", NULL), 1, "create", "id1",
          "/b", NULL, NULL, 0);
  expect ("bool globals", parse ("--debug", "--systemd-cgroup", "--log", "/l", "create", "id1", NULL), 5, "create",
          "id1", NULL, NULL, NULL, 0);
  expect ("valued globals", parse ("--criu", "/c", "--rootless", "false", "--cgroup-manager", "cgroupfs",
                                   "--log-level", "debug", "--root", "/r", "delete", "x", NULL),
          11, "delete", "x", NULL, NULL, "/r", 0);
  expect ("--log-format=json", parse ("--log-format=json", "start", "x", NULL), 2, "start", "x", NULL, NULL, NULL, 0);
  expect ("last --root wins", parse ("--root", "/a", "--root=/b", "state", "x", NULL), 4, "state", "x", NULL, NULL,
          "/b", 0);
  expect ("create options with values", parse ("create", "--console-socket", "/s", "--preserve-fds", "2",
                                               "--no-pivot", "--no-new-keyring", "-b", "/b", "id1", NULL),
          1, "create", "id1", "/b", NULL, NULL, 0);
  expect ("crun create -f config", parse ("create", "-f", "/b/other.json", "-b", "/b", "id1", NULL), 1, "create",
          "id1", "/b", NULL, NULL, 0);
}

static void
test_log_options (void)
{
  struct nsfd_runtime_args a;

  a = parse ("--root", "/r", "--log", "/run/x/log.json", "--log-format", "json", "create", "id1", NULL);
  CHECK (eq (a.log, "/run/x/log.json") && eq (a.log_format, "json"), "--log L --log-format json (got %s, %s)",
         S (a.log), S (a.log_format));
  a = parse ("--log=/l", "--log-format=text", "delete", "id1", NULL);
  CHECK (eq (a.log, "/l") && eq (a.log_format, "text"), "--log=L --log-format=text (got %s, %s)", S (a.log),
         S (a.log_format));
  a = parse ("create", "--log", "/not-global", "id1", NULL);
  CHECK (a.log == NULL && a.log_format == NULL, "--log after the command is not the global one (got %s)", S (a.log));
  a = parse ("--log-level", "debug", "state", "x", NULL);
  CHECK (a.log == NULL, "--log-level is not --log (got %s)", S (a.log));
}

static void
test_run_detach (void)
{
  expect ("run -d", parse ("run", "-d", "--bundle", "/b", "id1", NULL), 1, "run", "id1", "/b", NULL, NULL, 1);
  expect ("run --detach", parse ("run", "--detach", "-b", "/b", "id1", NULL), 1, "run", "id1", "/b", NULL, NULL, 1);
  expect ("run foreground", parse ("run", "-b", "/b", "id1", NULL), 1, "run", "id1", "/b", NULL, NULL, 0);
  /* "--d" is not -d; "-d" only counts after the subcommand. */
  expect ("run --d", parse ("run", "--d", "id1", NULL), 1, "run", "id1", NULL, NULL, NULL, 0);
  expect ("global -d is not detach", parse ("-d", "run", "id1", NULL), 2, "run", "id1", NULL, NULL, NULL, 0);
}

static void
test_exec_and_separators (void)
{
  expect ("exec id -- cmd", parse ("exec", "id1", "--", "sh", "-c", "echo --bundle x", NULL), 1, "exec", "id1",
          NULL, NULL, NULL, 0);
  expect ("exec -- id", parse ("exec", "--", "id1", "sh", NULL), 1, "exec", "id1", NULL, NULL, NULL, 0);
  expect ("exec with valued options", parse ("exec", "-e", "A=b", "--env", "C=d", "-u", "0:0", "--cwd", "/",
                                             "-c", "CAP_KILL", "-g", "5", "-p", "/p.json", "id1", "ls", NULL),
          1, "exec", "id1", NULL, NULL, NULL, 0);
  expect ("options after the id are read too (argp permutes)", parse ("exec", "id1", "sh", "--bundle", "/evil", NULL), 1, "exec",
          "id1", "/evil", NULL, NULL, 0);
  expect ("global --", parse ("--root", "/r", "--", "state", "x", NULL), 4, "state", "x", NULL, NULL, "/r", 0);
  expect ("lone - is positional", parse ("exec", "-", "x", NULL), 1, "exec", "-", NULL, NULL, NULL, 0);
  expect ("empty id", parse ("delete", "", NULL), 1, "delete", "", NULL, NULL, NULL, 0);
  expect ("id with spaces", parse ("state", "a b", NULL), 1, "state", "a b", NULL, NULL, NULL, 0);
}

static void
test_delete_force_short (void)
{
  /* runc and crun: delete -f is --force (no value); the id must still be found,
   * or the wrapper never releases the layer. */
  expect ("delete -f id", parse ("--root", "/r", "delete", "-f", "abc", NULL), 3, "delete", "abc", NULL, NULL, "/r",
          0);
  expect ("delete id -f", parse ("delete", "abc", "-f", NULL), 1, "delete", "abc", NULL, NULL, NULL, 0);
}

static void
test_no_command (void)
{
  expect ("nothing", parse (NULL), -1, NULL, NULL, NULL, NULL, NULL, 0);
  expect ("--version", parse ("--version", NULL), -1, NULL, NULL, NULL, NULL, NULL, 0);
  expect ("-v", parse ("-v", NULL), -1, NULL, NULL, NULL, NULL, NULL, 0);
  expect ("--root without a value", parse ("--root", NULL), -1, NULL, NULL, NULL, NULL, NULL, 0);
  expect ("--root value only", parse ("--root", "/r", NULL), -1, NULL, NULL, NULL, NULL, "/r", 0);
  expect ("features", parse ("features", NULL), 1, "features", NULL, NULL, NULL, NULL, 0);
  expect ("create without id", parse ("create", "--bundle", "/b", NULL), 1, "create", NULL, "/b", NULL, NULL, 0);
  expect ("--bundle without a value", parse ("create", "id1", "--bundle", NULL), 1, "create", "id1", NULL, NULL,
          NULL, 0);
  expect ("--pid-file without a value", parse ("create", "id1", "--pid-file", NULL), 1, "create", "id1", NULL,
          NULL, NULL, 0);
  expect ("empty command", parse ("", "x", NULL), 1, "", "x", NULL, NULL, NULL, 0);
}

static void
test_argv_untouched (void)
{
  char a0[] = "nsfdsuds-runtime", a1[] = "--root=/r", a2[] = "create", a3[] = "--bundle=/b", a4[] = "id1";
  char *argv[] = { a0, a1, a2, a3, a4, NULL };
  struct nsfd_runtime_args a;

  nsfd_runtime_args_parse (5, argv, &a);
  CHECK (strcmp (a1, "--root=/r") == 0 && strcmp (a3, "--bundle=/b") == 0, "argv strings are not modified");
  CHECK (argv[1] == a1 && argv[3] == a3 && argv[5] == NULL, "argv array is not modified");
  CHECK (a.root == a1 + 7 && a.bundle == a3 + 9 && a.id == a4, "values point into argv");
}

/* checkpoint and restore as runc, crun and podman write them: the values of
 * their options are not taken for the id. */
static void
test_checkpoint_restore (void)
{
  struct nsfd_runtime_args a;

  a = parse ("--root", "/r", "checkpoint", "--image-path", "/img", "--work-path", "/w", "--leave-running",
             "--tcp-established", "--manage-cgroups-mode", "soft", "--parent-path", "../pre", "abc", NULL);
  expect ("runc checkpoint", a, 3, "checkpoint", "abc", NULL, NULL, "/r", 0);
  CHECK (eq (a.image_path, "/img") && eq (a.work_path, "/w") && a.leave_running, "its image and work paths");
  a = parse ("checkpoint", "--image-path=/img", "abc", NULL);
  expect ("crun checkpoint --image-path=", a, 1, "checkpoint", "abc", NULL, NULL, NULL, 0);
  CHECK (eq (a.image_path, "/img") && a.work_path == NULL && !a.leave_running, "default stop");
  a = parse ("checkpoint", "--page-server", "10.0.0.1:27", "--status-fd", "5", "--empty-ns", "network", "abc",
             NULL);
  expect ("checkpoint with valued options", a, 1, "checkpoint", "abc", NULL, NULL, NULL, 0);
  CHECK (a.image_path == NULL, "no image path: the runtime's default");
  a = parse ("--root", "/r", "restore", "--image-path", "/img", "--work-path", "/w", "--bundle", "/b", "--detach",
             "--pid-file", "/p", "--lsm-profile", "apparmor:x", "--lsm-mount-context", "ctx", "abc", NULL);
  expect ("restore", a, 3, "restore", "abc", "/b", "/p", "/r", 1);
  CHECK (eq (a.image_path, "/img") && eq (a.work_path, "/w"), "restore's image and work paths");
  a = parse ("restore", "-d", "-b", "/b", "--console-socket", "/s", "abc", NULL);
  expect ("restore -d -b", a, 1, "restore", "abc", "/b", NULL, NULL, 1);
}

int
main (void)
{
  test_containerd_shim ();
  test_option_forms ();
  test_log_options ();
  test_run_detach ();
  test_exec_and_separators ();
  test_delete_force_short ();
  test_no_command ();
  test_argv_untouched ();
  test_checkpoint_restore ();
  TAP_DONE ();
}
