#include "runtime-args.h"

#include <string.h>

/* Global options that take a value, in runc and crun. */
static const char *const global_with_value[] = { "log", "log-format", "root", "criu", "rootless",
                                                 "cgroup-manager", "log-level", NULL };
/* create/run/delete/... options that take a value. */
static const char *const cmd_with_value[] = { "bundle", "b", "pid-file", "console-socket", "preserve-fds",
                                              "config", "f", "process", "p", "cwd", "env", "e", "user", "u",
                                              "additional-gids", "g", "process-label", "apparmor", "cap", "c",
                                              /* checkpoint and restore (runc, crun) */
                                              "image-path", "work-path", "parent-path", "page-server",
                                              "manage-cgroups-mode", "empty-ns", "status-fd", "lsm-profile",
                                              "lsm-mount-context", NULL };

static int
in_list (const char *name, size_t len, const char *const *list)
{
  for (; *list; list++)
    if (strlen (*list) == len && strncmp (*list, name, len) == 0)
      return 1;
  return 0;
}

/* For "--name", "--name=value", "-n": returns the name and its length, and
 * whether the value is attached. */
static const char *
option_name (const char *arg, size_t *len, int *attached)
{
  const char *name = arg + (arg[1] == '-' ? 2 : 1);
  const char *eq = strchr (name, '=');
  *attached = eq != NULL;
  *len = eq ? (size_t) (eq - name) : strlen (name);
  return name;
}

void
nsfd_runtime_args_parse (int argc, char *const *argv, struct nsfd_runtime_args *out)
{
  int i = 1;
  memset (out, 0, sizeof (*out));
  out->cmd_index = -1;

  for (; i < argc; i++)
    {
      const char *a = argv[i];
      size_t len;
      int attached;
      const char *name;
      if (a[0] != '-' || a[1] == '\0')
        break;
      if (strcmp (a, "--") == 0)
        {
          i++;
          break;
        }
      name = option_name (a, &len, &attached);
      if (in_list (name, len, global_with_value))
        {
          const char *value = attached ? name + len + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
          if (len == 4 && strncmp (name, "root", 4) == 0)
            out->root = value;
          else if (len == 3 && strncmp (name, "log", 3) == 0)
            out->log = value;
          else if (len == 10 && strncmp (name, "log-format", 10) == 0)
            out->log_format = value;
          if (!attached)
            i++;
        }
    }
  if (i >= argc)
    return;
  out->cmd_index = i;
  out->cmd = argv[i];

  for (i++; i < argc; i++)
    {
      const char *a = argv[i];
      size_t len;
      int attached;
      const char *name;
      if (a[0] != '-' || a[1] == '\0')
        {
          if (out->id == NULL)
            out->id = a;
          continue;
        }
      if (strcmp (a, "--") == 0)
        {
          if (out->id == NULL && i + 1 < argc)
            out->id = argv[i + 1];
          break;
        }
      name = option_name (a, &len, &attached);
      if ((len == 6 && strncmp (name, "detach", 6) == 0) || (len == 1 && name[0] == 'd' && a[1] != '-'))
        out->detach = 1;
      if (len == 13 && strncmp (name, "leave-running", 13) == 0)
        out->leave_running = 1;
      /* delete -f is --force (runc, crun), not crun's create -f CONFIG: taking
       * the id as its value would leave the layer held after delete. */
      if (in_list (name, len, cmd_with_value)
          && !(len == 1 && name[0] == 'f' && strcmp (out->cmd, "delete") == 0))
        {
          const char *value = attached ? name + len + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
          if ((len == 6 && strncmp (name, "bundle", 6) == 0) || (len == 1 && name[0] == 'b'))
            out->bundle = value;
          else if (len == 8 && strncmp (name, "pid-file", 8) == 0)
            out->pid_file = value;
          else if (len == 10 && strncmp (name, "image-path", 10) == 0)
            out->image_path = value;
          else if (len == 9 && strncmp (name, "work-path", 9) == 0)
            out->work_path = value;
          if (!attached)
            i++;
        }
    }
}
