/* containerd: the runtime handlers of its config (and the files it imports)
 * that name nsfdsuds, either as BinaryName (wrapper mode) or through a
 * base_runtime_spec carrying nsfdsuds-hook (hook mode), and whether their
 * pod_annotations / container_annotations let the nsfdsuds.io/ annotations
 * into the OCI spec (containerd drops every other annotation). */
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "doctor.h"
#include "oci.h"

#define MAX_IMPORTS 16
#define RUNTIMES_KEY ".containerd.runtimes."

/* Keys every handler of ours must pass; containerd matches each glob with
 * Go's filepath.Match, where '*' does not cross '/' (FNM_PATHNAME). */
static const char *const our_keys[] = { "nsfdsuds.io/persist", "nsfdsuds.io/persist.app", "nsfdsuds.io/layer",
                                        "nsfdsuds.io/lower", "nsfdsuds.io/keep-volume-visible",
                                        "nsfdsuds.io/accept-image-change" };

struct gather
{
  struct nsfd_doctor *d;
  const char *file;
  char imports[MAX_IMPORTS][4096];
  size_t n_imports;
};

static struct nsfd_doctor_handler *
handler (struct gather *g, const char *name)
{
  struct nsfd_doctor *d = g->d;
  for (size_t i = 0; i < d->n_handlers; i++)
    if (strcmp (d->handlers[i].name, name) == 0)
      return &d->handlers[i];
  if (d->n_handlers >= NSFD_DOCTOR_MAX_HANDLERS)
    return NULL;
  struct nsfd_doctor_handler *h = &d->handlers[d->n_handlers++];
  memset (h, 0, sizeof (*h));
  snprintf (h->name, sizeof (h->name), "%s", name);
  snprintf (h->file, sizeof (h->file), "%s", g->file);
  return h;
}

static bool
globs_pass (const char *value)
{
  char globs[32][4096];
  size_t n = nsfd_doctor_toml_strings (value, globs, 32);
  for (size_t k = 0; k < NSFD_ARRAY_SIZE (our_keys); k++)
    {
      bool pass = false;
      for (size_t i = 0; i < n && !pass; i++)
        pass = fnmatch (globs[i], our_keys[k], FNM_PATHNAME) == 0;
      if (!pass)
        return false;
    }
  return true;
}

static void
on_key (void *ctx, const char *table, const char *key, const char *value)
{
  struct gather *g = ctx;
  const char *r = strstr (table, RUNTIMES_KEY);
  char name[128];
  bool options;
  struct nsfd_doctor_handler *h;

  if (table[0] == '\0' && strcmp (key, "imports") == 0)
    {
      g->n_imports += nsfd_doctor_toml_strings (value, g->imports + g->n_imports, MAX_IMPORTS - g->n_imports);
      return;
    }
  if (r == NULL)
    return;
  snprintf (name, sizeof (name), "%s", r + strlen (RUNTIMES_KEY));
  options = strlen (name) > 8 && strcmp (name + strlen (name) - 8, ".options") == 0;
  if (options)
    name[strlen (name) - 8] = '\0';
  if (strchr (name, '.') || (h = handler (g, name)) == NULL)
    return; /* a deeper table of a handler: nothing we read */
  if (options && strcmp (key, "BinaryName") == 0)
    nsfd_doctor_toml_strings (value, (char (*)[4096]) h->binary, 1);
  else if (!options && strcmp (key, "base_runtime_spec") == 0)
    nsfd_doctor_toml_strings (value, (char (*)[4096]) h->base_spec, 1);
  else if (!options && strcmp (key, "pod_annotations") == 0)
    h->has_pod_ann = true, h->pod_ann_ok = globs_pass (value);
  else if (!options && strcmp (key, "container_annotations") == 0)
    h->has_cont_ann = true, h->cont_ann_ok = globs_pass (value);
}

static void
read_imports (struct gather *g, const char *main_file)
{
  char dir[4096];
  snprintf (dir, sizeof (dir), "%s", main_file);
  dirname (dir);
  for (size_t i = 0; i < g->n_imports; i++)
    {
      char pattern[8200];
      glob_t gl;
      if (g->imports[i][0] == '/')
        snprintf (pattern, sizeof (pattern), "%s", g->imports[i]);
      else
        snprintf (pattern, sizeof (pattern), "%s/%s", dir, g->imports[i]);
      if (glob (pattern, 0, NULL, &gl) != 0)
        continue;
      for (size_t k = 0; k < gl.gl_pathc && k < 64; k++)
        {
          struct gather sub = { .d = g->d, .file = gl.gl_pathv[k] };
          (void) nsfd_doctor_toml_each (gl.gl_pathv[k], on_key, &sub); /* imports of imports: not followed */
        }
      globfree (&gl);
    }
}

