/* What runs on persistent layers on this node: one entry per container
 * directory in the runtime directory (<runDir>/<id>/record), joined with the
 * holder record of the layer it names (holder.json).  Used by `nsfdsuds
 * status` and by doctor's runDir check. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Evidence lines and paths are cut at their (generous) buffers on purpose: a
 * report line is never worth an error. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define NSFD_STATUS_MAX_ENTRIES 4096

struct nsfd_status_entry
{
  char id[256];
  char mode[8];          /* "hook", "wrapper", or "?" without a record */
  char layer[4096];      /* "" without a record */
  char since[32];        /* from holder.json, "" when unknown */
  long long pid;         /* the container's process (holder.json), 0 when unknown */
  bool alive;            /* the holder names this container and its process runs */
  bool stale;
  bool in_run_dir;       /* false: only the layer's holder record names it */
  pid_t mounter_pid;     /* hook mode: a mounter still running, else 0 */
  char problem[512];     /* why it is stale, "" otherwise */
};

struct nsfd_status
{
  struct nsfd_status_entry *entries;
  size_t n;
};

void nsfd_status_free (struct nsfd_status *s);
/* Reads every entry of run_dir (missing: none).  An entry without a record
 * counts as stale once it is older than grace_ms (a container being set up
 * has none yet). */
int nsfd_status_scan (const char *run_dir, unsigned grace_ms, struct nsfd_status *out, nsfd_error_t *err);
/* Keeps the entries on layer_path and adds the layer's holder when no entry
 * names it. */
int nsfd_status_filter_layer (struct nsfd_status *s, const char *layer_path, nsfd_error_t *err);
