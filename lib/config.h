/* The admin-owned configuration file (JSON), default
 * /etc/nsfdsuds/config.json.  Missing file: defaults.  Anything malformed is an
 * error: a hook must not guess its own security policy. */
#pragma once

#include <stddef.h>

#include "error.h"

#define NSFD_CONFIG_MAX_PREFIXES 64

struct nsfd_config
{
  char **allowed_volume_prefixes;  /* absolute, normalised, end without '/' */
  size_t n_allowed_volume_prefixes;
  unsigned handshake_timeout_ms;   /* agent<->mounter, each direction */
  unsigned mounter_lifetime_ms;    /* how long a mounter waits for its container */
  char *run_dir;                   /* per-container sockets, default /run/nsfdsuds */
  int log_level;                   /* enum nsfd_log_level */
  int log_sinks;                   /* mask of enum nsfd_log_sink */
  char *runtime_path;              /* the real runtime, for nsfdsuds-runtime */
  char *on_image_change;           /* policy name, see docs/layer-format.md */
};

void nsfd_config_defaults (struct nsfd_config *c);
/* load/parse: *c must be initialised (zeroed, or by nsfd_config_defaults or
 * an earlier load); what it held is released, then it is filled with the
 * defaults plus the file's values.  On error it is left empty (zeroed).
 * path NULL: NSFD_DEFAULT_CONFIG.  A missing file at the default path gives the
 * defaults; a missing file at an explicit path is an error. */
int nsfd_config_load (const char *path, int explicit_path, struct nsfd_config *c, nsfd_error_t *err);
int nsfd_config_parse (const char *buf, size_t len, struct nsfd_config *c, nsfd_error_t *err);
void nsfd_config_free (struct nsfd_config *c);

/* 1 when host_path (absolute, normalised) is equal to or beneath one of the
 * allowed prefixes, component-wise ("/a/b" does not allow "/a/bc"). */
int nsfd_config_volume_allowed (const struct nsfd_config *c, const char *host_path);
/* The longest allowed prefix host_path lies beneath (component-wise, see
 * nsfd_path_after_prefix), or NULL.  host_path must already be canonical. */
const char *nsfd_config_allowed_prefix (const struct nsfd_config *c, const char *host_path);