void
nsfd_doctor_containerd_gather (struct nsfd_doctor *d)
{
  struct gather g = { .d = d, .file = d->containerd_config };
  if (nsfd_doctor_toml_each (d->containerd_config, on_key, &g) < 0)
    return;
  read_imports (&g, d->containerd_config);
}

static bool
basename_is (const char *path, const char *name)
{
  const char *b = strrchr (path, '/');
  return strcmp (b ? b + 1 : path, name) == 0;
}

/* 1 when the base spec carries nsfdsuds-hook at all three stages (then
 * *missing is empty), 0 when it carries none, -1 when unreadable. */
static int
base_spec_hooks (const char *path, char *hook_path, size_t cap, char *missing, size_t mcap)
{
  static const char *const stages[] = { "createRuntime", "createContainer", "poststop" };
  nsfd_error_t err = NULL;
  cleanup_free char *buf = NULL;
  cleanup_file FILE *f = fopen (path, "re");
  struct nsfd_json *root = NULL;
  const struct nsfd_json *hooks = NULL, *list = NULL;
  size_t len = 0, found = 0;

  missing[0] = hook_path[0] = '\0';
  if (f == NULL || nsfd_read_all_fd (fileno (f), NSFD_OCI_MAX_JSON, &buf, &len, &err) < 0
      || nsfd_json_parse ("base spec", buf, len, &root, &err) < 0)
    {
      nsfd_error_free (&err);
      return -1;
    }
  if (root->type == NSFD_JSON_OBJECT && nsfd_json_field ("", root, "", "hooks", &hooks, &err) > 0
      && hooks->type == NSFD_JSON_OBJECT)
    for (size_t s = 0; s < NSFD_ARRAY_SIZE (stages); s++)
      {
        bool here = false;
        const struct nsfd_json *p = NULL;
        if (nsfd_json_field ("", hooks, "", stages[s], &list, &err) > 0 && list->type == NSFD_JSON_ARRAY)
          for (size_t i = 0; i < list->len; i++)
            if (list->items[i]->type == NSFD_JSON_OBJECT
                && nsfd_json_field ("", list->items[i], "", "path", &p, &err) > 0 && p->type == NSFD_JSON_STRING
                && basename_is (p->text, "nsfdsuds-hook"))
              here = true, snprintf (hook_path, cap, "%s", p->text);
        nsfd_error_free (&err);
        if (here)
          found++;
        else
          snprintf (missing + strlen (missing), mcap - strlen (missing), "%s%s", missing[0] ? ", " : "", stages[s]);
      }
  nsfd_error_free (&err);
  nsfd_json_free (root);
  return found == 0 ? 0 : 1;
}

static bool
executable (const char *path)
{
  struct stat st;
  return path[0] == '/' && stat (path, &st) == 0 && S_ISREG (st.st_mode) && access (path, X_OK) == 0;
}

/* The runtime a hook-mode handler runs: its BinaryName, else runc from PATH. */
static const struct nsfd_doctor_runtime *
handler_runtime (const struct nsfd_doctor *d, const struct nsfd_doctor_handler *h)
{
  if (h->binary[0])
    return nsfd_doctor_find_runtime (d, h->binary);
  for (size_t i = 0; i < d->n_runtimes; i++)
    if (strcmp (d->runtimes[i].name, "runc") == 0)
      return &d->runtimes[i];
  return NULL;
}

