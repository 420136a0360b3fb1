/* nsfdsuds layer info LAYER [--lower DIR] [--json]: what a layer is, what
 * it holds and who uses it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint-record.h"
#include "cleanup.h"
#include "cli.h"
#include "layer-scan.h"
#include "layer.h"
#include "layer-tools.h"
#include "lowerid.h"

struct counts
{
  uint64_t files, dirs, symlinks, whiteouts, opaque, hardlinked, other, bytes_on_disk, bytes;
};

/* Where the layer is in its life, and the checkpoint taken of it, if any. */
struct state
{
  bool generation_ok;
  unsigned long long generation;   /* moved on by every new holder (layer-generation.c) */
  int mark;                        /* nsfd_checkpoint_mark_read: 1 present, 0 absent, -1 unreadable */
  bool mark_valid;
  unsigned long long mark_generation;
};

static bool
mark_current (const struct state *st)
{
  return st->mark == 1 && st->mark_valid && st->generation_ok && st->mark_generation == st->generation;
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: nsfdsuds layer info LAYER [--name NAME] [--lower DIR] [--json]\n\n"
                "Shows the layer's format, when and by what it was made, the fingerprint of the lower\n"
                "it last ran on (with --lower: whether DIR is that lower), its size on disk, counts\n"
                "of files, directories, whiteouts, opaque directories and hard-linked inodes, and\n"
                "the container holding it, if any, and whether that holder is live; its generation\n"
                "and the checkpoint mark, if a checkpoint was taken of it.\n");
}

static int
count_cb (const struct nsfd_scan_entry *e, void *data, nsfd_error_t *err)
{
  struct counts *c = data;
  (void) err;
  switch (e->type)
    {
    case NSFD_FT_FILE: c->files++; break;
    case NSFD_FT_DIR: c->dirs++; c->opaque += e->opaque; break;
    case NSFD_FT_SYMLINK: c->symlinks++; break;
    case NSFD_FT_WHITEOUT: c->whiteouts++; break;
    default: c->other++; break;
    }
  if (e->link_first)
    return 0; /* its blocks are counted once */
  if (e->type != NSFD_FT_DIR && e->type != NSFD_FT_WHITEOUT && e->st.st_nlink > 1)
    c->hardlinked++;
  c->bytes_on_disk += (uint64_t) e->st.st_blocks * 512;
  if (e->type == NSFD_FT_FILE)
    c->bytes += (uint64_t) e->st.st_size;
  return 0;
}

static const char *
holder_state (const struct lt_layer *l)
{
  return l->holder_state == 0 ? "none" : l->holder_state < 0 || l->holder_state == 2 ? "unreadable"
                                        : l->live                                     ? "live"
                                                                                      : "stale";
}

static void
print_json (const struct lt_layer *l, const struct lt_meta *m, const char *lower_now, const struct counts *c,
            const struct state *st)
{
  fputs ("{\"layer\":", stdout);
  lt_json_string (stdout, l->arg.layer_path);
  printf (",\"format\":%lld,\"xattrs\":", m->format);
  lt_json_string (stdout, m->xattrs);
  fputs (",\"createdAt\":", stdout), lt_json_string (stdout, m->created_at);
  fputs (",\"createdBy\":", stdout), lt_json_string (stdout, m->created_by);
  fputs (",\"lowerId\":", stdout);
  if (m->lower_id[0])
    lt_json_string (stdout, m->lower_id);
  else
    fputs ("null", stdout);
  if (lower_now)
    {
      fputs (",\"givenLowerId\":", stdout), lt_json_string (stdout, lower_now);
      printf (",\"lowerMatches\":%s",
              !m->lower_id[0] ? "null" : strcmp (lower_now, m->lower_id) == 0 ? "true" : "false");
    }
  printf (",\"sizeOnDisk\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"files\":%" PRIu64 ",\"dirs\":%" PRIu64
          ",\"symlinks\":%" PRIu64 ",\"whiteouts\":%" PRIu64 ",\"opaqueDirs\":%" PRIu64 ",\"hardLinkedInodes\":%" PRIu64
          ",\"other\":%" PRIu64,
          c->bytes_on_disk, c->bytes, c->files, c->dirs, c->symlinks, c->whiteouts, c->opaque, c->hardlinked, c->other);
  printf (",\"holder\":{\"state\":\"%s\"", holder_state (l));
  if (l->holder_state == 1)
    {
      fputs (",\"container\":", stdout), lt_json_string (stdout, l->holder.container);
      fputs (",\"mode\":", stdout), lt_json_string (stdout, l->holder.mode);
      fputs (",\"since\":", stdout), lt_json_string (stdout, l->holder.since);
      printf (",\"pid\":%lld", l->holder.pid);
    }
  printf ("},\"inUse\":%s", l->live ? "true" : "false");
  if (st->generation_ok)
    printf (",\"generation\":%llu", st->generation);
  else
    fputs (",\"generation\":null", stdout);
  if (st->mark == 1 && st->mark_valid)
    printf (",\"checkpointMark\":{\"generation\":%llu,\"current\":%s}}\n", st->mark_generation,
            mark_current (st) ? "true" : "false");
  else if (st->mark == 1)
    fputs (",\"checkpointMark\":{\"generation\":null,\"current\":false}}\n", stdout);
  else
    fputs (",\"checkpointMark\":null}\n", stdout);
}

