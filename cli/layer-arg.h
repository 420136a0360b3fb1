/* The LAYER argument of the `nsfdsuds layer` commands: a layer directory
 * (<volume>/.nsfdsuds/<name>, recognised by its layer.json) or a volume
 * directory (then the layer called `name`, default "default"). */
#pragma once

#include <stdbool.h>

#include "error.h"

struct nsfd_layer_arg
{
  char *layer_path;   /* canonical path of the layer directory (may not exist yet) */
  char *volume_path;  /* canonical path of the volume holding it */
  char *name;         /* the layer's name (directory name under .nsfdsuds) */
  bool exists;        /* layer_path exists */
};

void nsfd_layer_arg_free (struct nsfd_layer_arg *a);
#define cleanup_layer_arg __attribute__ ((cleanup (nsfd_layer_arg_free)))

/* name NULL: the default layer.  A path that is a layer directory with a
 * different name than an explicit --name is an error. */
int nsfd_layer_arg_resolve (const char *arg, const char *name, struct nsfd_layer_arg *out, nsfd_error_t *err);
