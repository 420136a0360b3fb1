/* Reading the OCI runtime state (hook stdin) and the bundle's config.json.
 * Both are untrusted: sizes, counts, depth and node types are all bounded and
 * checked; anything unexpected is an error that names the field. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define NSFD_OCI_MAX_JSON (1024 * 1024)      /* state or config.json, bytes */
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

/* Reads a whole file/pipe up to max bytes into a NUL-terminated buffer. */
int nsfd_read_all_fd (int fd, size_t max, char **out, size_t *out_len, nsfd_error_t *err);

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
#define NSFD_JSON_MAX_DEPTH 64               /* nesting of arrays/objects */

/* Container-identity annotations set by the CRI implementations. */
#define NSFD_ANN_CRI_CONTAINER_TYPE "io.kubernetes.cri.container-type"     /* containerd */
#define NSFD_ANN_CRI_CONTAINER_NAME "io.kubernetes.cri.container-name"     /* containerd */
#define NSFD_ANN_CRIO_CONTAINER_TYPE "io.kubernetes.cri-o.ContainerType"   /* CRI-O */
#define NSFD_ANN_CRIO_CONTAINER_NAME "io.kubernetes.container.name"        /* CRI-O */

/* Lexical clean-up of a path inside the container: collapses "//" and "/./",
 * drops a trailing "/", makes a relative path absolute (as runc does for mount
 * destinations).  Returns NULL (errno EINVAL) when a component is "..", or
 * ENOMEM.  Used to compare mount destinations. */
char *nsfd_oci_path_clean (const char *path);

/* Copies at most len bytes of in to out (size outsz, NUL-terminated) with
 * control characters, quotes and backslashes escaped (\xNN) and "..." when
 * cut, so untrusted text can go into a message or a log line.  Returns out. */
char *nsfd_escape_for_message (const char *in, size_t len, char *out, size_t outsz);

/* A bounded JSON tree, shared by the OCI readers and lib/config.c.  Built with
 * yajl's callback parser so depth is bounded while parsing; keys keep their
 * duplicates so lookups can refuse them; numbers keep their text. */
enum nsfd_json_type
{
  NSFD_JSON_NULL,
  NSFD_JSON_BOOL,
  NSFD_JSON_NUMBER,
  NSFD_JSON_STRING,
  NSFD_JSON_ARRAY,
  NSFD_JSON_OBJECT,
};

struct nsfd_json
{
  enum nsfd_json_type type;
  int boolean;
  char *text;                /* STRING value or NUMBER text, NUL-terminated */
  size_t text_len;           /* STRING may hold NULs: use this length */
  struct nsfd_json **items;  /* ARRAY elements / OBJECT values */
  char **keys;               /* OBJECT keys, NUL-terminated */
  size_t *key_lens;
  size_t len;
  size_t cap;
};

/* doc names the document in messages ("state", "config.json").  Refuses
 * input larger than NSFD_OCI_MAX_JSON and nesting deeper than
 * NSFD_JSON_MAX_DEPTH. */
int nsfd_json_parse (const char *doc, const char *buf, size_t len, struct nsfd_json **out, nsfd_error_t *err);
void nsfd_json_free (struct nsfd_json *j);
/* Field lookup in an object; path is the object's own path ("" for the root).
 * Returns 1 and *out when present, 0 when absent, <0 on a duplicate key. */
int nsfd_json_field (const char *doc, const struct nsfd_json *obj, const char *path, const char *name,
                     const struct nsfd_json **out, nsfd_error_t *err);
/* Type check: "<doc>: <path>: expected <what>". */
int nsfd_json_expect (const char *doc, const struct nsfd_json *v, const char *path, enum nsfd_json_type type,
                      nsfd_error_t *err);
/* A string without NULs, at most max bytes; *out is a new copy. */
int nsfd_json_string (const char *doc, const struct nsfd_json *v, const char *path, size_t max, char **out,
                      nsfd_error_t *err);
/* An integer (no fraction/exponent) within [min, max]. */
int nsfd_json_int (const char *doc, const struct nsfd_json *v, const char *path, long long min, long long max,
                   long long *out, nsfd_error_t *err);
/* Every key of obj must be one of known (NULL-terminated) and appear once. */
int nsfd_json_only_keys (const char *doc, const struct nsfd_json *obj, const char *path, const char *const *known,
                         nsfd_error_t *err);
