/* The runtime directory (runDir): root's and not writable by others, and
 * what is left in it: records of containers whose process is gone, mounters
 * still waiting for a container that went (status-scan.c reads them). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "doctor.h"
#include "status.h"

#define MAX_REPORTED 10

static void
report_stale (struct nsfd_doctor *d, const char *run_dir, const struct nsfd_status_entry *e)
{
  struct nsfd_doctor_check *c
    = nsfd_doctor_add (d, "rundir.stale", e->id, NSFD_DOCTOR_WARN, "%s/%s (%s mode, layer %s): %s", run_dir, e->id,
                       e->mode, e->layer[0] ? e->layer : "-", e->problem);
  if (e->mounter_pid)
    nsfd_doctor_fix (c, "kill %d (the mounter waits for a container that is gone), then delete the container "
                        "with its runtime",
                     (int) e->mounter_pid);
  else
    nsfd_doctor_fix (c, "delete the container with its engine or runtime (runc delete %s); if no runtime knows it, "
                        "rm -r %s/%s",
                     e->id, run_dir, e->id);
}

void
nsfd_doctor_rundir (struct nsfd_doctor *d)
{
  const char *run_dir = d->cfg.run_dir;
  struct nsfd_doctor_check *c;
  struct nsfd_status s = { 0 };
  nsfd_error_t err = NULL;
  struct stat st;
  size_t stale = 0, alive = 0;

  if (lstat (run_dir, &st) < 0)
    {
      if (errno == ENOENT)
        nsfd_doctor_add (d, "rundir", run_dir, NSFD_DOCTOR_OK,
                         "%s does not exist yet (made by the first activated container)", run_dir);
      else
        {
          c = nsfd_doctor_add (d, "rundir", run_dir, NSFD_DOCTOR_FAIL, "%s: %s", run_dir, strerror (errno));
          nsfd_doctor_fix (c, "check runDir in the nsfdsuds config");
        }
      return;
    }
  if (!S_ISDIR (st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
    {
      c = nsfd_doctor_add (d, "rundir", run_dir, NSFD_DOCTOR_FAIL,
                           "%s is not a directory owned by root and closed to others (uid %u, mode %04o)", run_dir,
                           (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
      nsfd_doctor_fix (c, "the hook refuses it: remove it (it is recreated) or chown root %s && chmod 0711 %s",
                       run_dir, run_dir);
      return;
    }
  if (nsfd_status_scan (run_dir, d->cfg.mounter_lifetime_ms, &s, &err) < 0)
    {
      c = nsfd_doctor_add (d, "rundir", run_dir, NSFD_DOCTOR_FAIL, "%s", nsfd_error_text (err));
      nsfd_doctor_fix (c, "check the permissions of %s", run_dir);
      nsfd_error_free (&err);
      return;
    }
  for (size_t i = 0; i < s.n; i++)
    {
      if (s.entries[i].alive)
        alive++;
      else if (s.entries[i].stale && stale++ < MAX_REPORTED)
        report_stale (d, run_dir, &s.entries[i]);
    }
  nsfd_doctor_add (d, "rundir", run_dir, NSFD_DOCTOR_OK, "%s: %zu container%s on a persistent layer, %zu stale entr%s%s",
                   run_dir, alive, alive == 1 ? "" : "s", stale, stale == 1 ? "y" : "ies",
                   stale > MAX_REPORTED ? " (the first ones listed)" : "");
  nsfd_status_free (&s);
}