static void
print_human (const struct lt_layer *l, const struct lt_meta *m, const char *lower_now, const struct counts *c,
             const struct state *st)
{
  char b[1200];
  printf ("layer       %s\n", lt_human (l->arg.layer_path, b, sizeof (b)));
  printf ("format      %lld (xattrs %s)%s\n", m->format, m->xattrs, m->known_format ? "" : "  UNKNOWN");
  printf ("created     %s by %s\n", m->created_at[0] ? m->created_at : "?", lt_human (m->created_by, b, sizeof (b)));
  printf ("lowerId     %s\n", m->lower_id[0] ? m->lower_id : "(none recorded yet)");
  if (lower_now && !m->lower_id[0])
    printf ("lower       %s (nothing recorded to compare with; the next start records it)\n", lower_now);
  else if (lower_now)
    printf ("lower       %s: %s%s\n", strcmp (lower_now, m->lower_id) == 0 ? "matches" : "DOES NOT MATCH", lower_now,
            strcmp (lower_now, m->lower_id) == 0 ? "" : " (a start on it needs nsfdsuds.io/accept-image-change)");
  printf ("size        %" PRIu64 " bytes on disk, %" PRIu64 " bytes of file data\n", c->bytes_on_disk, c->bytes);
  printf ("entries     %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64 " symlinks, %" PRIu64 " other\n",
          c->files, c->dirs, c->symlinks, c->other);
  printf ("whiteouts   %" PRIu64 "\nopaque dirs %" PRIu64 "\nhard-linked %" PRIu64 " inodes\n", c->whiteouts,
          c->opaque, c->hardlinked);
  if (l->holder_state == 1)
    printf ("holder      container \"%s\" (%s mode, pid %lld, since %s): %s\n",
            lt_human (l->holder.container, b, sizeof (b)), l->holder.mode, l->holder.pid, l->holder.since,
            l->live ? "live, the layer is in use" : "stale (its process is gone)");
  else
    printf ("holder      %s\n", l->holder_state == 0 ? "none" : "unreadable record (treated as stale)");
  if (st->generation_ok)
    printf ("generation  %llu (moved on each time a container starts on the layer)\n", st->generation);
  else
    printf ("generation  unreadable (see `nsfdsuds layer check`)\n");
  if (st->mark == 0)
    printf ("checkpoint  none taken\n");
  else if (st->mark < 0)
    printf ("checkpoint  mark unreadable\n");
  else if (!st->mark_valid)
    printf ("checkpoint  mark present, its value is not a generation\n");
  else if (mark_current (st))
    printf ("checkpoint  taken at generation %llu: the layer is as it was then, a restore of it matches\n",
            st->mark_generation);
  else
    printf ("checkpoint  taken at generation %llu; the layer has been used since: a restore of that checkpoint "
            "is refused\n", st->mark_generation);
}

static int
run (const struct lt_opts *o, nsfd_error_t *err)
{
  cleanup_lt_layer struct lt_layer l;
  struct counts c = { 0 };
  struct nsfd_scan_ops ops = { .enter = count_cb, .data = &c, .track_links = true };
  struct lt_meta m;
  struct state st = { 0 };
  char lower_now[NSFD_LOWERID_LEN + 1];

  if (lt_layer_open (o, true, &l, err) < 0)
    return -1;
  lt_read_meta (l.dir_fd, &m);
  if (!m.valid_json)
    return nsfd_make_error (err, EINVAL, "%s (see `nsfdsuds layer check`)", m.problem);
  if (l.lower_fd >= 0 && nsfd_lowerid_compute (l.lower_fd, lower_now, err) < 0)
    return nsfd_error_wrap (err, "fingerprint of \"%s\"", o->lower);
  if (nsfd_scan (l.upper_fd, &ops, err) < 0)
    return -1;
  st.generation_ok = nsfd_layer_generation_read (l.dir_fd, &st.generation, NULL) == 0;
  st.mark = nsfd_checkpoint_mark_read (l.dir_fd, &st.mark_generation, &st.mark_valid, NULL);
  if (o->json)
    print_json (&l, &m, l.lower_fd >= 0 ? lower_now : NULL, &c, &st);
  else
    print_human (&l, &m, l.lower_fd >= 0 ? lower_now : NULL, &c, &st);
  return 0;
}

int
nsfd_cmd_layer_info (int argc, char **argv)
{
  cleanup_error nsfd_error_t err = NULL;
  struct lt_opts o;

  if (lt_parse ("info", argc, argv, LT_OPT_LOWER | LT_OPT_JSON, &o) < 0)
    return NSFD_EXIT_USAGE;
  if (o.help)
    return usage (stdout), NSFD_EXIT_OK;
  if (run (&o, &err) < 0)
    {
      fprintf (stderr, "nsfdsuds layer info: %s\n", nsfd_error_text (err));
      return NSFD_EXIT_FAIL;
    }
  return NSFD_EXIT_OK;
}
