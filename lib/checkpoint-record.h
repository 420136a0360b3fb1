/* The record nsfdsuds-runtime leaves in a checkpoint's image directory
 * (nsfdsuds-checkpoint.json): which layer, in which state, the checkpoint
 * belongs to, so that a restore onto another layer, another image or a
 * layer used since is refused (docs/checkpoint.md). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define NSFD_CHECKPOINT_RECORD "nsfdsuds-checkpoint.json"
#define NSFD_CHECKPOINT_FORMAT 1
/* A record is a few hundred bytes; anything larger is not ours. */
#define NSFD_CHECKPOINT_RECORD_MAX (16 * 1024)

/* What identifies a layer and its state: the record's content, and what a
 * restore finds. */
struct nsfd_checkpoint_layer
{
  char path[4096];           /* host path of the layer directory (informative: moves between nodes) */
  char name[72];             /* the layer's name (nsfdsuds.io/layer) */
  char created_at[32];       /* layer.json createdAt: tells a layer from another of the same name */
  char lower_id[72];         /* layer.json lowerId, "" when none */
  unsigned long long generation;
  bool marked;               /* the layer directory carries NSFD_CHECKPOINT_MARK */
};

struct nsfd_checkpoint_record
{
  struct nsfd_checkpoint_layer layer;
  char container[132];       /* the id checkpointed */
  char taken_at[32];
  bool left_running;         /* --leave-running: the container went on using the layer */
};

/* Writes the record into the image directory image_dir_fd (replacing one). */
int nsfd_checkpoint_record_write (int image_dir_fd, const struct nsfd_checkpoint_record *r, nsfd_error_t *err);
/* Parses a record (strict: known fields once each, bounded strings). */
int nsfd_checkpoint_record_parse (const char *buf, size_t len, struct nsfd_checkpoint_record *r, nsfd_error_t *err);
/* Reads the record of image_dir_fd; ENOENT when there is none. */
int nsfd_checkpoint_record_read (int image_dir_fd, struct nsfd_checkpoint_record *r, nsfd_error_t *err);

/* A trusted.* extended attribute on the layer directory, set at checkpoint
 * (value: the generation): a copy that lost it lost the overlay's
 * trusted.overlay.opaque marks too (checkpoint-mark.c). */
#define NSFD_CHECKPOINT_MARK "trusted.nsfdsuds.checkpoint"
int nsfd_checkpoint_mark_set (int layer_dir_fd, unsigned long long generation, nsfd_error_t *err);
/* 1 present, 0 absent, -1 with err when it cannot be told. */
int nsfd_checkpoint_mark_present (int layer_dir_fd, nsfd_error_t *err);
/* The same, and when present the generation it names in *generation
 * (*valid false when the value is not a number of ours). */
int nsfd_checkpoint_mark_read (int layer_dir_fd, unsigned long long *generation, bool *valid, nsfd_error_t *err);

/* 0 when the layer a restore found (now; its generation before the restore
 * takes it) is the one of the checkpoint and unchanged since; else ESTALE
 * naming both and the annotation that overrides. */
int nsfd_checkpoint_match (const struct nsfd_checkpoint_record *r, const struct nsfd_checkpoint_layer *now,
                           nsfd_error_t *err);
