/* nsfdsuds layer diff LAYER [--lower DIR] [--json] [--quiet]: every change
 * the layer makes to its lower, one line (or JSON object) per path. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "layer-diff.h"
#include "layer-tools.h"

struct diff
{
  const struct lt_opts *o;
  bool have_lower;
  int *lower;              /* lower directory fd per depth (-1: none there) */
  size_t lower_cap;
  struct nsfd_xattrs x, y;
  uint64_t count[LD_PRESENT + 1];
  bool first;
  struct lt_progress prog;
};

static void
usage (FILE *out)
{
  fprintf (out, "Usage: nsfdsuds layer diff LAYER [--name NAME] [--lower DIR] [--json] [--quiet]\n\n"
                "Lists every change the layer makes relative to the lower DIR (the image's rootfs):\n"
                "  A added   M modified (content, type, link target, device)   m metadata only\n"
                "  (mode, owner, xattrs, mtime)   D deleted (whiteout)   O opaque directory\n"
                "Without --lower it lists the upper's entries (P) and cannot tell added from\n"
                "modified.  --json: one object per path (schema in docs/layers.md).\n");
}

static const char letters[] = { ' ', 'A', 'M', 'm', 'D', 'O', 'P' };

static void
print_details (FILE *out, unsigned d, bool json)
{
  bool first = true;
  fputs (json ? "[" : "", out);
  for (unsigned i = 0; ld_detail_name (i); i++)
    if (d & (1u << i))
      {
        fprintf (out, json ? "%s\"%s\"" : "%s%s", first ? "" : ",", ld_detail_name (i));
        first = false;
      }
  fputs (json ? "]" : "", out);
}

static void
print_change (struct diff *df, const struct nsfd_scan_entry *e, const struct ld_change *c)
{
  char buf[8192];
  /* A whiteout stands for what it deleted: the lower's type when known. */
  const char *type = e->type == NSFD_FT_WHITEOUT ? (c->lower_exists ? nsfd_scan_type_name (c->lower_type) : NULL)
                                                 : nsfd_scan_type_name (e->type);
  if (df->o->json)
    {
      printf ("%s\n  {\"path\":", df->first ? "" : ",");
      fputs ("\"/", stdout);
      lt_json_chars (stdout, e->path);
      printf ("\",\"change\":\"%s\",\"type\":%s%s%s", ld_kind_name (c->kind), type ? "\"" : "", type ? type : "null",
              type ? "\"" : "");
      if (c->details)
        fputs (",\"details\":", stdout), print_details (stdout, c->details, true);
      fputs ("}", stdout);
      df->first = false;
      return;
    }
  printf ("%c %-8s /%s%s", letters[c->kind], type ? type : "-", lt_human (e->path, buf, sizeof (buf)),
          e->type == NSFD_FT_DIR ? "/" : "");
  if (c->details)
    fputs ("  (", stdout), print_details (stdout, c->details, false), fputs (")", stdout);
  fputc ('\n', stdout);
}

static int
set_lower (struct diff *df, unsigned depth, int fd)
{
  if (depth >= df->lower_cap)
    {
      size_t ncap = (depth + 1) * 2;
      int *n = realloc (df->lower, ncap * sizeof (int));
      if (n == NULL)
        return -1;
      for (size_t i = df->lower_cap; i < ncap; i++)
        n[i] = -1;
      df->lower = n;
      df->lower_cap = ncap;
    }
  nsfd_closep (&df->lower[depth]);
  df->lower[depth] = fd;
  return 0;
}

