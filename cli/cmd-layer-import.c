/* nsfdsuds layer import: a layer from an LXC container's delta (--from-lxc)
 * or from any overlay upper directory (--upper).  The work is in
 * lib/layer-import.c; this file parses, shows progress and reports. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "layer-arg.h"
#include "layer-import.h"
#include "layer.h"
#include "lxc-config.h"
#include "upper-inuse.h"

#define MAX_REPORTED 100

struct import_opts
{
  const char *from_lxc, *upper, *lower, *name, *layer;
  bool move, force, quiet;
  struct nsfd_idshift shifts[NSFD_IMPORT_MAX_SHIFTS];
  size_t n_shifts;
};

struct ui
{
  bool progress;
  struct timespec start, last;
  bool drawn;
  unsigned long long reported;
};

static volatile sig_atomic_t interrupted;

static void
usage (FILE *out)
{
  fprintf (out,
           "Usage: nsfdsuds layer import --from-lxc LXC_CONTAINER_DIR [OPTIONS] LAYER\n"
           "       nsfdsuds layer import --upper DIR [--lower DIR] [OPTIONS] LAYER\n\n"
           "Makes a layer from an existing overlay upper: an LXC container's delta (its\n"
           "config names the image and the delta) or any upper directory.  LAYER is a\n"
           "volume directory (the layer \"default\", or --name NAME) or <volume>/.nsfdsuds/NAME.\n\n"
           "  --from-lxc DIR      an LXC container directory (DIR/config: lxc.rootfs.path = overlay:LOWER:UPPER)\n"
           "  --upper DIR         an overlay upper directory\n"
           "  --lower DIR         the image under it: records lowerId, fills in redirect/metacopy entries\n"
           "  --name NAME         the layer's name in a volume directory (default \"default\")\n"
           "  --move              rename the upper into the layer instead of copying (same filesystem)\n"
           "  --force             replace an existing layer (never one a container is using)\n"
           "  --shift FROM:TO:COUNT  map owners FROM.. to TO.. (repeatable; e.g. 100000:0:65536)\n"
           "  --quiet             no progress, no summary\n"
           "  --help              this text\n\n"
           "Run it as root while the container is stopped.  See docs/layers.md.\n");
}

static int
parse (int argc, char **argv, struct import_opts *o)
{
  nsfd_error_t err = NULL;
  memset (o, 0, sizeof (*o));
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const char **slot = strcmp (a, "--from-lxc") == 0 ? &o->from_lxc
                          : strcmp (a, "--upper") == 0  ? &o->upper
                          : strcmp (a, "--lower") == 0  ? &o->lower
                          : strcmp (a, "--name") == 0   ? &o->name
                                                        : NULL;
      if (slot || strcmp (a, "--shift") == 0)
        {
          if (i + 1 >= argc)
            {
              fprintf (stderr, "nsfdsuds layer import: %s needs a value\n", a);
              return -1;
            }
          if (slot)
            *slot = argv[++i];
          else if (o->n_shifts == NSFD_IMPORT_MAX_SHIFTS)
            {
              fprintf (stderr, "nsfdsuds layer import: at most %d --shift\n", NSFD_IMPORT_MAX_SHIFTS);
              return -1;
            }
          else if (nsfd_idshift_parse (argv[++i], &o->shifts[o->n_shifts++], &err) < 0)
            {
              fprintf (stderr, "nsfdsuds layer import: %s\n", nsfd_error_text (err));
              nsfd_error_free (&err);
              return -1;
            }
        }
      else if (strcmp (a, "--move") == 0)
        o->move = true;
      else if (strcmp (a, "--force") == 0)
        o->force = true;
      else if (strcmp (a, "--quiet") == 0 || strcmp (a, "-q") == 0)
        o->quiet = true;
      else if (a[0] == '-' && a[1] != '\0')
        {
          fprintf (stderr, "nsfdsuds layer import: unknown option `%s`\n", a);
          return -1;
        }
      else if (o->layer == NULL)
        o->layer = a;
      else
        {
          fprintf (stderr, "nsfdsuds layer import: unexpected argument `%s`\n", a);
          return -1;
        }
    }
  if (!o->layer || (!o->from_lxc == !o->upper) || (o->from_lxc && o->lower))
    {
      fprintf (stderr, "nsfdsuds layer import: give LAYER and one of --from-lxc DIR or --upper DIR "
                       "(--lower goes with --upper; an LXC config names its lower)\n\n");
      usage (stderr);
      return -1;
    }
  return 0;
}

static double
seconds_since (const struct timespec *t)
{
  struct timespec now;
  clock_gettime (CLOCK_MONOTONIC, &now);
  return (double) (now.tv_sec - t->tv_sec) + (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}

static const char *
human (double bytes, char buf[32])
{
  const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  size_t i = 0;
  while (bytes >= 1024 && i + 1 < NSFD_ARRAY_SIZE (u))
    bytes /= 1024, i++;
  snprintf (buf, 32, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
  return buf;
}

static int
on_progress (void *ctx, const struct nsfd_import_stats *st)
{
  struct ui *ui = ctx;
  char b[32], r[32];
  double t;

  if (interrupted)
    return 1;
  if (!ui->progress || seconds_since (&ui->last) < 0.25)
    return 0;
  clock_gettime (CLOCK_MONOTONIC, &ui->last);
  t = seconds_since (&ui->start);
  fprintf (stderr, "\rimporting: %llu files, %llu directories, %s, %s/s\033[K", st->files, st->dirs,
           human ((double) st->bytes, b), human (t > 0 ? (double) st->bytes / t : 0, r));
  ui->drawn = true;
  return 0;
}

static void
on_report (void *ctx, const char *path, const char *what)
{
  struct ui *ui = ctx;
  char q[1024];
  if (ui->drawn)
    fprintf (stderr, "\r\033[K");
  ui->drawn = false;
  if (ui->reported++ < MAX_REPORTED)
    fprintf (stderr, "nsfdsuds layer import: cannot carry /%s: %s\n", nsfd_import_quote (path, q, sizeof (q)),
             what);
  else if (ui->reported == MAX_REPORTED + 1)
    fprintf (stderr, "nsfdsuds layer import: (more entries cannot be carried; only the first %d are listed)\n",
             MAX_REPORTED);
}

static void
on_signal (int sig)
{
  (void) sig;
  interrupted = 1;
}

/* LAYER as <volume>/.nsfdsuds/NAME for a layer that does not exist yet. */
static int
resolve_layer (const struct import_opts *o, struct nsfd_layer_arg *la, nsfd_error_t *err)
{
  char copy[PATH_MAX], *slash;
  nsfd_error_t first = NULL;

  if (nsfd_layer_arg_resolve (o->layer, o->name, la, &first) == 0)
    return 0;
  snprintf (copy, sizeof (copy), "%s", o->layer);
  while ((slash = strrchr (copy, '/')) && slash[1] == '\0' && slash != copy)
    *slash = '\0';
  slash = strrchr (copy, '/');
  if (slash && slash - copy >= (long) strlen (NSFD_LAYER_TOPDIR) && first->status == ENOENT
      && strncmp (slash - strlen (NSFD_LAYER_TOPDIR), NSFD_LAYER_TOPDIR, strlen (NSFD_LAYER_TOPDIR)) == 0
      && (o->name == NULL || strcmp (o->name, slash + 1) == 0))
    {
      char volume[PATH_MAX];
      snprintf (volume, sizeof (volume), "%.*s", (int) (slash - copy - (long) strlen (NSFD_LAYER_TOPDIR)), copy);
      nsfd_layer_arg_free (la);
      if (nsfd_layer_arg_resolve (volume[0] ? volume : ".", slash + 1, la, err) == 0)
        {
          nsfd_error_free (&first);
          return 0;
        }
    }
  nsfd_error_free (err);
  *err = first;
  return -1;
}

