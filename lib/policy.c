/* The nsfdsuds.io/ annotations turned into a request.  Annotations are
 * written by whoever can create a pod, so every value is checked and anything
 * unexpected fails closed with a message that names the annotation and says
 * what to do.  Values are paths inside the container, never host paths. */
#include "policy.h"

#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#define PREFIX_LEN (sizeof (NSFD_ANNOTATION_PREFIX) - 1)
#define SHOWN 160 /* escaped copies of untrusted text in messages */

#define ESC(s, buf) nsfd_escape_for_message ((s), SIZE_MAX, (buf), sizeof (buf))
#define MAX_CONTAINER_NAME 253

enum key_kind
{
  KEY_PERSIST,
  KEY_LOWER,
  KEY_KEEP_VISIBLE,
  KEY_LAYER,
  KEY_ACCEPT_IMAGE_CHANGE,
  KEY_RESTORE_ANY_LAYER,
  KEY__COUNT,
};

static const char *const key_names[KEY__COUNT] = { "persist", "lower", "keep-volume-visible", "layer",
                                                                   "accept-image-change", "restore-any-layer" };

#define KNOWN_KEYS "persist, lower, keep-volume-visible, layer, accept-image-change, restore-any-layer"

static bool
is_sandbox (const struct nsfd_annotations *a)
{
  const char *t1 = nsfd_annotations_get (a, NSFD_ANN_CRI_CONTAINER_TYPE);
  const char *t2 = nsfd_annotations_get (a, NSFD_ANN_CRIO_CONTAINER_TYPE);
  return (t1 && strcmp (t1, "sandbox") == 0) || (t2 && strcmp (t2, "sandbox") == 0);
}

int
nsfd_policy_maybe_activated (const struct nsfd_annotations *a)
{
  bool ours = false;

  if (a == NULL)
    return 0;
  for (size_t i = 0; i < a->len; i++)
    if (strncmp (a->items[i].key, NSFD_ANNOTATION_PREFIX, PREFIX_LEN) == 0)
      {
        ours = true;
        break;
      }
  return ours && !is_sandbox (a);
}

static bool
is_control (unsigned char c, unsigned char next)
{
  if (c < 0x20 || c == 0x7f)
    return true;
  /* C1 controls as UTF-8 (U+0080..U+009F). */
  return c == 0xc2 && next >= 0x80 && next <= 0x9f;
}

/* Checks common to every value; key names the annotation in messages. */
static int
check_value_text (const char *key, const char *value, nsfd_error_t *err)
{
  size_t len = strlen (value);

  if (len == 0)
    return nsfd_make_error (err, 0, "annotation \"%s\": empty value; set a value or remove the annotation", key);
  if (len > NSFD_MAX_ANNOTATION_VALUE)
    return nsfd_make_error (err, 0, "annotation \"%s\": value is %zu bytes, longer than the limit of %d", key,
                            len, NSFD_MAX_ANNOTATION_VALUE);
  for (size_t i = 0; i < len; i++)
    if (is_control ((unsigned char) value[i], (unsigned char) value[i + 1]))
      return nsfd_make_error (err, 0,
                              "annotation \"%s\": value contains a control character (byte %zu); remove it", key, i);
  return 0;
}

int
nsfd_policy_normalize_path (const char *in, char **out, nsfd_error_t *err)
{
  int ret;

  *out = NULL;
  if (in == NULL)
    return nsfd_make_error (err, 0, "path: missing");
  ret = check_value_text ("path", in, err);
  if (ret < 0)
    return ret;
  if (in[0] != '/')
    {
      char v[SHOWN];
      return nsfd_make_error (err, 0, "path \"%s\" is relative; use the absolute path inside the container",
                              ESC (in, v));
    }
  *out = nsfd_oci_path_clean (in);
  if (*out == NULL)
    {
      if (errno == ENOMEM)
        return nsfd_make_error (err, ENOMEM, "normalising path");
      {
        char v[SHOWN];
        return nsfd_make_error (err, 0, "path \"%s\" contains a \"..\" component; use a plain absolute path",
                                ESC (in, v));
      }
    }
  return 0;
}