static void
report_handler (struct nsfd_doctor *d, const struct nsfd_doctor_handler *h, bool wrapper, const char *hook_path,
                const char *missing)
{
  struct nsfd_doctor_check *c;
  const struct nsfd_doctor_runtime *rt = wrapper ? NULL : handler_runtime (d, h);
  char label[96];

  if (wrapper && !executable (h->binary))
    {
      c = nsfd_doctor_add (d, "engine.containerd", h->name, NSFD_DOCTOR_FAIL,
                           "handler %s (%s): BinaryName %s is not an executable file", h->name, h->file, h->binary);
      nsfd_doctor_fix (c, "install nsfdsuds-runtime there or correct BinaryName, then restart containerd");
    }
  else if (!wrapper && strcmp (missing, "!") == 0)
    {
      c = nsfd_doctor_add (d, "engine.containerd", h->name, NSFD_DOCTOR_FAIL,
                           "handler %s (%s): the base spec's hook %s is not an executable file", h->name, h->file,
                           hook_path);
      nsfd_doctor_fix (c, "install nsfdsuds-hook there or correct the paths in %s", h->base_spec);
    }
  else if (!wrapper && missing[0])
    {
      c = nsfd_doctor_add (d, "engine.containerd", h->name, NSFD_DOCTOR_FAIL,
                           "handler %s (%s): base spec %s has nsfdsuds-hook but not at %s", h->name, h->file,
                           h->base_spec, missing);
      nsfd_doctor_fix (c, "add the missing stages from the shipped base-spec-hooks.json (all three are needed)");
    }
  else if (!h->pod_ann_ok || !h->cont_ann_ok)
    {
      c = nsfd_doctor_add (d, "engine.containerd", h->name, NSFD_DOCTOR_FAIL,
                           "handler %s (%s): %s%s%s no glob passing nsfdsuds.io/*: containerd drops the annotations",
                           h->name, h->file, h->pod_ann_ok ? "" : "pod_annotations",
                           !h->pod_ann_ok && !h->cont_ann_ok ? " and " : "",
                           h->cont_ann_ok ? "" : "container_annotations");
      nsfd_doctor_fix (c, "in the handler's table add pod_annotations = [\"nsfdsuds.io/*\"] and "
                          "container_annotations = [\"nsfdsuds.io/*\"], restart containerd");
    }
  else if (rt && rt->pivot == NSFD_PIVOT_PREOPENED)
    {
      c = nsfd_doctor_add (d, "engine.containerd", h->name, NSFD_DOCTOR_FAIL,
                           "handler %s (%s): hook mode registered for %s (%s), which pivots into a pre-opened root: "
                           "every activated container of this handler is refused",
                           h->name, h->file, nsfd_doctor_runtime_label (rt, label, sizeof (label)), rt->path);
      nsfd_doctor_fix (c, "use the wrapper handler instead (BinaryName nsfdsuds-runtime, nsfdsuds-runtime-v*.toml), "
                          "or crun as this handler's BinaryName");
    }
  else
    nsfd_doctor_add (d, "engine.containerd", h->name, NSFD_DOCTOR_OK,
                     "handler %s (%s): %s %s; pod and container annotations pass nsfdsuds.io/*", h->name, h->file,
                     wrapper ? "wrapper mode, BinaryName" : "hook mode, base spec",
                     wrapper ? h->binary : h->base_spec);
}

void
nsfd_doctor_containerd (struct nsfd_doctor *d)
{
  struct nsfd_doctor_check *c;
  size_t ours = 0;
  struct stat st;

  if (stat (d->containerd_config, &st) < 0)
    {
      if (d->containerd_explicit)
        {
          c = nsfd_doctor_add (d, "engine.containerd", d->containerd_config, NSFD_DOCTOR_FAIL, "%s: %s",
                               d->containerd_config, strerror (errno));
          nsfd_doctor_fix (c, "name containerd's config file with --containerd-config");
        }
      return; /* no containerd here */
    }
  for (size_t i = 0; i < d->n_handlers; i++)
    {
      const struct nsfd_doctor_handler *h = &d->handlers[i];
      char hook_path[4096] = "", missing[128] = "";
      bool wrapper = basename_is (h->binary, "nsfdsuds-runtime");
      int hooks = h->base_spec[0] ? base_spec_hooks (h->base_spec, hook_path, sizeof (hook_path), missing,
                                                     sizeof (missing))
                                  : 0;
      if (!wrapper && hooks == 0)
        continue;
      ours++;
      d->containerd_ours++;
      if (hooks < 0)
        {
          c = nsfd_doctor_add (d, "engine.containerd", h->name, NSFD_DOCTOR_FAIL,
                               "handler %s (%s): base_runtime_spec %s cannot be read as JSON", h->name, h->file,
                               h->base_spec);
          nsfd_doctor_fix (c, "install the shipped base-spec-hooks.json there (docs/install.md)");
          continue;
        }
      if (!wrapper && hooks > 0 && !executable (hook_path))
        missing[0] = '\0', snprintf (missing, sizeof (missing), "!");
      report_handler (d, h, wrapper, hook_path, missing);
    }
  if (ours == 0)
    {
      c = nsfd_doctor_add (d, "engine.containerd", d->containerd_config, NSFD_DOCTOR_WARN,
                           "%s: no runtime handler uses nsfdsuds (%zu handler%s read; no BinaryName nsfdsuds-runtime, "
                           "no base_runtime_spec with nsfdsuds-hook)",
                           d->containerd_config, d->n_handlers, d->n_handlers == 1 ? "" : "s");
      nsfd_doctor_fix (c, "add the nsfdsuds handler: paste or import nsfdsuds-runtime-v1.toml (containerd 1.x) or "
                          "-v2.toml (2.x) from /usr/share/nsfdsuds/containerd (docs/install.md), restart containerd");
    }
}
