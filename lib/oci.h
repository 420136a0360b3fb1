/* Reading the OCI runtime state (hook stdin) and the bundle's config.json.
 * Both are untrusted: sizes, counts, depth and node types are all bounded and
 * checked; anything unexpected is an error that names the field. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"      /* the bounded JSON tree the readers use */
#include "pathutil.h"  /* nsfd_oci_path_clean */

#define NSFD_OCI_MAX_JSON NSFD_JSON_MAX_SIZE  /* state or config.json, bytes */
#define NSFD_OCI_MAX_MOUNTS 4096
#define NSFD_OCI_MAX_ANNOTATIONS 1024
#define NSFD_OCI_MAX_STRING 4096             /* any single string value */
#define NSFD_OCI_MAX_ID 1024                 /* container id */
#define NSFD_OCI_MAX_IDMAPS 64

struct nsfd_kv
{
  char *key;
  char *value;
};

struct nsfd_annotations
{
  struct nsfd_kv *items;
  size_t len;
};

/* Returns the value for key, or NULL. */
const char *nsfd_annotations_get (const struct nsfd_annotations *a, const char *key);

struct nsfd_oci_state
{
  char *oci_version;
  char *id;
  char *status;      /* "creating", "created", "running", "stopped" */
  pid_t pid;         /* 0 when absent */
  char *bundle;      /* absolute path */
  struct nsfd_annotations annotations;
};

struct nsfd_oci_mount
{
  char *destination;
  char *type;        /* may be NULL */
  char *source;      /* may be NULL */
  char **options;    /* NULL-terminated, may be empty */
  size_t n_options;
};

struct nsfd_idmap
{
  uint32_t container_id;
  uint32_t host_id;
  uint32_t size;
};

struct nsfd_oci_config
{
  char *root_path;   /* as written in config.json (relative to the bundle or absolute) */
  int root_readonly;
  struct nsfd_oci_mount *mounts;
  size_t n_mounts;
  struct nsfd_annotations annotations;
  struct nsfd_idmap *uid_mappings;
  size_t n_uid_mappings;
  struct nsfd_idmap *gid_mappings;
  size_t n_gid_mappings;
  int has_user_namespace;   /* linux.namespaces contains "user" */
  int has_mount_namespace;  /* linux.namespaces contains "mount" */
};

/* Parses a state document.  Required: ociVersion, id, status, bundle.  pid is
 * optional (and meaningless at createContainer). */
int nsfd_oci_state_parse (const char *buf, size_t len, struct nsfd_oci_state *out, nsfd_error_t *err);
/* Reads at most NSFD_OCI_MAX_JSON bytes from fd (a timeout is the caller's). */
int nsfd_oci_state_read_fd (int fd, struct nsfd_oci_state *out, nsfd_error_t *err);
void nsfd_oci_state_free (struct nsfd_oci_state *s);

int nsfd_oci_config_parse (const char *buf, size_t len, struct nsfd_oci_config *out, nsfd_error_t *err);
/* Opens "config.json" beneath bundle_dirfd without following symlinks. */
int nsfd_oci_config_read_at (int bundle_dirfd, struct nsfd_oci_config *out, nsfd_error_t *err);
void nsfd_oci_config_free (struct nsfd_oci_config *c);
#define cleanup_oci_config __attribute__ ((cleanup (nsfd_oci_config_free)))

/* Maps a container uid/gid to the host through mappings; identity when there
 * are none.  Returns -1 when the id is not mapped. */
int nsfd_idmap_to_host (const struct nsfd_idmap *maps, size_t n, uint32_t id, uint32_t *host);

/* Finds the mount whose destination equals dest after normalisation
 * ("/data/" == "/data").  Returns NULL when none. Last one wins, as in the
 * runtime. */
const struct nsfd_oci_mount *nsfd_oci_config_find_mount (const struct nsfd_oci_config *c, const char *dest);
/* 1 when the mount is a bind mount (type "bind" or options contain bind/rbind). */
int nsfd_oci_mount_is_bind (const struct nsfd_oci_mount *m);
/* 1 when the mount options make it read-only ("ro"). */
int nsfd_oci_mount_is_readonly (const struct nsfd_oci_mount *m);

/* ---- Added by the OCI/config readers (lib/oci.c) ---- */

#define NSFD_OCI_MAX_MOUNT_OPTIONS 256       /* options of one mount */

/* Container-identity annotations set by the CRI implementations. */
#define NSFD_ANN_CRI_CONTAINER_TYPE "io.kubernetes.cri.container-type"     /* containerd */
#define NSFD_ANN_CRI_CONTAINER_NAME "io.kubernetes.cri.container-name"     /* containerd */
#define NSFD_ANN_CRIO_CONTAINER_TYPE "io.kubernetes.cri-o.ContainerType"   /* CRI-O */
#define NSFD_ANN_CRIO_CONTAINER_NAME "io.kubernetes.container.name"        /* CRI-O */
