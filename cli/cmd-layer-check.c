/* nsfdsuds layer check LAYER [--repair] [--json]: verifies a layer's
 * structure and metadata; --repair fixes only what is safe.  Exit 0 clean,
 * 1 problems, 2 could not check. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "layer-check.h"
#include "layer-tools.h"
#include "safepath.h"

#define MAX_REPAIRS 4

static void
usage (FILE *out)
{
  fprintf (out, "Usage: nsfdsuds layer check LAYER [--name NAME] [--repair] [--json]\n\n"
                "Verifies, without changing anything: a known format and a valid layer.json, upper/ and\n"
                "work/ present with the right owner and mode, work/ empty, no userxattr-form\n"
                "(user.overlay.*), redirect or metacopy xattrs, well-formed whiteouts, a readable\n"
                "holder record.  Exit 0 clean, 1 problems found, 2 could not check.\n"
                "--repair fixes only what is safe (empties a leftover work directory, drops a stale\n"
                "holder record), says what it did, and refuses while the layer is in use.\n");
}

/* Removes everything below work/ (the kernel makes work/work again). */
static int
empty_work (int dir_fd, nsfd_error_t *err)
{
  cleanup_close int fd = openat (dir_fd, NSFD_LAYER_WORK, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int dfd = fd >= 0 ? fcntl (fd, F_DUPFD_CLOEXEC, 3) : -1;
  cleanup_dir DIR *d = dfd >= 0 ? fdopendir (dfd) : NULL;
  struct dirent *de;

  if (d == NULL)
    return nsfd_make_error (err, errno, "opening work/");
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0
        && nsfd_rm_rf_at (fd, de->d_name, err) < 0)
      return -1;
  return 0;
}

static int
drop_holder (int dir_fd, nsfd_error_t *err)
{
  struct stat st;
  if (fstatat (dir_fd, NSFD_LAYER_HOLDER, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG (st.st_mode))
    return nsfd_make_error (err, EINVAL, "%s is not a regular file; left alone", NSFD_LAYER_HOLDER);
  if (unlinkat (dir_fd, NSFD_LAYER_HOLDER, 0) < 0)
    return nsfd_make_error (err, errno, "removing %s", NSFD_LAYER_HOLDER);
  return 0;
}

/* Under the layer's lock (the one a starting container takes), and only
 * after reading the holder again: a container may have started since. */
static int
repair (struct lt_layer *l, struct lc_report *r, const char *done[MAX_REPAIRS], size_t *ndone, nsfd_error_t *err)
{
  if (flock (l->dir_fd, LOCK_EX | LOCK_NB) < 0)
    return nsfd_make_error (err, EBUSY, "the layer is locked (a container is starting on it); not repairing");
  l->holder_state = nsfd_layer_read_holder (l->dir_fd, &l->holder, NULL);
  l->live = l->holder_state == 1 && nsfd_holder_alive (&l->holder);
  if (l->live)
    return nsfd_make_error (err, EBUSY, "the layer is in use by container \"%s\"; not repairing", l->holder.container);
  if (r->work_dirty)
    {
      if (empty_work (l->dir_fd, err) < 0)
        return nsfd_error_wrap (err, "emptying work/");
      done[(*ndone)++] = "emptied the leftover work directory";
      lc_drop (r, "work-not-empty");
    }
  if (r->holder_stale && l->holder_state != 0)
    {
      if (drop_holder (l->dir_fd, err) < 0)
        return -1;
      done[(*ndone)++] = "removed the stale holder record";
      lc_drop (r, "stale-holder");
      lc_drop (r, "holder-unreadable");
    }
  return 0;
}

static void
print_report (const struct lt_opts *o, const struct lt_layer *l, const struct lc_report *r, const char **done,
              size_t ndone)
{
  if (!o->json)
    {
      for (size_t i = 0; i < ndone; i++)
        printf ("repaired: %s\n", done[i]);
      for (size_t i = 0; i < r->n; i++)
        printf ("problem %s: %s%s\n", r->v[i].code, r->v[i].message, r->v[i].repairable ? " [--repair fixes it]" : "");
      if (r->hidden)
        printf ("(and %zu more problems of the same kinds)\n", r->hidden);
      printf ("%s: %s\n", l->arg.layer_path, r->n + r->hidden ? "problems found" : "clean");
      return;
    }
  fputs ("{\"layer\":", stdout);
  lt_json_string (stdout, l->arg.layer_path);
  printf (",\"inUse\":%s,\"problems\":[", l->live ? "true" : "false");
  for (size_t i = 0; i < r->n; i++)
    {
      printf ("%s{\"code\":\"%s\",\"path\":", i ? "," : "", r->v[i].code);
      lt_json_string (stdout, r->v[i].path);
      fputs (",\"message\":", stdout);
      lt_json_string (stdout, r->v[i].message);
      printf (",\"repairable\":%s}", r->v[i].repairable ? "true" : "false");
    }
  printf ("],\"moreProblems\":%zu,\"repaired\":[", r->hidden);
  for (size_t i = 0; i < ndone; i++)
    printf ("%s\"%s\"", i ? "," : "", done[i]);
  printf ("],\"clean\":%s}\n", r->n + r->hidden ? "false" : "true");
}

static int
run (const struct lt_opts *o, nsfd_error_t *err)
{
  cleanup_lt_layer struct lt_layer l;
  struct lc_report r = { 0 };
  const char *done[MAX_REPAIRS];
  size_t ndone = 0;
  int ret;

  if (lt_layer_open (o, false, &l, err) < 0)
    return NSFD_EXIT_USAGE;
  lt_note_in_use ("check", &l);
  if (lc_check (&l, &r, err) < 0)
    {
      lc_report_free (&r);
      return NSFD_EXIT_USAGE;
    }
  ret = 0;
  if (o->repair && l.live)
    ret = nsfd_make_error (err, EBUSY, "the layer is in use by container \"%s\"; not repairing anything",
                           l.holder.container);
  else if (o->repair && (r.work_dirty || r.holder_stale) && repair (&l, &r, done, &ndone, err) < 0)
    ret = -1;
  print_report (o, &l, &r, done, ndone);
  if (ret < 0)
    fprintf (stderr, "nsfdsuds layer check: --repair: %s\n", nsfd_error_text (*err));
  ret = ret < 0 || r.n + r.hidden ? NSFD_EXIT_FAIL : NSFD_EXIT_OK;
  lc_report_free (&r);
  return ret;
}

int
nsfd_cmd_layer_check (int argc, char **argv)
{
  cleanup_error nsfd_error_t err = NULL;
  struct lt_opts o;
  int r;

  if (lt_parse ("check", argc, argv, LT_OPT_REPAIR | LT_OPT_JSON, &o) < 0)
    return NSFD_EXIT_USAGE;
  if (o.help)
    return usage (stdout), NSFD_EXIT_OK;
  r = run (&o, &err);
  if (r == NSFD_EXIT_USAGE)
    fprintf (stderr, "nsfdsuds layer check: could not check: %s\n", nsfd_error_text (err));
  return r;
}
