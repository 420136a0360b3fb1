/* Our config file: it loads (nsfd_config_load, the hook's own rules), it is
 * root's and not writable by group or others (nor is its directory), its
 * prefixes exist, and the wrapper's runtimePath runs.  When it does not load,
 * the other steps use the defaults and say so through this check. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "doctor.h"

void
nsfd_doctor_config_load (struct nsfd_doctor *d)
{
  nsfd_error_t err = NULL;
  memset (&d->cfg, 0, sizeof (d->cfg));
  d->cfg_error[0] = '\0';
  if (nsfd_config_load (d->config_path, d->config_explicit, &d->cfg, &err) == 0)
    {
      d->cfg_ok = true;
      return;
    }
  snprintf (d->cfg_error, sizeof (d->cfg_error), "%s", nsfd_error_text (err));
  nsfd_error_free (&err);
  nsfd_config_defaults (&d->cfg);
}

/* Owner and mode of the file and of its directory (lstat: a symlinked
 * config is followed by the hook, so its target is what counts: stat). */
static int
check_owner (const char *path, char *why, size_t cap)
{
  struct stat st;
  char dir[4096];
  if (stat (path, &st) < 0)
    return snprintf (why, cap, "%s: %s", path, strerror (errno)), -1;
  if (st.st_uid != 0)
    return snprintf (why, cap, "%s is owned by uid %u, not root", path, (unsigned) st.st_uid), -1;
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return snprintf (why, cap, "%s is writable by group or others (mode %04o)", path,
                     (unsigned) (st.st_mode & 07777)), -1;
  snprintf (dir, sizeof (dir), "%s", path);
  dirname (dir);
  if (stat (dir, &st) == 0 && (st.st_uid != 0 || (st.st_mode & S_IWOTH && !(st.st_mode & S_ISVTX))))
    return snprintf (why, cap, "its directory %s is %s", dir,
                     st.st_uid != 0 ? "not owned by root" : "writable by others"), -1;
  return 0;
}

static void
check_prefixes (struct nsfd_doctor *d)
{
  struct nsfd_doctor_check *c;
  char missing[2048] = "";
  size_t n_missing = 0, n = d->cfg.n_allowed_volume_prefixes;

  for (size_t i = 0; i < n; i++)
    {
      struct stat st;
      const char *p = d->cfg.allowed_volume_prefixes[i];
      if (stat (p, &st) == 0 && S_ISDIR (st.st_mode))
        continue;
      snprintf (missing + strlen (missing), sizeof (missing) - strlen (missing), "%s%s", n_missing ? ", " : "", p);
      n_missing++;
    }
  if (n_missing == 0)
    {
      nsfd_doctor_add (d, "config.prefixes", NULL, NSFD_DOCTOR_OK, "all %zu allowedVolumePrefixes exist", n);
      return;
    }
  c = nsfd_doctor_add (d, "config.prefixes", NULL, n_missing == n ? NSFD_DOCTOR_WARN : NSFD_DOCTOR_OK,
                       "%zu of %zu allowedVolumePrefixes missing: %s", n_missing, n, missing);
  if (n_missing == n)
    nsfd_doctor_fix (c, "no volume can be used: list the directories that hold this node's volumes "
                        "(Kubernetes: /var/lib/kubelet/pods; Podman: /var/lib/containers/storage/volumes)");
}

void
nsfd_doctor_config (struct nsfd_doctor *d)
{
  const char *path = d->config_path ? d->config_path : NSFD_DEFAULT_CONFIG;
  struct nsfd_doctor_check *c;
  char why[8400];
  struct stat st;

  if (!d->cfg_ok)
    {
      c = nsfd_doctor_add (d, "config", path, NSFD_DOCTOR_FAIL, "%s (doctor used the defaults)", d->cfg_error);
      if (strstr (d->cfg_error, "owned by") || strstr (d->cfg_error, "writable by"))
        nsfd_doctor_fix (c, "chown root:root %s && chmod 0644 %s", path, path);
      else
        nsfd_doctor_fix (c, "correct the file (docs/configuration.md); the hook and the wrapper refuse every "
                            "activated container until it loads");
      check_prefixes (d);
      return;
    }
  if (stat (path, &st) < 0 && errno == ENOENT)
    {
      c = nsfd_doctor_add (d, "config", path, NSFD_DOCTOR_WARN, "%s does not exist: the defaults are in use", path);
      nsfd_doctor_fix (c, "install config/config.json there and set allowedVolumePrefixes for this node");
    }
  else if (check_owner (path, why, sizeof (why)) < 0)
    {
      c = nsfd_doctor_add (d, "config", path, NSFD_DOCTOR_FAIL, "%s", why);
      nsfd_doctor_fix (c, "only root may be able to change the policy: chown root:root and chmod go-w the file and "
                          "its directory");
    }
  else
    nsfd_doctor_add (d, "config", path, NSFD_DOCTOR_OK, "%s loads; owned by root, not writable by others", path);
  check_prefixes (d);
  if (access (d->cfg.runtime_path, X_OK) < 0)
    {
      c = nsfd_doctor_add (d, "config.runtimePath", d->cfg.runtime_path, NSFD_DOCTOR_WARN,
                           "runtimePath %s: %s (the wrapper runs it)", d->cfg.runtime_path, strerror (errno));
      nsfd_doctor_fix (c, "set runtimePath to the real runc or crun (needed in wrapper mode only)");
    }
}
