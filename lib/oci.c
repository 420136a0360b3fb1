/* Reading the OCI runtime state and config.json.  Both come from outside
 * (the runtime, the bundle writer, the pod author), so everything is bounded:
 * input size, nesting depth, string lengths, counts; every node type is
 * checked and every error names the field.  The JSON tree is lib/json.c. */
#include "oci.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

/* ------------------------------------------------------------------------ */
/* Annotations                                                              */
/* ------------------------------------------------------------------------ */

const char *
nsfd_annotations_get (const struct nsfd_annotations *a, const char *key)
{
  if (a == NULL || key == NULL)
    return NULL;
  for (size_t i = 0; i < a->len; i++)
    if (strcmp (a->items[i].key, key) == 0)
      return a->items[i].value;
  return NULL;
}

static void
annotations_free (struct nsfd_annotations *a)
{
  for (size_t i = 0; i < a->len; i++)
    {
      free (a->items[i].key);
      free (a->items[i].value);
    }
  free (a->items);
  a->items = NULL;
  a->len = 0;
}

/* Keys whose values decide what we do: always read strictly. */
static bool
annotation_is_ours (const char *key, size_t len)
{
  static const char *const identity[] = { NSFD_ANN_CRI_CONTAINER_TYPE, NSFD_ANN_CRI_CONTAINER_NAME,
                                          NSFD_ANN_CRIO_CONTAINER_TYPE, NSFD_ANN_CRIO_CONTAINER_NAME };
  static const char prefix[] = "nsfdsuds.io/";
  if (len >= sizeof (prefix) - 1 && memcmp (key, prefix, sizeof (prefix) - 1) == 0)
    return true;
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (identity); i++)
    if (strlen (identity[i]) == len && memcmp (identity[i], key, len) == 0)
      return true;
  return false;
}

