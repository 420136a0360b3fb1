/* `nsfdsuds status [--json] [--config FILE] [--run-dir DIR] [--name NAME] [LAYER]`:
 * the containers using a persistent layer on this node (status-scan.c), as a
 * table or JSON (schema in nsfdsuds(1)).  Exit status 0, 1 when the runtime
 * directory or LAYER cannot be read, 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "cleanup.h"
#include "cli.h"
#include "config.h"
#include "layer-arg.h"
#include "status.h"

struct status_opts
{
  bool json;
  const char *config;
  const char *run_dir;
  const char *name;
  const char *layer;
};

static int
parse (int argc, char **argv, struct status_opts *o)
{
  const char *env = getenv ("NSFDSUDS_CONFIG");
  memset (o, 0, sizeof (*o));
  o->config = env && env[0] ? env : NULL;
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const char **slot = strcmp (a, "--config") == 0    ? &o->config
                          : strcmp (a, "--run-dir") == 0 ? &o->run_dir
                          : strcmp (a, "--name") == 0    ? &o->name
                                                         : NULL;
      if (strcmp (a, "--json") == 0)
        o->json = true;
      else if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0)
        return 1;
      else if (slot && i + 1 < argc)
        *slot = argv[++i];
      else if (a[0] == '-' || o->layer)
        {
          fprintf (stderr, "nsfdsuds status: unexpected argument `%s`\n", a);
          return -1;
        }
      else
        o->layer = a;
    }
  return 0;
}

static void
gen_str (yajl_gen g, const char *s)
{
  if (s == NULL)
    yajl_gen_null (g);
  else
    yajl_gen_string (g, (const unsigned char *) s, strlen (s));
}

static void
print_json (const char *run_dir, const char *layer, const struct nsfd_status *s)
{
  yajl_gen g = yajl_gen_alloc (NULL);
  const unsigned char *buf;
  size_t len;
  if (g == NULL)
    return;
  yajl_gen_config (g, yajl_gen_beautify, 1);
  yajl_gen_map_open (g);
  gen_str (g, "schemaVersion"), yajl_gen_integer (g, 1);
  gen_str (g, "runDir"), gen_str (g, run_dir);
  gen_str (g, "layer"), gen_str (g, layer);
  gen_str (g, "containers");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < s->n; i++)
    {
      const struct nsfd_status_entry *e = &s->entries[i];
      yajl_gen_map_open (g);
      gen_str (g, "id"), gen_str (g, e->id);
      gen_str (g, "mode"), gen_str (g, e->mode);
      gen_str (g, "layer"), gen_str (g, e->layer[0] ? e->layer : NULL);
      gen_str (g, "since"), gen_str (g, e->since[0] ? e->since : NULL);
      gen_str (g, "pid");
      if (e->pid > 0)
        yajl_gen_integer (g, e->pid);
      else
        yajl_gen_null (g);
      gen_str (g, "alive"), yajl_gen_bool (g, e->alive);
      gen_str (g, "stale"), yajl_gen_bool (g, e->stale);
      gen_str (g, "inRunDir"), yajl_gen_bool (g, e->in_run_dir);
      gen_str (g, "mounterPid");
      if (e->mounter_pid > 0)
        yajl_gen_integer (g, e->mounter_pid);
      else
        yajl_gen_null (g);
      gen_str (g, "problem"), gen_str (g, e->problem[0] ? e->problem : NULL);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
  yajl_gen_map_close (g);
  yajl_gen_get_buf (g, &buf, &len);
  fwrite (buf, 1, len, stdout);
  yajl_gen_free (g);
}

static void
print_table (const char *run_dir, const struct nsfd_status *s)
{
  int w = 9;
  for (size_t i = 0; i < s->n; i++)
    if ((int) strlen (s->entries[i].id) > w)
      w = (int) strlen (s->entries[i].id);
  if (s->n == 0)
    {
      printf ("no container uses a persistent layer (runtime directory %s)\n", run_dir);
      return;
    }
  printf ("%-*s  %-7s  %-8s  %-5s  %-20s  %s\n", w, "CONTAINER", "MODE", "PID", "ALIVE", "SINCE", "LAYER");
  for (size_t i = 0; i < s->n; i++)
    {
      const struct nsfd_status_entry *e = &s->entries[i];
      char pid[24];
      snprintf (pid, sizeof (pid), e->pid > 0 ? "%lld" : "-", e->pid);
      printf ("%-*s  %-7s  %-8s  %-5s  %-20s  %s\n", w, e->id, e->mode, pid, e->alive ? "yes" : "no",
              e->since[0] ? e->since : "-", e->layer[0] ? e->layer : "-");
      if (e->problem[0])
        printf ("%-*s  %s: %s\n", w, "", e->stale ? "stale" : "note", e->problem);
    }
}

int
nsfd_cmd_status (int argc, char **argv)
{
  struct status_opts o;
  struct nsfd_config cfg = { 0 };
  struct nsfd_status s = { 0 };
  nsfd_error_t err = NULL;
  cleanup_layer_arg struct nsfd_layer_arg la = { 0 };
  int r = parse (argc, argv, &o), code = NSFD_EXIT_OK;

  if (r != 0)
    {
      fprintf (r > 0 ? stdout : stderr,
               "Usage: nsfdsuds status [--json] [--config FILE] [--run-dir DIR] [--name NAME] [LAYER]\n");
      return r > 0 ? NSFD_EXIT_OK : NSFD_EXIT_USAGE;
    }
  if (geteuid () != 0)
    fprintf (stderr, "nsfdsuds status: not root: the records are root's, entries will show as unreadable\n");
  if (nsfd_config_load (o.config, o.config != NULL, &cfg, &err) < 0
      || (o.layer && nsfd_layer_arg_resolve (o.layer, o.name, &la, &err) < 0)
      || nsfd_status_scan (o.run_dir ? o.run_dir : cfg.run_dir, cfg.mounter_lifetime_ms, &s, &err) < 0
      || (o.layer && nsfd_status_filter_layer (&s, la.layer_path, &err) < 0))
    {
      fprintf (stderr, "nsfdsuds status: %s\n", nsfd_error_text (err));
      code = NSFD_EXIT_FAIL;
    }
  else if (o.json)
    print_json (o.run_dir ? o.run_dir : cfg.run_dir, o.layer ? la.layer_path : NULL, &s);
  else
    print_table (o.run_dir ? o.run_dir : cfg.run_dir, &s);
  nsfd_error_free (&err);
  nsfd_status_free (&s);
  nsfd_config_free (&cfg);
  return code;
}