/* A path value of annotation key: absolute, inside the container, not "/". */
static int
parse_path_value (const char *key, const char *value, char **out, nsfd_error_t *err)
{
  char v[SHOWN];
  int ret = check_value_text (key, value, err);
  if (ret < 0)
    return ret;
  if (value[0] != '/')
    return nsfd_make_error (err, 0,
                            "annotation \"%s\": \"%s\" is a relative path; give the absolute destination of a volume "
                            "mount inside the container, e.g. \"/data\"",
                            key, ESC (value, v));
  *out = nsfd_oci_path_clean (value);
  if (*out == NULL)
    {
      if (errno == ENOMEM)
        return nsfd_make_error (err, ENOMEM, "annotation \"%s\"", key);
      return nsfd_make_error (err, 0,
                              "annotation \"%s\": \"%s\" contains a \"..\" component; give the plain destination of a "
                              "volume mount inside the container",
                              key, ESC (value, v));
    }
  if (strcmp (*out, "/") == 0)
    {
      free (*out);
      *out = NULL;
      return nsfd_make_error (err, 0,
                              "annotation \"%s\": \"/\" is the container's root, not a volume; give the destination "
                              "of a volume mount, e.g. \"/data\"",
                              key);
    }
  return 0;
}

static int
parse_bool_value (const char *key, const char *value, int *out, nsfd_error_t *err)
{
  char v[SHOWN];
  int ret = check_value_text (key, value, err);
  if (ret < 0)
    return ret;
  if (strcmp (value, "true") == 0)
    *out = 1;
  else if (strcmp (value, "false") == 0)
    *out = 0;
  else
    return nsfd_make_error (err, 0, "annotation \"%s\": \"%s\" is not a boolean; use \"true\" or \"false\"", key,
                            ESC (value, v));
  return 0;
}

static bool
is_name_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
         || c == '-';
}

static int
check_layer_name (const char *key, const char *value, nsfd_error_t *err)
{
  char v[SHOWN];
  size_t len;
  int ret = check_value_text (key, value, err);
  if (ret < 0)
    return ret;
  len = strlen (value);
  if (len > NSFD_MAX_LAYER_NAME || strcmp (value, ".") == 0 || strcmp (value, "..") == 0)
    goto bad;
  for (size_t i = 0; i < len; i++)
    if (!is_name_char (value[i]))
      goto bad;
  return 0;
bad:
  return nsfd_make_error (err, 0,
                          "annotation \"%s\": invalid layer name \"%s\"; use 1 to %d characters from [A-Za-z0-9_.-], "
                          "not \".\" or \"..\"",
                          key, ESC (value, v), NSFD_MAX_LAYER_NAME);
}

/* Kubernetes container names are DNS labels; other engines allow a little
 * more.  Anything else cannot be a container name and is a mistake. */
static bool
valid_container_name (const char *name)
{
  size_t len = strlen (name);
  if (len == 0 || len > MAX_CONTAINER_NAME)
    return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')
        || (name[0] >= '0' && name[0] <= '9')))
    return false;
  for (size_t i = 0; i < len; i++)
    if (!is_name_char (name[i]))
      return false;
  return true;
}

/* One of our annotations, split into its key kind and optional target. */
struct our_key
{
  const char *full;     /* the annotation key, escaped for messages */
  char shown[SHOWN];
  const char *value;
  enum key_kind kind;
  const char *target;   /* container name, or NULL for the pod-wide form */
};

static int
split_key (const struct nsfd_kv *kv, struct our_key *out, nsfd_error_t *err)
{
  const char *rest = kv->key + PREFIX_LEN;
  const char *dot = strchr (rest, '.');
  size_t base_len = dot ? (size_t) (dot - rest) : strlen (rest);

  out->full = ESC (kv->key, out->shown);
  out->value = kv->value;
  out->target = NULL;
  for (int k = 0; k < KEY__COUNT; k++)
    if (strlen (key_names[k]) == base_len && strncmp (rest, key_names[k], base_len) == 0)
      {
        out->kind = (enum key_kind) k;
        if (dot)
          {
            out->target = dot + 1;
            if (!valid_container_name (out->target))
              {
                char t[SHOWN];
                return nsfd_make_error (err, 0,
                                        "annotation \"%s\": \"%s\" is not a valid container name; the "
                                        "per-container form is \"" NSFD_ANNOTATION_PREFIX "%s.<container-name>\"",
                                        out->full, ESC (out->target, t), key_names[k]);
              }
          }
        return 0;
      }
  return nsfd_make_error (err, 0,
                          "annotation \"%s\": unknown key under \"" NSFD_ANNOTATION_PREFIX "\" (known: " KNOWN_KEYS
                          ", each optionally as <key>.<container-name>); fix the spelling or remove it",
                          out->full);
}

