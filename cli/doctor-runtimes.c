/* Runtimes: every runc/crun this node could use (--runtime, or the config's
 * runtimePath, the engines' configs and PATH), its version, and from the
 * probe container (doctor-probe.c) whether hook mode works with it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "doctor.h"

#define VERSION_TIMEOUT_MS 3000

static bool
is_wrapper (const char *path)
{
  const char *b = strrchr (path, '/');
  return strcmp (b ? b + 1 : path, "nsfdsuds-runtime") == 0;
}

static void
add_runtime (struct nsfd_doctor *d, const char *path, const char *from)
{
  struct stat st;
  struct nsfd_doctor_runtime *r;

  if (path == NULL || path[0] != '/' || is_wrapper (path) || stat (path, &st) < 0 || !S_ISREG (st.st_mode))
    return;
  for (size_t i = 0; i < d->n_runtimes; i++)
    if (d->runtimes[i].dev == st.st_dev && d->runtimes[i].ino == st.st_ino)
      return; /* a symlink or hard link to one we have */
  if (d->n_runtimes >= NSFD_DOCTOR_MAX_LIST)
    return;
  r = &d->runtimes[d->n_runtimes++];
  memset (r, 0, sizeof (*r));
  snprintf (r->path, sizeof (r->path), "%s", path);
  snprintf (r->from, sizeof (r->from), "%s", from);
  r->dev = st.st_dev;
  r->ino = st.st_ino;
}

/* PATH plus the usual system directories (root's PATH may lack sbin). */
static void
add_from_path (struct nsfd_doctor *d, const char *name)
{
  static const char *const sys_dirs[] = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
  const char *env = getenv ("PATH");
  char dirs[8192], path[4200];
  snprintf (dirs, sizeof (dirs), "%s", env ? env : "");
  for (char *save = NULL, *dir = strtok_r (dirs, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      snprintf (path, sizeof (path), "%s/%s", dir, name);
      if (access (path, X_OK) == 0)
        add_runtime (d, path, "PATH");
    }
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (sys_dirs); i++)
    {
      snprintf (path, sizeof (path), "%s/%s", sys_dirs[i], name);
      if (access (path, X_OK) == 0)
        add_runtime (d, path, "PATH");
    }
}

static void
discover (struct nsfd_doctor *d)
{
  if (d->n_runtime_opts)
    {
      for (size_t i = 0; i < d->n_runtime_opts; i++)
        add_runtime (d, d->runtime_opts[i], "--runtime");
      return;
    }
  add_runtime (d, d->cfg.runtime_path, "config");
  for (size_t i = 0; i < d->n_handlers; i++)
    add_runtime (d, d->handlers[i].binary, "containerd");
  for (size_t i = 0; i < d->n_crio_runtimes; i++)
    add_runtime (d, d->crio_runtimes[i], "CRI-O");
  add_from_path (d, "runc");
  add_from_path (d, "crun");
}

/* "runc version 1.1.5+ds1" / "crun version 1.8.1": name and version. */
static void
parse_version (struct nsfd_doctor_runtime *r, const char *line)
{
  char name[16] = "", version[64] = "";
  const char *b = strrchr (r->path, '/');
  if (sscanf (line, "%15s version %63s", name, version) == 2)
    {
      snprintf (r->name, sizeof (r->name), "%s", name);
      snprintf (r->version, sizeof (r->version), "%s", version);
      return;
    }
  snprintf (r->name, sizeof (r->name), "%s", b ? b + 1 : r->path);
  snprintf (r->version, sizeof (r->version), "%s", "unknown");
}

static void
versions (struct nsfd_doctor *d, const char *tmp)
{
  pid_t pids[NSFD_DOCTOR_MAX_LIST];
  int status[NSFD_DOCTOR_MAX_LIST];
  char out[NSFD_DOCTOR_MAX_LIST][4200];

  for (size_t i = 0; i < d->n_runtimes; i++)
    {
      char *argv[] = { d->runtimes[i].path, "--version", NULL };
      snprintf (out[i], sizeof (out[i]), "%s/version-%zu", tmp, i);
      pids[i] = nsfd_doctor_spawn (argv, out[i], NULL);
      status[i] = -1;
    }
  (void) nsfd_doctor_wait (pids, status, d->n_runtimes, nsfd_now_ms () + VERSION_TIMEOUT_MS, true);
  for (size_t i = 0; i < d->n_runtimes; i++)
    {
      char line[256];
      struct nsfd_doctor_runtime *r = &d->runtimes[i];
      if (pids[i] > 0)
        nsfd_doctor_kill (pids[i]);
      nsfd_doctor_file_line (out[i], false, line, sizeof (line));
      (void) unlink (out[i]);
      parse_version (r, line);
      if (pids[i] > 0 || !WIFEXITED (status[i]) || WEXITSTATUS (status[i]) != 0)
        {
          /* Through a local: gcc -O0 -Wrestrict takes two members of *d for one object. */
          char reason[sizeof (r->reason)];
          snprintf (reason, sizeof (reason), "`%s --version` %s", r->path,
                    pids[i] > 0 ? "did not answer in time" : "failed");
          memcpy (r->reason, reason, sizeof (reason));
        }
      else
        r->usable = true;
    }
}