static bool
inside (const char *path, const char *dir)
{
  size_t n = strlen (dir);
  return strcmp (dir, "/") == 0 || (strncmp (path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0'));
}

struct sources
{
  char upper[PATH_MAX], lower[PATH_MAX];
  int upper_fd, parent_fd, lower_fd;
  char base[NAME_MAX + 1];
  struct nsfd_lxc_rootfs lxc;
};

static int
open_sources (const struct import_opts *o, const struct nsfd_layer_arg *la, struct sources *s, nsfd_error_t *err)
{
  const char *up = o->upper, *low = o->lower;
  char tmp[PATH_MAX];
  pid_t pid = 0;
  int in_use;

  if (o->from_lxc)
    {
      if (nsfd_lxc_read_container (o->from_lxc, &s->lxc, err) < 0)
        return -1;
      up = s->lxc.upper;
      low = s->lxc.lower;
    }
  if (realpath (up, s->upper) == NULL)
    return nsfd_make_error (err, errno, "the upper \"%s\"", up);
  if (low && realpath (low, s->lower) == NULL)
    return nsfd_make_error (err, errno, "the lower \"%s\"", low);
  if (inside (la->volume_path, s->upper) || inside (s->upper, la->layer_path))
    return nsfd_make_error (err, EINVAL, "the upper \"%s\" and the layer \"%s\" overlap", s->upper, la->layer_path);
  if ((in_use = nsfd_upper_in_use (s->upper, &pid, err)) != 0)
    return in_use < 0 ? -1
                      : nsfd_make_error (err, EBUSY,
                                         "\"%s\" is the upper of a mounted overlay (in the mount namespace of "
                                         "pid %d): stop that container first (lxc-stop)",
                                         s->upper, (int) pid);
  if ((s->upper_fd = open (s->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return nsfd_make_error (err, errno, "opening the upper \"%s\"", s->upper);
  if (low && (s->lower_fd = open (s->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return nsfd_make_error (err, errno, "opening the lower \"%s\"", s->lower);
  snprintf (tmp, sizeof (tmp), "%s", s->upper);
  snprintf (s->base, sizeof (s->base), "%s", basename (tmp));
  snprintf (tmp, sizeof (tmp), "%s", s->upper);
  if (o->move && (s->parent_fd = open (dirname (tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return nsfd_make_error (err, errno, "opening the directory holding the upper");
  return 0;
}

/* A deep tree keeps two directories open per level. */
static void
raise_fd_limit (void)
{
  struct rlimit rl;
  rlim_t want = 2 * NSFD_IMPORT_MAX_DEPTH + 256;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
    {
      rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
      (void) setrlimit (RLIMIT_NOFILE, &rl);
    }
}

static void
summary (const struct import_opts *o, const struct sources *s, const struct nsfd_layer_arg *la,
         const struct nsfd_import_result *res, double secs)
{
  const struct nsfd_import_stats *st = &res->stats;
  char b[32];

  if (o->quiet)
    return;
  printf ("imported %s into layer %s%s (%s in %.1f s)\n", s->upper, la->layer_path,
          res->replaced ? ", replacing the old one" : "", o->move ? "moved" : "copied", secs);
  printf ("  %llu files, %llu directories, %s, %llu hard links\n", st->files, st->dirs,
          human ((double) st->bytes, b), st->hardlinks);
  printf ("  converted: %llu whiteouts, %llu attributes to trusted.overlay.*; stripped %llu; "
          "materialised from the lower %llu\n",
          st->whiteouts, st->converted, st->stripped, st->materialised);
  if (res->lower_id[0])
    printf ("  lowerId %s (%s)\n", res->lower_id, s->lower);
  else
    printf ("  no lowerId recorded (no --lower): the first container start records its image's\n");
  for (size_t i = 0; o->from_lxc && o->n_shifts == 0 && i < s->lxc.n_idmaps; i++)
    if (s->lxc.idmaps[i].inner == 0)
      {
        printf ("  note: the LXC container maps %cid 0 to host %lu (lxc.idmap): its files are owned by host "
                "ids from %lu; add --shift %lu:0:%lu if the new container runs without that mapping\n",
                s->lxc.idmaps[i].kind, s->lxc.idmaps[i].outer, s->lxc.idmaps[i].outer,
                s->lxc.idmaps[i].outer, s->lxc.idmaps[i].count);
        break;
      }
}

static int
run (const struct import_opts *o, struct ui *ui)
{
  cleanup_error nsfd_error_t err = NULL;
  cleanup_layer_arg struct nsfd_layer_arg la = { 0 };
  cleanup_close int vfd = -1;
  struct sources s = { .upper_fd = -1, .parent_fd = -1, .lower_fd = -1 };
  struct nsfd_import_request req = { 0 };
  struct nsfd_import_result res;
  int r = -1;

  if (resolve_layer (o, &la, &err) < 0 || open_sources (o, &la, &s, &err) < 0)
    goto out;
  if ((vfd = open (la.volume_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    {
      nsfd_make_error (&err, errno, "opening the volume \"%s\"", la.volume_path);
      goto out;
    }
  req = (struct nsfd_import_request){ .src_fd = s.upper_fd, .src_parent_fd = s.parent_fd, .src_name = s.base,
                                      .volume_fd = vfd, .name = la.name, .move = o->move, .force = o->force,
                                      .opts = { .shifts = o->shifts, .n_shifts = o->n_shifts,
                                                .lower_fd = s.lower_fd, .report = on_report,
                                                .progress = on_progress, .ctx = ui } };
  r = nsfd_layer_import (&req, &res, &err);
  if (ui->drawn)
    fprintf (stderr, "\r\033[K");
  if (r == 0)
    summary (o, &s, &la, &res, seconds_since (&ui->start));
out:
  if (r < 0)
    fprintf (stderr, "nsfdsuds layer import: %s\n", nsfd_error_text (err));
  nsfd_closep (&s.upper_fd);
  nsfd_closep (&s.parent_fd);
  nsfd_closep (&s.lower_fd);
  nsfd_lxc_rootfs_free (&s.lxc);
  return r < 0 ? NSFD_EXIT_FAIL : NSFD_EXIT_OK;
}

int
nsfd_cmd_layer_import (int argc, char **argv)
{
  struct import_opts o;
  struct ui ui = { 0 };
  struct sigaction sa = { .sa_handler = on_signal };

  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
      {
        usage (stdout);
        return NSFD_EXIT_OK;
      }
  if (parse (argc, argv, &o) < 0)
    return NSFD_EXIT_USAGE;
  if (geteuid () != 0)
    {
      fprintf (stderr, "nsfdsuds layer import: must run as root (owners, trusted.overlay.* attributes and "
                       "device nodes are kept)\n");
      return NSFD_EXIT_FAIL;
    }
  raise_fd_limit ();
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  ui.progress = !o.quiet && isatty (STDERR_FILENO);
  clock_gettime (CLOCK_MONOTONIC, &ui.start);
  ui.last = ui.start;
  return run (&o, &ui);
}