static int
parse_annotations (const char *doc, const struct nsfd_json *v, struct nsfd_annotations *out, nsfd_error_t *err)
{
  int ret;

  ret = nsfd_json_expect (doc, v, "annotations", NSFD_JSON_OBJECT, err);
  if (ret < 0)
    return ret;
  if (v->len > NSFD_OCI_MAX_ANNOTATIONS)
    return nsfd_make_error (err, 0, "%s: annotations: %zu entries, more than the limit of %d", doc, v->len,
                            NSFD_OCI_MAX_ANNOTATIONS);
  out->items = calloc (v->len ? v->len : 1, sizeof (*out->items));
  if (out->items == NULL)
    return nsfd_make_error (err, ENOMEM, "%s: annotations", doc);

  for (size_t i = 0; i < v->len; i++)
    {
      const char *key = v->keys[i];
      size_t klen = v->key_lens[i];
      const struct nsfd_json *val = v->items[i];
      bool ours = annotation_is_ours (key, klen);
      char path[160];
      char shown[128];

      /* Duplicates are refused whoever owns the key: the engine that wrote
       * the spec and we could pick different copies. */
      nsfd_escape_for_message (key, klen, shown, sizeof (shown));
      for (size_t d = 0; d < i; d++)
        if (v->key_lens[d] == klen && memcmp (v->keys[d], key, klen) == 0)
          return nsfd_make_error (err, 0, "%s: duplicate field \"annotations.%s\"", doc, shown);

      snprintf (path, sizeof (path), "annotations[\"%s\"]", shown);
      if (val->type != NSFD_JSON_STRING)
        return nsfd_json_expect (doc, val, path, NSFD_JSON_STRING, err);
      if (!ours
          && (klen > NSFD_OCI_MAX_STRING || val->text_len > NSFD_OCI_MAX_STRING || memchr (key, '\0', klen) != NULL
              || memchr (val->text, '\0', val->text_len) != NULL))
        {
          /* Other tools' annotations may be large (kubectl's
           * last-applied-configuration); they do not concern us and must not
           * make an unrelated container fail, so they are left out. */
          nsfd_log (NSFD_LOG_DEBUG, NULL, "%s: ignoring oversized annotation \"%s\"", doc, shown);
          continue;
        }
      if (memchr (key, '\0', klen) != NULL)
        return nsfd_make_error (err, 0, "%s: annotation key \"%s\" contains a NUL character", doc, shown);
      if (klen > NSFD_OCI_MAX_STRING)
        return nsfd_make_error (err, 0, "%s: annotation key \"%s\" is longer than %d bytes", doc, shown,
                                NSFD_OCI_MAX_STRING);
      ret = nsfd_json_string (doc, val, path, NSFD_OCI_MAX_STRING, &out->items[out->len].value, err);
      if (ret < 0)
        return ret;
      out->items[out->len].key = strdup (key);
      if (out->items[out->len].key == NULL)
        {
          free (out->items[out->len].value);
          return nsfd_make_error (err, ENOMEM, "%s: annotations", doc);
        }
      out->len++;
    }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* State                                                                    */
/* ------------------------------------------------------------------------ */

void
nsfd_oci_state_free (struct nsfd_oci_state *s)
{
  if (s == NULL)
    return;
  free (s->oci_version);
  free (s->id);
  free (s->status);
  free (s->bundle);
  annotations_free (&s->annotations);
  memset (s, 0, sizeof (*s));
}

/* A required or optional string field of obj. */
static int
get_string_field (const char *doc, const struct nsfd_json *obj, const char *objpath, const char *name, bool required,
                  size_t max, char **out, nsfd_error_t *err)
{
  const struct nsfd_json *v;
  char path[256];
  int ret;

  *out = NULL;
  ret = nsfd_json_field (doc, obj, objpath, name, &v, err);
  if (ret < 0)
    return ret;
  snprintf (path, sizeof (path), "%s%s%s", objpath, objpath[0] ? "." : "", name);
  if (ret == 0)
    {
      if (required)
        return nsfd_make_error (err, 0, "%s: missing required field \"%s\"", doc, path);
      return 0;
    }
  return nsfd_json_string (doc, v, path, max, out, err);
}

static int
state_parse (const char *buf, size_t len, struct nsfd_oci_state *out, nsfd_error_t *err)
{
  const char *doc = "state";
  cleanup_json struct nsfd_json *root = NULL;
  const struct nsfd_json *v;
  int ret;

  ret = nsfd_json_parse (doc, buf, len, &root, err);
  if (ret < 0)
    return ret;
  ret = nsfd_json_expect (doc, root, "", NSFD_JSON_OBJECT, err);
  if (ret < 0)
    return ret;

  ret = get_string_field (doc, root, "", "ociVersion", true, NSFD_OCI_MAX_STRING, &out->oci_version, err);
  if (ret < 0)
    return ret;
  ret = get_string_field (doc, root, "", "id", true, NSFD_OCI_MAX_ID, &out->id, err);
  if (ret < 0)
    return ret;
  if (out->id[0] == '\0')
    return nsfd_make_error (err, 0, "%s: id: empty", doc);
  ret = get_string_field (doc, root, "", "status", true, NSFD_OCI_MAX_STRING, &out->status, err);
  if (ret < 0)
    return ret;
  ret = get_string_field (doc, root, "", "bundle", true, NSFD_OCI_MAX_STRING, &out->bundle, err);
  if (ret < 0)
    return ret;
  if (out->bundle[0] != '/')
    {
      char shown[128];
      return nsfd_make_error (err, 0, "%s: bundle: \"%s\" is not an absolute path", doc,
                              nsfd_escape_for_message (out->bundle, SIZE_MAX, shown, sizeof (shown)));
    }

  ret = nsfd_json_field (doc, root, "", "pid", &v, err);
  if (ret < 0)
    return ret;
  if (ret > 0)
    {
      long long pid;
      ret = nsfd_json_int (doc, v, "pid", 0, INT_MAX, &pid, err);
      if (ret < 0)
        return ret;
      out->pid = (pid_t) pid;
    }

  ret = nsfd_json_field (doc, root, "", "annotations", &v, err);
  if (ret < 0)
    return ret;
  if (ret > 0)
    return parse_annotations (doc, v, &out->annotations, err);
  return 0;
}

int
nsfd_oci_state_parse (const char *buf, size_t len, struct nsfd_oci_state *out, nsfd_error_t *err)
{
  int ret;

  memset (out, 0, sizeof (*out));
  ret = state_parse (buf, len, out, err);
  if (ret < 0)
    nsfd_oci_state_free (out);
  return ret;
}

int
nsfd_oci_state_read_fd (int fd, struct nsfd_oci_state *out, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  int ret;

  memset (out, 0, sizeof (*out));
  ret = nsfd_read_all_fd (fd, NSFD_OCI_MAX_JSON, &buf, &len, err);
  if (ret < 0)
    return nsfd_error_wrap (err, "reading the OCI state");
  return nsfd_oci_state_parse (buf, len, out, err);
}

/* ------------------------------------------------------------------------ */
/* config.json                                                              */
/* ------------------------------------------------------------------------ */

static void
mount_free (struct nsfd_oci_mount *m)
{
  free (m->destination);
  free (m->type);
  free (m->source);
  if (m->options)
    for (size_t i = 0; i < m->n_options; i++)
      free (m->options[i]);
  free (m->options);
}

void
nsfd_oci_config_free (struct nsfd_oci_config *c)
{
  if (c == NULL)
    return;
  free (c->root_path);
  for (size_t i = 0; i < c->n_mounts; i++)
    mount_free (&c->mounts[i]);
  free (c->mounts);
  annotations_free (&c->annotations);
  free (c->uid_mappings);
  free (c->gid_mappings);
  memset (c, 0, sizeof (*c));
}

static int
parse_root (const char *doc, const struct nsfd_json *obj, struct nsfd_oci_config *out, nsfd_error_t *err)
{
  const struct nsfd_json *root, *ro;
  int ret;

  ret = nsfd_json_field (doc, obj, "", "root", &root, err);
  if (ret < 0)
    return ret;
  if (ret == 0)
    return nsfd_make_error (err, 0, "%s: missing required field \"root\"", doc);
  ret = nsfd_json_expect (doc, root, "root", NSFD_JSON_OBJECT, err);
  if (ret < 0)
    return ret;
  ret = get_string_field (doc, root, "root", "path", true, NSFD_OCI_MAX_STRING, &out->root_path, err);
  if (ret < 0)
    return ret;
  if (out->root_path[0] == '\0')
    return nsfd_make_error (err, 0, "%s: root.path: empty", doc);
  ret = nsfd_json_field (doc, root, "root", "readonly", &ro, err);
  if (ret < 0)
    return ret;
  if (ret > 0)
    {
      ret = nsfd_json_expect (doc, ro, "root.readonly", NSFD_JSON_BOOL, err);
      if (ret < 0)
        return ret;
      out->root_readonly = ro->boolean;
    }
  return 0;
}

static int
parse_mount (const char *doc, const struct nsfd_json *obj, const char *path, struct nsfd_oci_mount *m,
             nsfd_error_t *err)
{
  const struct nsfd_json *opts;
  char opath[128];
  bool has_opts;
  int ret;

  ret = nsfd_json_expect (doc, obj, path, NSFD_JSON_OBJECT, err);
  if (ret < 0)
    return ret;
  ret = get_string_field (doc, obj, path, "destination", true, NSFD_OCI_MAX_STRING, &m->destination, err);
  if (ret < 0)
    return ret;
  if (m->destination[0] == '\0')
    return nsfd_make_error (err, 0, "%s: %s.destination: empty", doc, path);
  ret = get_string_field (doc, obj, path, "type", false, NSFD_OCI_MAX_STRING, &m->type, err);
  if (ret < 0)
    return ret;
  ret = get_string_field (doc, obj, path, "source", false, NSFD_OCI_MAX_STRING, &m->source, err);
  if (ret < 0)
    return ret;

  ret = nsfd_json_field (doc, obj, path, "options", &opts, err);
  if (ret < 0)
    return ret;
  snprintf (opath, sizeof (opath), "%s.options", path);
  has_opts = ret > 0;
  if (has_opts)
    {
      ret = nsfd_json_expect (doc, opts, opath, NSFD_JSON_ARRAY, err);
      if (ret < 0)
        return ret;
      if (opts->len > NSFD_OCI_MAX_MOUNT_OPTIONS)
        return nsfd_make_error (err, 0, "%s: %s: %zu entries, more than the limit of %d", doc, opath, opts->len,
                                NSFD_OCI_MAX_MOUNT_OPTIONS);
    }
  m->options = calloc ((has_opts ? opts->len : 0) + 1, sizeof (char *));
  if (m->options == NULL)
    return nsfd_make_error (err, ENOMEM, "%s: %s", doc, opath);
  if (has_opts)
    for (size_t i = 0; i < opts->len; i++)
      {
        char ipath[160];
        snprintf (ipath, sizeof (ipath), "%s[%zu]", opath, i);
        ret = nsfd_json_string (doc, opts->items[i], ipath, NSFD_OCI_MAX_STRING, &m->options[i], err);
        if (ret < 0)
          return ret;
        m->n_options++;
      }
  return 0;
}

static int
parse_mounts (const char *doc, const struct nsfd_json *obj, struct nsfd_oci_config *out, nsfd_error_t *err)
{
  const struct nsfd_json *mounts;
  int ret;

  ret = nsfd_json_field (doc, obj, "", "mounts", &mounts, err);
  if (ret <= 0)
    return ret;
  ret = nsfd_json_expect (doc, mounts, "mounts", NSFD_JSON_ARRAY, err);
  if (ret < 0)
    return ret;
  if (mounts->len > NSFD_OCI_MAX_MOUNTS)
    return nsfd_make_error (err, 0, "%s: mounts: %zu entries, more than the limit of %d", doc, mounts->len,
                            NSFD_OCI_MAX_MOUNTS);
  out->mounts = calloc (mounts->len ? mounts->len : 1, sizeof (*out->mounts));
  if (out->mounts == NULL)
    return nsfd_make_error (err, ENOMEM, "%s: mounts", doc);
  for (size_t i = 0; i < mounts->len; i++)
    {
      char path[64];
      snprintf (path, sizeof (path), "mounts[%zu]", i);
      /* Counted first so a half-parsed entry is still freed. */
      out->n_mounts++;
      ret = parse_mount (doc, mounts->items[i], path, &out->mounts[i], err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

static int
parse_idmaps (const char *doc, const struct nsfd_json *linux_obj, const char *name, struct nsfd_idmap **out,
              size_t *n_out, nsfd_error_t *err)
{
  static const char *const fields[] = { "containerID", "hostID", "size" };
  const struct nsfd_json *arr;
  char path[64];
  int ret;

  ret = nsfd_json_field (doc, linux_obj, "linux", name, &arr, err);
  if (ret <= 0)
    return ret;
  snprintf (path, sizeof (path), "linux.%s", name);
  ret = nsfd_json_expect (doc, arr, path, NSFD_JSON_ARRAY, err);
  if (ret < 0)
    return ret;
  if (arr->len > NSFD_OCI_MAX_IDMAPS)
    return nsfd_make_error (err, 0, "%s: %s: %zu entries, more than the limit of %d", doc, path, arr->len,
                            NSFD_OCI_MAX_IDMAPS);
  *out = calloc (arr->len ? arr->len : 1, sizeof (**out));
  if (*out == NULL)
    return nsfd_make_error (err, ENOMEM, "%s: %s", doc, path);
  for (size_t i = 0; i < arr->len; i++)
    {
      long long val[3];
      char epath[96];

      snprintf (epath, sizeof (epath), "%s[%zu]", path, i);
      ret = nsfd_json_expect (doc, arr->items[i], epath, NSFD_JSON_OBJECT, err);
      if (ret < 0)
        return ret;
      for (size_t f = 0; f < 3; f++)
        {
          const struct nsfd_json *v;
          char fpath[128];
          snprintf (fpath, sizeof (fpath), "%s.%s", epath, fields[f]);
          ret = nsfd_json_field (doc, arr->items[i], epath, fields[f], &v, err);
          if (ret < 0)
            return ret;
          if (ret == 0)
            return nsfd_make_error (err, 0, "%s: missing required field \"%s\"", doc, fpath);
          ret = nsfd_json_int (doc, v, fpath, f == 2 ? 1 : 0, UINT32_MAX, &val[f], err);
          if (ret < 0)
            return ret;
        }
      /* A range running past 2^32 would wrap in the kernel's eyes. */
      if (val[0] + val[2] > (long long) UINT32_MAX + 1 || val[1] + val[2] > (long long) UINT32_MAX + 1)
        return nsfd_make_error (err, 0, "%s: %s: range overflows 32 bits", doc, epath);
      (*out)[i].container_id = (uint32_t) val[0];
      (*out)[i].host_id = (uint32_t) val[1];
      (*out)[i].size = (uint32_t) val[2];
      (*n_out)++;
    }
  return 0;
}

static int
parse_namespaces (const char *doc, const struct nsfd_json *linux_obj, struct nsfd_oci_config *out, nsfd_error_t *err)
{
  const struct nsfd_json *arr;
  int ret;

  ret = nsfd_json_field (doc, linux_obj, "linux", "namespaces", &arr, err);
  if (ret <= 0)
    return ret;
  ret = nsfd_json_expect (doc, arr, "linux.namespaces", NSFD_JSON_ARRAY, err);
  if (ret < 0)
    return ret;
  if (arr->len > 64)
    return nsfd_make_error (err, 0, "%s: linux.namespaces: %zu entries, more than the limit of 64", doc, arr->len);
  for (size_t i = 0; i < arr->len; i++)
    {
      cleanup_free char *type = NULL;
      cleanup_free char *nspath = NULL;
      char path[64];

      snprintf (path, sizeof (path), "linux.namespaces[%zu]", i);
      ret = nsfd_json_expect (doc, arr->items[i], path, NSFD_JSON_OBJECT, err);
      if (ret < 0)
        return ret;
      ret = get_string_field (doc, arr->items[i], path, "type", true, NSFD_OCI_MAX_STRING, &type, err);
      if (ret < 0)
        return ret;
      ret = get_string_field (doc, arr->items[i], path, "path", false, NSFD_OCI_MAX_STRING, &nspath, err);
      if (ret < 0)
        return ret;
      if (strcmp (type, "user") == 0)
        out->has_user_namespace = 1;
      else if (strcmp (type, "mount") == 0)
        out->has_mount_namespace = 1;
    }
  return 0;
}

static int
config_parse (const char *buf, size_t len, struct nsfd_oci_config *out, nsfd_error_t *err)
{
  const char *doc = "config.json";
  cleanup_json struct nsfd_json *root = NULL;
  const struct nsfd_json *v;
  int ret;

  ret = nsfd_json_parse (doc, buf, len, &root, err);
  if (ret < 0)
    return ret;
  ret = nsfd_json_expect (doc, root, "", NSFD_JSON_OBJECT, err);
  if (ret < 0)
    return ret;

  ret = nsfd_json_field (doc, root, "", "ociVersion", &v, err);
  if (ret < 0)
    return ret;
  if (ret > 0 && (ret = nsfd_json_expect (doc, v, "ociVersion", NSFD_JSON_STRING, err)) < 0)
    return ret;

  ret = parse_root (doc, root, out, err);
  if (ret < 0)
    return ret;
  ret = parse_mounts (doc, root, out, err);
  if (ret < 0)
    return ret;

  ret = nsfd_json_field (doc, root, "", "annotations", &v, err);
  if (ret < 0)
    return ret;
  if (ret > 0 && (ret = parse_annotations (doc, v, &out->annotations, err)) < 0)
    return ret;

  ret = nsfd_json_field (doc, root, "", "linux", &v, err);
  if (ret < 0)
    return ret;
  if (ret > 0)
    {
      ret = nsfd_json_expect (doc, v, "linux", NSFD_JSON_OBJECT, err);
      if (ret < 0)
        return ret;
      ret = parse_idmaps (doc, v, "uidMappings", &out->uid_mappings, &out->n_uid_mappings, err);
      if (ret < 0)
        return ret;
      ret = parse_idmaps (doc, v, "gidMappings", &out->gid_mappings, &out->n_gid_mappings, err);
      if (ret < 0)
        return ret;
      ret = parse_namespaces (doc, v, out, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

int
nsfd_oci_config_parse (const char *buf, size_t len, struct nsfd_oci_config *out, nsfd_error_t *err)
{
  int ret;

  memset (out, 0, sizeof (*out));
  ret = config_parse (buf, len, out, err);
  if (ret < 0)
    nsfd_oci_config_free (out);
  return ret;
}

int
nsfd_oci_config_read_at (int bundle_dirfd, struct nsfd_oci_config *out, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  struct stat st;
  int ret;

  memset (out, 0, sizeof (*out));
  /* O_NONBLOCK: a FIFO planted as config.json must not block the open. */
  fd = nsfd_openat2 (bundle_dirfd, "config.json", O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0,
                     RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening config.json in the bundle");
  if (fstat (fd, &st) < 0)
    return nsfd_make_error (err, errno, "stat of config.json");
  if (!S_ISREG (st.st_mode))
    return nsfd_make_error (err, 0, "config.json in the bundle is not a regular file");
  if (st.st_size > NSFD_OCI_MAX_JSON)
    return nsfd_make_error (err, EFBIG, "config.json is %lld bytes, more than the limit of %d",
                            (long long) st.st_size, NSFD_OCI_MAX_JSON);
  ret = fcntl (fd, F_GETFL);
  if (ret >= 0)
    (void) fcntl (fd, F_SETFL, ret & ~O_NONBLOCK);
  ret = nsfd_read_all_fd (fd, NSFD_OCI_MAX_JSON, &buf, &len, err);
  if (ret < 0)
    return nsfd_error_wrap (err, "reading config.json");
  return nsfd_oci_config_parse (buf, len, out, err);
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */
/* ------------------------------------------------------------------------ */

int
nsfd_idmap_to_host (const struct nsfd_idmap *maps, size_t n, uint32_t id, uint32_t *host)
{
  if (n == 0)
    {
      *host = id;
      return 0;
    }
  for (size_t i = 0; i < n; i++)
    {
      uint64_t start = maps[i].container_id;
      uint64_t end = start + maps[i].size;
      if (id >= start && id < end)
        {
          uint64_t h = (uint64_t) maps[i].host_id + (id - start);
          if (h > UINT32_MAX)
            return -1;
          *host = (uint32_t) h;
          return 0;
        }
    }
  return -1;
}

const struct nsfd_oci_mount *
nsfd_oci_config_find_mount (const struct nsfd_oci_config *c, const char *dest)
{
  cleanup_free char *want = NULL;

  if (c == NULL || dest == NULL)
    return NULL;
  want = nsfd_oci_path_clean (dest);
  if (want == NULL)
    return NULL;
  /* Last one wins: a later mount on the same destination hides earlier ones. */
  for (size_t i = c->n_mounts; i-- > 0;)
    {
      cleanup_free char *have = nsfd_oci_path_clean (c->mounts[i].destination);
      if (have != NULL && strcmp (have, want) == 0)
        return &c->mounts[i];
    }
  return NULL;
}

static bool
has_option (const struct nsfd_oci_mount *m, const char *opt)
{
  for (size_t i = 0; i < m->n_options; i++)
    if (strcmp (m->options[i], opt) == 0)
      return true;
  return false;
}

int
nsfd_oci_mount_is_bind (const struct nsfd_oci_mount *m)
{
  if (m->type && strcmp (m->type, "bind") == 0)
    return 1;
  return has_option (m, "bind") || has_option (m, "rbind");
}

int
nsfd_oci_mount_is_readonly (const struct nsfd_oci_mount *m)
{
  int ro = 0;
  /* Options apply in order, as in the runtimes: the last of ro/rw wins. */
  for (size_t i = 0; i < m->n_options; i++)
    {
      if (strcmp (m->options[i], "ro") == 0)
        ro = 1;
      else if (strcmp (m->options[i], "rw") == 0)
        ro = 0;
    }
  return ro;
}