/* Checks a value for its kind (normalised result discarded). */
static int
check_value (const struct our_key *k, nsfd_error_t *err)
{
  cleanup_free char *path = NULL;
  int b;

  switch (k->kind)
    {
    case KEY_PERSIST:
    case KEY_LOWER:
      return parse_path_value (k->full, k->value, &path, err);
    case KEY_KEEP_VISIBLE:
    case KEY_ACCEPT_IMAGE_CHANGE:
    case KEY_RESTORE_ANY_LAYER:
      return parse_bool_value (k->full, k->value, &b, err);
    case KEY_LAYER:
      return check_layer_name (k->full, k->value, err);
    default:
      return nsfd_make_error (err, 0, "annotation \"%s\": internal error", k->full);
    }
}

void
nsfd_request_free (struct nsfd_request *r)
{
  if (r == NULL)
    return;
  free (r->container_name);
  free (r->persist_dest);
  free (r->lower_dest);
  free (r->layer_name);
  memset (r, 0, sizeof (*r));
}

static int
container_name (const struct nsfd_annotations *a, char **out, nsfd_error_t *err)
{
  const char *n1 = nsfd_annotations_get (a, NSFD_ANN_CRI_CONTAINER_NAME);
  const char *n2 = nsfd_annotations_get (a, NSFD_ANN_CRIO_CONTAINER_NAME);

  *out = NULL;
  /* Both present and different: one of them was set by the pod author to
   * impersonate another container.  Refuse rather than guess. */
  if (n1 && n2 && strcmp (n1, n2) != 0)
    {
      char s1[SHOWN], s2[SHOWN];
      return nsfd_make_error (err, 0,
                              "annotations \"%s\" (\"%s\") and \"%s\" (\"%s\") disagree on the container name; "
                              "remove the one that was set by hand",
                              NSFD_ANN_CRI_CONTAINER_NAME, ESC (n1, s1), NSFD_ANN_CRIO_CONTAINER_NAME, ESC (n2, s2));
    }
  if (n1 == NULL)
    n1 = n2;
  if (n1 == NULL)
    return 0;
  *out = strdup (n1);
  if (*out == NULL)
    return nsfd_make_error (err, ENOMEM, "container name");
  return 0;
}

/* Our annotations, split and checked.  Every value is checked, also those
 * for other containers: a mistake is reported in every container of the
 * pod, not only in one. */
static int
collect_keys (const struct nsfd_annotations *a, struct our_key *keys, size_t *n, bool *any_persist,
              nsfd_error_t *err)
{
  *n = 0;
  *any_persist = false;
  for (size_t i = 0; i < a->len; i++)
    {
      if (strncmp (a->items[i].key, NSFD_ANNOTATION_PREFIX, PREFIX_LEN) != 0)
        continue;
      if (split_key (&a->items[i], &keys[*n], err) < 0 || check_value (&keys[*n], err) < 0)
        return -1;
      if (keys[*n].kind == KEY_PERSIST)
        *any_persist = true;
      (*n)++;
    }
  return 0;
}

/* A per-container option needs that container to be activated. */
static bool
target_activated (const struct our_key *keys, size_t n, const char *target)
{
  for (size_t j = 0; j < n; j++)
    if (keys[j].kind == KEY_PERSIST && (keys[j].target == NULL || strcmp (keys[j].target, target) == 0))
      return true;
  return false;
}

/* The value of each kind for this container: per-container beats pod-wide.
 * Options without an activation they could apply to are errors. */
static int
effective_keys (const struct our_key *keys, size_t n, bool any_persist, const char *name,
                const struct our_key *eff[KEY__COUNT], nsfd_error_t *err)
{
  const struct our_key *own[KEY__COUNT] = { NULL };

  for (size_t i = 0; i < n; i++)
    {
      const struct our_key *k = &keys[i];
      if (k->target == NULL)
        {
          /* A pod-wide option needs an activation somewhere in the pod. */
          if (k->kind != KEY_PERSIST && !any_persist)
            return nsfd_make_error (err, 0,
                                    "annotation \"%s\" has no effect without \"" NSFD_ANNOTATION_PREFIX
                                    "persist\"; add the persist annotation or remove this one",
                                    k->full);
          if (eff[k->kind] == NULL)
            eff[k->kind] = k;
          continue;
        }
      if (k->kind != KEY_PERSIST && !target_activated (keys, n, k->target))
        return nsfd_make_error (err, 0,
                                "annotation \"%s\" has no effect: container \"%s\" has no \"" NSFD_ANNOTATION_PREFIX
                                "persist\" annotation; add \"" NSFD_ANNOTATION_PREFIX "persist.%s\" or remove "
                                "this one",
                                k->full, k->target, k->target);
      if (name && strcmp (k->target, name) == 0)
        own[k->kind] = k;
    }
  for (int kind = 0; kind < KEY__COUNT; kind++)
    if (own[kind])
      eff[kind] = own[kind];
  return 0;
}

