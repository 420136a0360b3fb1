/* The project's annotations (prefix "nsfdsuds.io/") turned into a request,
 * and the container-identity rules (sandbox containers, container names).
 * Annotations are untrusted: they name mount destinations inside the
 * container, never host paths. */
#pragma once

#include "error.h"
#include "oci.h"

#define NSFD_ANNOTATION_PREFIX "nsfdsuds.io/"
#define NSFD_MAX_ANNOTATION_VALUE 1024
#define NSFD_MAX_LAYER_NAME 64
#define NSFD_DEFAULT_LAYER_NAME "default"

struct nsfd_request
{
  int activated;          /* 0: nothing to do */
  int is_sandbox;         /* pause/infra container: never activated */
  char *container_name;   /* from CRI annotations, may be NULL */
  char *persist_dest;     /* normalised absolute path inside the container */
  char *lower_dest;       /* optional read-only base volume, or NULL */
  int keep_volume_visible;
  int accept_image_change;  /* the lower changed and the user says that is fine */
  int restore_any_layer;    /* restore a checkpoint whatever layer state it finds (docs/checkpoint.md) */
  char *layer_name;       /* directory name of the layer inside the volume */
};

/* Cheap check used on the idle path: 1 when any annotation key starts with
 * the project's prefix and the container is not a sandbox. */
int nsfd_policy_maybe_activated (const struct nsfd_annotations *a);

/* Builds the request.  Unknown keys under the prefix, malformed values
 * (relative paths, "..", empty, control characters, too long), or options
 * without an activation are errors naming the annotation.  A container that is
 * not activated gets activated == 0 and return 0. */
int nsfd_policy_parse (const struct nsfd_annotations *a, struct nsfd_request *out, nsfd_error_t *err);
void nsfd_request_free (struct nsfd_request *r);

/* Validates and normalises an absolute path inside the container: no "..",
 * no empty value, no control characters, collapses "//" and "/./" and the
 * trailing "/".  Returns a new string. */
int nsfd_policy_normalize_path (const char *in, char **out, nsfd_error_t *err);

/* Container ids become directory names: [A-Za-z0-9_.-]{1,128}, not "." or
 * "..".  Returns 0 when valid. */
int nsfd_policy_check_container_id (const char *id, nsfd_error_t *err);
