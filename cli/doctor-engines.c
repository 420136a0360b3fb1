/* Engines: what their configs name (gathered before the runtimes are
 * probed, so the runtimes they use are probed too), and afterwards whether
 * nsfdsuds is registered anywhere and whether a registration contradicts
 * what the probe found (hook mode for a runtime that pre-opens the root).
 * hooks.d and containerd are checked in doctor-hooksd.c and
 * doctor-containerd.c. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "doctor.h"

#define CRIO_RUNTIMES "crio.runtime.runtimes."

static void
on_crio_key (void *ctx, const char *table, const char *key, const char *value)
{
  struct nsfd_doctor *d = ctx;
  char path[1][4096];
  if (strncmp (table, CRIO_RUNTIMES, strlen (CRIO_RUNTIMES)) != 0 || strcmp (key, "runtime_path") != 0
      || nsfd_doctor_toml_strings (value, path, 1) != 1)
    return;
  if (strrchr (path[0], '/') && strcmp (strrchr (path[0], '/') + 1, "nsfdsuds-runtime") == 0)
    d->crio_wrapper = true;
  else if (d->n_crio_runtimes < NSFD_DOCTOR_MAX_LIST)
    snprintf (d->crio_runtimes[d->n_crio_runtimes++], sizeof (d->crio_runtimes[0]), "%s", path[0]);
}

/* crio.conf, then the crio.conf.d files ending in .conf (CRI-O's own order). */
static void
crio_gather (struct nsfd_doctor *d)
{
  char path[4400];
  struct dirent **names = NULL;
  int n;

  snprintf (path, sizeof (path), "%s/crio.conf", d->crio_config_dir);
  (void) nsfd_doctor_toml_each (path, on_crio_key, d);
  snprintf (path, sizeof (path), "%s/crio.conf.d", d->crio_config_dir);
  n = scandir (path, &names, NULL, alphasort);
  for (int i = 0; i < n; i++)
    {
      size_t l = strlen (names[i]->d_name);
      if (i < 256 && l > 5 && strcmp (names[i]->d_name + l - 5, ".conf") == 0)
        {
          char file[4700];
          snprintf (file, sizeof (file), "%s/%s", path, names[i]->d_name);
          (void) nsfd_doctor_toml_each (file, on_crio_key, d);
        }
      free (names[i]);
    }
  free (names);
}

void
nsfd_doctor_engines_gather (struct nsfd_doctor *d)
{
  nsfd_doctor_containerd_gather (d);
  crio_gather (d);
}

void
nsfd_doctor_engines (struct nsfd_doctor *d)
{
  struct nsfd_doctor_check *c;
  char label[96], ways[256] = "";

  if (d->hooksd_registered)
    for (size_t i = 0; i < d->n_runtimes; i++)
      if (d->runtimes[i].pivot == NSFD_PIVOT_PREOPENED)
        {
          const struct nsfd_doctor_runtime *r = &d->runtimes[i];
          c = nsfd_doctor_add (d, "engine.mode", r->path, NSFD_DOCTOR_WARN,
                               "hook mode is registered in hooks.d, but %s (%s) pivots into a pre-opened root: "
                               "CRI-O/Podman containers it runs are refused%s",
                               nsfd_doctor_runtime_label (r, label, sizeof (label)), r->path,
                               d->crio_wrapper ? " (unless they use the nsfdsuds wrapper runtime)" : "");
          nsfd_doctor_fix (c, "make CRI-O and Podman run crun, or use the wrapper: a CRI-O runtime with "
                              "runtime_path nsfdsuds-runtime (docs/install.md, CRI-O)");
        }
  if (d->hooksd_registered)
    snprintf (ways + strlen (ways), sizeof (ways) - strlen (ways), "%shook mode in hooks.d (CRI-O, Podman)",
              ways[0] ? "; " : "");
  if (d->crio_wrapper)
    snprintf (ways + strlen (ways), sizeof (ways) - strlen (ways), "%swrapper runtime in CRI-O", ways[0] ? "; " : "");
  if (d->containerd_ours)
    snprintf (ways + strlen (ways), sizeof (ways) - strlen (ways), "%s%zu containerd handler%s", ways[0] ? "; " : "",
              d->containerd_ours, d->containerd_ours == 1 ? "" : "s");
  if (ways[0])
    nsfd_doctor_add (d, "engine.registered", NULL, NSFD_DOCTOR_OK, "%s", ways);
  else
    {
      c = nsfd_doctor_add (d, "engine.registered", NULL, NSFD_DOCTOR_WARN,
                           "nsfdsuds is registered with no engine (no valid hooks.d file, no containerd handler, "
                           "no CRI-O runtime)");
      nsfd_doctor_fix (c, "register it for the engine this node runs: docs/install.md, section 2");
    }
}
