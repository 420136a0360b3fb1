/* What an activated container needs, worked out on the host side from the
 * annotations, config.json and the admin config: which volume holds the
 * layer (checked against the allowed prefixes, opened without following
 * symlinks), the rootfs, the optional base volume, and the layer itself.
 * Shared by the hook and the runtime wrapper. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "error.h"
#include "layer.h"
#include "oci.h"
#include "policy.h"

struct nsfd_plan
{
  char *id;
  char *bundle;
  struct nsfd_request req;
  struct nsfd_oci_config oci;
  char *rootfs;           /* canonical absolute rootfs path */
  char *volume_path;      /* canonical host path of the persistent volume */
  int volume_fd;          /* O_PATH */
  char *lower_path;       /* canonical host path of the base volume, or NULL */
  int lower_fd;           /* O_PATH, or -1 */
  char *persist_target;   /* rootfs + persist destination */
  char *lower_target;     /* rootfs + lower destination, or NULL */
  uid_t root_uid;         /* host uid/gid of the container's root */
  gid_t root_gid;
  struct nsfd_layer layer;
  bool lower_changed;     /* the image changed and the change was accepted (caller logs it) */
  char *upper_path;       /* canonical host paths inside the layer */
  char *work_path;
};

void nsfd_plan_init (struct nsfd_plan *p);
void nsfd_plan_free (struct nsfd_plan *p);
#define cleanup_plan __attribute__ ((cleanup (nsfd_plan_free)))

/* Validates the request against config.json and the admin config.  Does not
 * touch the volume.  req must be activated. */
int nsfd_plan_resolve (const struct nsfd_config *cfg, const char *id, const char *bundle,
                       const struct nsfd_request *req, struct nsfd_plan *out, nsfd_error_t *err);
/* The same with the bundle's config.json already read by the caller (the
 * wrapper reads it to decide): *oci moves into the plan (and is zeroed), so
 * the file is read and parsed once per process. */
int nsfd_plan_resolve_with (const struct nsfd_config *cfg, const char *id, const char *bundle,
                            const struct nsfd_request *req, struct nsfd_oci_config *oci, struct nsfd_plan *p,
                            nsfd_error_t *err);

/* Opens the volume (and base volume) and opens or creates the layer. */
int nsfd_plan_open_layer (struct nsfd_plan *p, const struct nsfd_config *cfg, nsfd_error_t *err);