const char *
nsfd_doctor_runtime_label (const struct nsfd_doctor_runtime *r, char *buf, size_t cap)
{
  snprintf (buf, cap, "%s %s", r->name, r->version);
  return buf;
}

const struct nsfd_doctor_runtime *
nsfd_doctor_find_runtime (const struct nsfd_doctor *d, const char *path)
{
  struct stat st;
  if (path == NULL || stat (path, &st) < 0)
    return NULL;
  for (size_t i = 0; i < d->n_runtimes; i++)
    if (d->runtimes[i].dev == st.st_dev && d->runtimes[i].ino == st.st_ino)
      return &d->runtimes[i];
  return NULL;
}

static void
report (struct nsfd_doctor *d, const struct nsfd_doctor_runtime *r)
{
  struct nsfd_doctor_check *c;
  char label[96];

  nsfd_doctor_runtime_label (r, label, sizeof (label));
  if (!r->usable)
    {
      c = nsfd_doctor_add (d, "runtime", r->path, NSFD_DOCTOR_FAIL, "%s (from %s): %s", r->path, r->from, r->reason);
      nsfd_doctor_fix (c, "reinstall it, or point runtimePath (or the engine's runtime) at a working runc or crun");
    }
  else if (r->pivot == NSFD_PIVOT_PATH)
    nsfd_doctor_add (d, "runtime", r->path, NSFD_DOCTOR_OK,
                     "%s (%s, from %s): pivots into the rootfs path: hook mode works", label, r->path, r->from);
  else if (r->pivot == NSFD_PIVOT_PREOPENED)
    {
      c = nsfd_doctor_add (d, "runtime", r->path, NSFD_DOCTOR_WARN,
                           "%s (%s, from %s): pivots into a root it opened before the hooks ran: "
                           "hook mode cannot work, use the wrapper",
                           label, r->path, r->from);
      nsfd_doctor_fix (c, "register nsfdsuds-runtime as the engine's runtime binary with \"runtimePath\": \"%s\" "
                          "in the nsfdsuds config (docs/install.md); hook mode refuses containers on this runtime",
                       r->path);
    }
  else
    {
      c = nsfd_doctor_add (d, "runtime", r->path, NSFD_DOCTOR_WARN, "%s (%s, from %s): cannot tell how it pivots: %s",
                           label, r->path, r->from, r->reason);
      nsfd_doctor_fix (c, "run a container with it by hand to see why it fails here; until then use the wrapper "
                          "with a runtime doctor reports as working");
    }
}

void
nsfd_doctor_runtimes (struct nsfd_doctor *d)
{
  char stale[4400], tmp[4200];
  struct nsfd_doctor_check *c;

  if (nsfd_doctor_probe_clean_stale (d->probe_dir, stale, sizeof (stale)) < 0)
    {
      c = nsfd_doctor_add (d, "runtime.leftovers", d->probe_dir, NSFD_DOCTOR_FAIL, "%s", stale);
      nsfd_doctor_fix (c, "the probe directory must be a directory of root's that only root can write");
    }
  else if (stale[0])
    nsfd_doctor_add (d, "runtime.leftovers", d->probe_dir, NSFD_DOCTOR_OK, "%s", stale);
  discover (d);
  if (d->n_runtimes == 0)
    {
      c = nsfd_doctor_add (d, "runtime", NULL, NSFD_DOCTOR_FAIL,
                           "no runc or crun found (runtimePath \"%s\", the engines' configs, PATH)",
                           d->cfg.runtime_path ? d->cfg.runtime_path : "");
      nsfd_doctor_fix (c, "install runc or crun, or set runtimePath in the nsfdsuds config");
      return;
    }
  snprintf (tmp, sizeof (tmp), "%s", getenv ("TMPDIR") && getenv ("TMPDIR")[0] == '/' ? getenv ("TMPDIR") : "/tmp");
  {
    char dir[4200];
    snprintf (dir, sizeof (dir), "%s/nsfdsuds-doctor-%d-XXXXXX", tmp, (int) getpid ());
    if (mkdtemp (dir) == NULL)
      snprintf (dir, sizeof (dir), "/dev/null");
    versions (d, dir);
    (void) rmdir (dir);
  }
  if (geteuid () != 0)
    for (size_t i = 0; i < d->n_runtimes; i++)
      snprintf (d->runtimes[i].reason, sizeof (d->runtimes[i].reason), "the probe needs root");
  else if (!nsfd_doctor_signal)
    nsfd_doctor_probe_runtimes (d);
  for (size_t i = 0; i < d->n_runtimes; i++)
    report (d, &d->runtimes[i]);
}