static int
enter_cb (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err)
{
  struct diff *df = data;
  int parent = df->have_lower ? df->lower[e->depth - 1] : -1;
  struct ld_change c;

  lt_progress_tick (&df->prog, 1, e->type == NSFD_FT_FILE ? (uint64_t) e->st.st_size : 0);
  if (ld_compare (e, parent, df->have_lower, &df->x, &df->y, &c, err) < 0)
    return -1;
  df->count[c.kind]++;
  if (c.kind != LD_UNCHANGED)
    print_change (df, e, &c);
  if (e->type == NSFD_FT_DIR && df->have_lower)
    {
      /* Below an opaque or new directory the lower has nothing to offer. */
      int fd = -1;
      if (parent >= 0 && !e->opaque && c.lower_exists && c.lower_type == NSFD_FT_DIR)
        fd = openat (parent, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (set_lower (df, e->depth, fd) < 0)
        return nsfd_make_error (err, ENOMEM, "diff");
    }
  return 0;
}

static int
leave_cb (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err)
{
  struct diff *df = data;
  (void) err;
  if (df->have_lower && e->depth < df->lower_cap)
    nsfd_closep (&df->lower[e->depth]);
  return 0;
}

static void
summary (struct diff *df, const struct lt_layer *l)
{
  static const enum ld_kind kinds[] = { LD_ADDED, LD_MODIFIED, LD_METADATA, LD_DELETED, LD_OPAQUE, LD_PRESENT };
  if (df->o->json)
    {
      printf ("\n ],\n \"summary\":{");
      for (size_t i = 0; i < NSFD_ARRAY_SIZE (kinds); i++)
        printf ("%s\"%s\":%" PRIu64, i ? "," : "", ld_kind_name (kinds[i]), df->count[kinds[i]]);
      printf ("},\n \"inUse\":%s\n}\n", l->live ? "true" : "false");
      return;
    }
  if (df->o->quiet)
    return;
  fprintf (stderr, "%" PRIu64 " added, %" PRIu64 " modified, %" PRIu64 " metadata only, %" PRIu64 " deleted, %" PRIu64
           " opaque%s", df->count[LD_ADDED], df->count[LD_MODIFIED], df->count[LD_METADATA], df->count[LD_DELETED],
           df->count[LD_OPAQUE], df->have_lower ? "\n" : "");
  if (!df->have_lower)
    fprintf (stderr, ", %" PRIu64 " present (added or modified: no --lower to tell)\n", df->count[LD_PRESENT]);
}

static void
header (struct diff *df, const struct lt_layer *l)
{
  if (df->o->json)
    {
      fputs ("{\n \"layer\":", stdout);
      lt_json_string (stdout, l->arg.layer_path);
      fputs (",\n \"lower\":", stdout);
      if (df->o->lower)
        lt_json_string (stdout, df->o->lower);
      else
        fputs ("null", stdout);
      printf (",\n \"comparedWithLower\":%s,\n \"changes\":[", df->have_lower ? "true" : "false");
    }
  else if (!df->have_lower)
    fprintf (stderr, "nsfdsuds layer diff: no --lower given: listing the upper's entries; "
                     "added and modified cannot be told apart\n");
}

static int
run (const struct lt_opts *o, nsfd_error_t *err)
{
  cleanup_lt_layer struct lt_layer l;
  struct diff df = { .o = o, .first = true };
  struct nsfd_scan_ops ops = { .enter = enter_cb, .leave = leave_cb, .data = &df };
  int r;

  if (lt_layer_open (o, true, &l, err) < 0)
    return -1;
  lt_note_in_use ("diff", &l);
  df.have_lower = l.lower_fd >= 0;
  if (df.have_lower && set_lower (&df, 0, fcntl (l.lower_fd, F_DUPFD_CLOEXEC, 3)) < 0)
    return nsfd_make_error (err, ENOMEM, "diff");
  lt_progress_init (&df.prog, "diff", o->quiet || !o->json);
  header (&df, &l);
  r = nsfd_scan (l.upper_fd, &ops, err);
  lt_progress_done (&df.prog);
  if (r == 0)
    summary (&df, &l);
  for (size_t i = 0; i < df.lower_cap; i++)
    nsfd_closep (&df.lower[i]);
  free (df.lower);
  nsfd_xattrs_free (&df.x);
  nsfd_xattrs_free (&df.y);
  return r;
}

int
nsfd_cmd_layer_diff (int argc, char **argv)
{
  cleanup_error nsfd_error_t err = NULL;
  struct lt_opts o;

  if (lt_parse ("diff", argc, argv, LT_OPT_LOWER | LT_OPT_JSON | LT_OPT_QUIET, &o) < 0)
    return NSFD_EXIT_USAGE;
  if (o.help)
    return usage (stdout), NSFD_EXIT_OK;
  if (run (&o, &err) < 0)
    {
      fflush (stdout);
      fprintf (stderr, "nsfdsuds layer diff: %s\n", nsfd_error_text (err));
      return NSFD_EXIT_FAIL;
    }
  return NSFD_EXIT_OK;
}
