/* What `nsfdsuds layer info|diff|export|check` share: their options, opening
 * the layer read-only, its holder, progress on a terminal and JSON strings. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "error.h"
#include "layer-arg.h"
#include "layer.h"

/* Which options a command takes. */
enum
{
  LT_OPT_LOWER = 1 << 0,
  LT_OPT_JSON = 1 << 1,
  LT_OPT_QUIET = 1 << 2,
  LT_OPT_OUTPUT = 1 << 3,
  LT_OPT_GZIP = 1 << 4,
  LT_OPT_REPAIR = 1 << 5,
};

struct lt_opts
{
  const char *layer, *name, *lower, *output;
  bool json, quiet, gzip, repair, help;
};

/* Parses argv (argv[0] is the subcommand); prints the problem and returns
 * -1 on a usage error. */
int lt_parse (const char *cmd, int argc, char **argv, unsigned allowed, struct lt_opts *o);

/* The layer opened for reading. */
struct lt_layer
{
  struct nsfd_layer_arg arg;
  int dir_fd;            /* the layer directory */
  int upper_fd;          /* upper/, or -1 when missing */
  int lower_fd;          /* --lower, or -1 */
  int holder_state;      /* nsfd_layer_read_holder's result */
  struct nsfd_holder holder;
  bool live;             /* a live container holds it */
};

void lt_layer_close (struct lt_layer *l);
#define cleanup_lt_layer __attribute__ ((cleanup (lt_layer_close)))
/* Resolves and opens o->layer (and o->lower); need_upper: upper/ must be a
 * directory. */
int lt_layer_open (const struct lt_opts *o, bool need_upper, struct lt_layer *l, nsfd_error_t *err);
/* "note: ... in use by ..." on stderr when the layer is live. */
void lt_note_in_use (const char *cmd, const struct lt_layer *l);

/* Progress on stderr, only when it is a terminal and not --quiet. */
struct lt_progress
{
  bool on;
  const char *what;
  uint64_t files, bytes;
  struct timespec start, last;
};
void lt_progress_init (struct lt_progress *p, const char *what, bool quiet);
void lt_progress_tick (struct lt_progress *p, uint64_t files, uint64_t bytes);
void lt_progress_done (struct lt_progress *p);

/* s as a JSON string (quotes included).  Bytes that are not UTF-8 are
 * written as \u00XX (U+0080..U+00FF), documented in docs/layers.md. */
void lt_json_string (FILE *out, const char *s);
/* The same without the quotes. */
void lt_json_chars (FILE *out, const char *s);
/* A name for human output, control characters escaped. */
const char *lt_human (const char *s, char *buf, size_t cap);

/* Raises the open-file limit to what a walk NSFD_SCAN_MAX_DEPTH deep needs,
 * when the hard limit allows. */
void lt_raise_nofile (void);

/* layer.json as the tools read it (without refusing anything). */
struct lt_meta
{
  bool present, valid_json, known_format;
  long long format;
  char xattrs[32], created_at[64], created_by[128], lower_id[64], previous_lower_id[64];
  char problem[256];  /* why it is not valid / not known, or "" */
};
/* Reads layer.json in the layer directory dir_fd. */
void lt_read_meta (int dir_fd, struct lt_meta *m);
