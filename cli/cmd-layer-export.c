/* nsfdsuds layer export LAYER [-o FILE|-] [--gzip] [--json] [--quiet]:
 * the upper as an OCI image-spec layer tarball (docs/layers.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "layer-export.h"
#include "layer-tools.h"

static void
usage (FILE *out)
{
  fprintf (out, "Usage: nsfdsuds layer export LAYER [--name NAME] [-o FILE|-] [--gzip] [--json] [--quiet]\n\n"
                "Writes the layer's changes as an OCI image-spec layer tarball: deletions as .wh.NAME,\n"
                "opaque directories as DIR/.wh..wh..opq, hard links, numeric owners, modes, mtimes,\n"
                "devices, fifos, symlinks and xattrs (never trusted.overlay.*), in a fixed order, so an\n"
                "unchanged layer always exports to the same bytes.  Prints the diff ID (sha256 of the\n"
                "uncompressed tar) and the digest of the file written (on stderr when the tar goes to\n"
                "stdout).  -o - or no -o: stdout (never a terminal).  Progress on a terminal unless --quiet.\n");
}

/* FILE is written as FILE.partial-PID and renamed into place at the end;
 * an existing FILE that is not a regular file (a device such as /dev/null,
 * a fifo) is written to as it is, never replaced. */
static int
open_output (const char *path, char **tmp, nsfd_error_t *err)
{
  struct stat st;
  int fd;
  if (path == NULL || strcmp (path, "-") == 0)
    {
      if (isatty (STDOUT_FILENO))
        return nsfd_make_error (err, EINVAL, "not writing a tar to a terminal (use -o FILE or a pipe)");
      return STDOUT_FILENO;
    }
  if (stat (path, &st) == 0 && !S_ISREG (st.st_mode))
    {
      fd = open (path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
      if (fd < 0)
        return nsfd_make_error (err, errno, "opening \"%s\"", path);
      if (isatty (fd))
        {
          close (fd);
          return nsfd_make_error (err, EINVAL, "not writing a tar to the terminal \"%s\"", path);
        }
      return fd;
    }
  if (asprintf (tmp, "%s.partial-%d", path, (int) getpid ()) < 0)
    return nsfd_make_error (err, ENOMEM, "output name");
  fd = open (*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return nsfd_make_error (err, errno, "creating \"%s\"", *tmp);
  return fd;
}

static void
report (const struct lt_opts *o, const struct lx_result *r, FILE *out)
{
  const char *media = o->gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar";
  if (o->json)
    {
      fprintf (out, "{\"diffId\":\"%s\",\"digest\":\"%s\",\"size\":%" PRIu64 ",\"tarSize\":%" PRIu64
               ",\"mediaType\":\"%s\",\"entries\":%" PRIu64 ",\"socketsSkipped\":%" PRIu64 "}\n",
               r->diff_id, r->digest, r->out_bytes, r->tar_bytes, media, r->entries, r->sockets_skipped);
      return;
    }
  fprintf (out, "diffID    %s\ndigest    %s\nsize      %" PRIu64 "\nmediaType %s\nentries   %" PRIu64 "\n",
           r->diff_id, r->digest, r->out_bytes, media, r->entries);
  if (r->sockets_skipped)
    fprintf (out, "skipped   %" PRIu64 " sockets (a tar cannot hold them)\n", r->sockets_skipped);
}

static int
run (const struct lt_opts *o, nsfd_error_t *err)
{
  cleanup_lt_layer struct lt_layer l;
  cleanup_free char *tmp = NULL;
  struct lx_result res;
  struct lt_progress prog;
  struct stat st = { 0 };
  int fd, r;

  if (lt_layer_open (o, true, &l, err) < 0)
    return -1;
  lt_note_in_use ("export", &l);
  fd = open_output (o->output, &tmp, err);
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    st.st_ino = 0;
  lt_progress_init (&prog, "export", o->quiet);
  char out_name[4200];
  if (fd == STDOUT_FILENO)
    snprintf (out_name, sizeof (out_name), "standard output");
  else
    snprintf (out_name, sizeof (out_name), "\"%s\"", o->output);
  r = lx_export (l.upper_fd, fd, out_name, o->gzip, st.st_dev, st.st_ino, &prog, &res, err);
  lt_progress_done (&prog);
  /* Renamed, not fsynced (like tar): a failed export never leaves a file
   * under the final name; `sync` makes it durable when that matters. */
  if (r == 0 && tmp && rename (tmp, o->output) < 0)
    r = nsfd_make_error (err, errno, "writing \"%s\"", o->output);
  if (fd != STDOUT_FILENO)
    close (fd);
  if (r < 0)
    {
      if (tmp)
        (void) unlink (tmp);
      return -1;
    }
  report (o, &res, fd == STDOUT_FILENO ? stderr : stdout);
  return 0;
}

int
nsfd_cmd_layer_export (int argc, char **argv)
{
  cleanup_error nsfd_error_t err = NULL;
  struct lt_opts o;

  if (lt_parse ("export", argc, argv, LT_OPT_OUTPUT | LT_OPT_GZIP | LT_OPT_JSON | LT_OPT_QUIET, &o) < 0)
    return NSFD_EXIT_USAGE;
  if (o.help)
    return usage (stdout), NSFD_EXIT_OK;
  if (run (&o, &err) < 0)
    {
      fprintf (stderr, "nsfdsuds layer export: %s\n", nsfd_error_text (err));
      return NSFD_EXIT_FAIL;
    }
  return NSFD_EXIT_OK;
}