static int
bool_option (const struct our_key *k, int *out, nsfd_error_t *err)
{
  return k ? parse_bool_value (k->full, k->value, out, err) : 0;
}

/* The request from the effective values (persist is set). */
static int
fill_request (const struct our_key *const eff[KEY__COUNT], struct nsfd_request *out, nsfd_error_t *err)
{
  if (parse_path_value (eff[KEY_PERSIST]->full, eff[KEY_PERSIST]->value, &out->persist_dest, err) < 0)
    return -1;
  if (eff[KEY_LOWER])
    {
      if (parse_path_value (eff[KEY_LOWER]->full, eff[KEY_LOWER]->value, &out->lower_dest, err) < 0)
        return -1;
      if (strcmp (out->lower_dest, out->persist_dest) == 0)
        return nsfd_make_error (err, 0,
                                "annotation \"%s\": \"%s\" is also the persist volume; the lower layer must be a "
                                "different, read-only volume",
                                eff[KEY_LOWER]->full, out->lower_dest);
    }
  if (bool_option (eff[KEY_KEEP_VISIBLE], &out->keep_volume_visible, err) < 0
      || bool_option (eff[KEY_ACCEPT_IMAGE_CHANGE], &out->accept_image_change, err) < 0
      || bool_option (eff[KEY_RESTORE_ANY_LAYER], &out->restore_any_layer, err) < 0)
    return -1;
  out->layer_name = strdup (eff[KEY_LAYER] ? eff[KEY_LAYER]->value : NSFD_DEFAULT_LAYER_NAME);
  if (out->layer_name == NULL)
    return nsfd_make_error (err, ENOMEM, "layer name");
  out->activated = 1;
  return 0;
}

static int
policy_parse (const struct nsfd_annotations *a, struct nsfd_request *out, nsfd_error_t *err)
{
  cleanup_free struct our_key *keys = NULL;
  const struct our_key *eff[KEY__COUNT] = { NULL };
  bool any_persist;
  size_t n;

  if (a == NULL || a->len == 0)
    return 0;
  if (is_sandbox (a))
    {
      /* The pause container is never activated, whatever pod annotations it
       * inherited. */
      out->is_sandbox = 1;
      return 0;
    }
  if (container_name (a, &out->container_name, err) < 0)
    return -1;
  keys = calloc (a->len, sizeof (*keys));
  if (keys == NULL)
    return nsfd_make_error (err, ENOMEM, "annotations");
  if (collect_keys (a, keys, &n, &any_persist, err) < 0)
    return -1;
  if (n == 0)
    return 0;
  if (effective_keys (keys, n, any_persist, out->container_name, eff, err) < 0)
    return -1;
  if (eff[KEY_PERSIST] == NULL)
    return 0; /* e.g. a sidecar while per-container keys name another container */
  return fill_request (eff, out, err);
}

int
nsfd_policy_parse (const struct nsfd_annotations *a, struct nsfd_request *out, nsfd_error_t *err)
{
  int ret;

  memset (out, 0, sizeof (*out));
  ret = policy_parse (a, out, err);
  if (ret < 0)
    nsfd_request_free (out);
  return ret;
}

int
nsfd_policy_check_container_id (const char *id, nsfd_error_t *err)
{
  size_t len;

  if (id == NULL || id[0] == '\0')
    return nsfd_make_error (err, 0, "container id is empty");
  len = strlen (id);
  if (len > 128)
    {
      char shown[SHOWN];
      return nsfd_make_error (err, 0, "container id \"%s\" is longer than 128 characters", ESC (id, shown));
    }
  /* It becomes a directory and socket name: no separators, no hidden or
   * option-looking names. */
  if (id[0] == '-' || id[0] == '.')
    {
      char shown[SHOWN];
      return nsfd_make_error (err, 0, "container id \"%s\" starts with \"%c\"", ESC (id, shown), id[0]);
    }
  for (size_t i = 0; i < len; i++)
    if (!is_name_char (id[i]))
      return nsfd_make_error (err, 0, "container id contains an invalid character at position %zu (allowed: "
                              "[A-Za-z0-9_.-])", i);
  return 0;
}
