/* lib/policy.c: activation, per-container precedence, sandboxes, hostile
 * values, unknown keys, container ids. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "oci.h"
#include "policy.h"
#include "tap.h"
#include "testutil.h"

/* Builds annotations from "key", "value", ..., NULL (borrowed strings). */
static struct nsfd_annotations
ann (const char *k, ...)
{
  static struct nsfd_kv items[64];
  struct nsfd_annotations a = { items, 0 };
  va_list ap;

  va_start (ap, k);
  for (; k; k = va_arg (ap, const char *))
    {
      items[a.len].key = (char *) k;
      items[a.len].value = (char *) va_arg (ap, const char *);
      a.len++;
    }
  va_end (ap);
  return a;
}

/* Runs the policy; returns the error text or NULL, fills *r on success. */
static const char *
run (const struct nsfd_annotations *a, struct nsfd_request *r)
{
  static char msg[2048];
  nsfd_error_t err = NULL;
  if (nsfd_policy_parse (a, r, &err) == 0)
    return NULL;
  snprintf (msg, sizeof (msg), "%s", nsfd_error_text (err));
  nsfd_error_free (&err);
  if (r->persist_dest || r->layer_name || r->activated)
    return "request not cleared after failure";
  return msg;
}

/* Reads and parses a state document from tests/unit/data; says why not. */
static int
load_state (const char *name, struct nsfd_oci_state *s)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  nsfd_error_t err = NULL;

  if (tu_read_data (name, &buf, &len) < 0)
    return -1;
  if (nsfd_oci_state_parse (buf, len, s, &err) < 0)
    {
      printf ("# %s: %s\n", name, nsfd_error_text (err));
      nsfd_error_free (&err);
      return -1;
    }
  return 0;
}

static void
test_activation (void)
{
  struct nsfd_request r;
  struct nsfd_annotations a;
  const char *e;

  a = ann ("foo", "bar", NULL);
  CHECK (!nsfd_policy_maybe_activated (&a), "no prefix: idle");
  e = run (&a, &r);
  CHECK (e == NULL && !r.activated && !r.is_sandbox, "no prefix: not activated");
  nsfd_request_free (&r);

  a = ann (NULL);
  e = run (&a, &r);
  CHECK (e == NULL && !r.activated, "no annotations: not activated");
  CHECK (nsfd_policy_parse (NULL, &r, NULL) == 0 && !r.activated, "NULL annotations");

  a = ann ("nsfdsuds.io/persist", "/data", NULL);
  CHECK (nsfd_policy_maybe_activated (&a), "persist: maybe activated");
  e = run (&a, &r);
  CHECK (e == NULL && r.activated, "persist activates");
  CHECK (r.persist_dest && strcmp (r.persist_dest, "/data") == 0, "persist_dest /data");
  CHECK (r.lower_dest == NULL && r.keep_volume_visible == 0, "defaults: no lower, volume hidden");
  CHECK (r.layer_name && strcmp (r.layer_name, "default") == 0, "default layer name");
  CHECK (r.container_name == NULL, "no container name");
  nsfd_request_free (&r);

  a = ann ("nsfdsuds.io/persist", "//data/./x/", "nsfdsuds.io/lower", "/base/", "nsfdsuds.io/keep-volume-visible",
           "true", "nsfdsuds.io/layer", "my_layer-1.0", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated, "all options (%s)", e ? e : "ok");
  if (e == NULL)
    {
      CHECK (strcmp (r.persist_dest, "/data/x") == 0, "persist normalised: %s", r.persist_dest);
      CHECK (strcmp (r.lower_dest, "/base") == 0, "lower normalised");
      CHECK (r.keep_volume_visible == 1, "keep-volume-visible true");
      CHECK (strcmp (r.layer_name, "my_layer-1.0") == 0, "layer name");
    }
  nsfd_request_free (&r);

  a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/keep-volume-visible", "false", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated && r.keep_volume_visible == 0, "keep-volume-visible false");
  nsfd_request_free (&r);

  /* Real documents from the runtimes */
  {
    const char *files[] = { "state-runc-createRuntime.json", "state-crun-createContainer.json",
                            "state-podman-createRuntime.json" };
    for (size_t i = 0; i < NSFD_ARRAY_SIZE (files); i++)
      {
        struct nsfd_oci_state s;
        if (load_state (files[i], &s) < 0)
          {
            CHECK (0, "reading %s", files[i]);
            continue;
          }
        CHECK (nsfd_policy_maybe_activated (&s.annotations), "%s: maybe activated", files[i]);
        e = run (&s.annotations, &r);
        CHECK (e == NULL && r.activated && strcmp (r.persist_dest, "/data") == 0, "%s: activated for /data",
               files[i]);
        if (i < 2)
          CHECK (r.container_name && strcmp (r.container_name, "app") == 0, "%s: container name app", files[i]);
        nsfd_request_free (&r);
        nsfd_oci_state_free (&s);
      }
  }
}

/* CRI-shaped documents: a containerd sandbox and a CRI-O pod whose
 * annotations target the "app" container. */
static void
test_cri_documents (void)
{
  struct nsfd_oci_state s;
  struct nsfd_request r;
  const char *e;

  if (load_state ("state-containerd-sandbox.json", &s) == 0)
    {
      CHECK (!nsfd_policy_maybe_activated (&s.annotations), "containerd sandbox document: idle");
      e = run (&s.annotations, &r);
      CHECK (e == NULL && r.is_sandbox && !r.activated, "containerd sandbox document: skipped");
      nsfd_request_free (&r);
      nsfd_oci_state_free (&s);
    }
  else
    CHECK (0, "containerd sandbox document loads");
  if (load_state ("state-crio-sidecar.json", &s) == 0)
    {
      e = run (&s.annotations, &r);
      CHECK (e == NULL && !r.activated && !r.is_sandbox && strcmp (r.container_name, "logger") == 0,
             "CRI-O sidecar document: left alone (%s)", S (e));
      nsfd_request_free (&r);
      nsfd_oci_state_free (&s);
    }
  else
    CHECK (0, "CRI-O sidecar document loads");
  if (load_state ("state-crio-app.json", &s) == 0)
    {
      e = run (&s.annotations, &r);
      CHECK (e == NULL && r.activated && strcmp (r.persist_dest, "/data") == 0 && strcmp (r.layer_name, "web-root") == 0,
             "CRI-O app document: activated with layer web-root (%s)", S (e));
      nsfd_request_free (&r);
      nsfd_oci_state_free (&s);
    }
  else
    CHECK (0, "CRI-O app document loads");
}

static void
test_sandbox (void)
{
  struct nsfd_request r;
  struct nsfd_annotations a;
  const char *e;

  a = ann ("nsfdsuds.io/persist", "/data", NSFD_ANN_CRI_CONTAINER_TYPE, "sandbox", NULL);
  CHECK (!nsfd_policy_maybe_activated (&a), "containerd sandbox: idle");
  e = run (&a, &r);
  CHECK (e == NULL && r.is_sandbox && !r.activated, "containerd sandbox: not activated");
  nsfd_request_free (&r);

  a = ann (NSFD_ANN_CRIO_CONTAINER_TYPE, "sandbox", "nsfdsuds.io/persist", "/data", NULL);
  CHECK (!nsfd_policy_maybe_activated (&a), "CRI-O sandbox: idle");
  e = run (&a, &r);
  CHECK (e == NULL && r.is_sandbox && !r.activated, "CRI-O sandbox: not activated");
  nsfd_request_free (&r);

  /* Even broken keys do not fail the pause container. */
  a = ann (NSFD_ANN_CRI_CONTAINER_TYPE, "sandbox", "nsfdsuds.io/persits", "../x", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.is_sandbox && !r.activated, "sandbox with bad keys: return 0");
  nsfd_request_free (&r);

  a = ann ("nsfdsuds.io/persist", "/data", NSFD_ANN_CRI_CONTAINER_TYPE, "container", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && !r.is_sandbox && r.activated, "container type container: activated");
  nsfd_request_free (&r);
}

static void
test_per_container (void)
{
  struct nsfd_request r;
  struct nsfd_annotations a;
  const char *e;

  /* Pod-wide persist activates every non-sandbox container. */
  a = ann ("nsfdsuds.io/persist", "/data", NSFD_ANN_CRI_CONTAINER_NAME, "sidecar", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated && strcmp (r.container_name, "sidecar") == 0, "pod-wide persist: sidecar too");
  nsfd_request_free (&r);

  /* Per-container key: only the named container. */
  a = ann ("nsfdsuds.io/persist.app", "/data", NSFD_ANN_CRI_CONTAINER_NAME, "app", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated && strcmp (r.persist_dest, "/data") == 0, "persist.app: app activated");
  nsfd_request_free (&r);
  a = ann ("nsfdsuds.io/persist.app", "/data", NSFD_ANN_CRI_CONTAINER_NAME, "sidecar", NULL);
  CHECK (nsfd_policy_maybe_activated (&a), "persist.app: sidecar maybe (cheap check)");
  e = run (&a, &r);
  CHECK (e == NULL && !r.activated, "persist.app: sidecar left alone");
  nsfd_request_free (&r);
  a = ann ("nsfdsuds.io/persist.app", "/data", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && !r.activated, "persist.app: unnamed container left alone");
  nsfd_request_free (&r);

  /* CRI-O's name annotation */
  a = ann ("nsfdsuds.io/persist.app", "/data", NSFD_ANN_CRIO_CONTAINER_NAME, "app", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated && strcmp (r.container_name, "app") == 0, "CRI-O name: app activated");
  nsfd_request_free (&r);

  /* Per-container beats pod-wide, key by key. */
  a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/persist.db", "/var/lib/db", "nsfdsuds.io/layer", "pod",
           "nsfdsuds.io/layer.db", "dblayer", "nsfdsuds.io/keep-volume-visible", "true", NSFD_ANN_CRI_CONTAINER_NAME,
           "db", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated, "precedence: db activated (%s)", e ? e : "ok");
  if (e == NULL)
    {
      CHECK (strcmp (r.persist_dest, "/var/lib/db") == 0, "precedence: persist.db wins");
      CHECK (strcmp (r.layer_name, "dblayer") == 0, "precedence: layer.db wins");
      CHECK (r.keep_volume_visible == 1, "precedence: pod-wide keep-volume-visible applies");
    }
  nsfd_request_free (&r);
  a.items[a.len - 1].value = (char *) "web";
  e = run (&a, &r);
  CHECK (e == NULL && r.activated && strcmp (r.persist_dest, "/data") == 0 && strcmp (r.layer_name, "pod") == 0,
         "precedence: web gets the pod-wide values");
  nsfd_request_free (&r);

  /* Pod-wide option with only per-container persist: the sidecar is left
   * alone, the app gets the option. */
  a = ann ("nsfdsuds.io/persist.app", "/data", "nsfdsuds.io/layer", "x", NSFD_ANN_CRI_CONTAINER_NAME, "sidecar",
           NULL);
  e = run (&a, &r);
  CHECK (e == NULL && !r.activated, "pod-wide layer + persist.app: sidecar left alone");
  nsfd_request_free (&r);
  a.items[2].value = (char *) "app";
  e = run (&a, &r);
  CHECK (e == NULL && r.activated && strcmp (r.layer_name, "x") == 0, "pod-wide layer + persist.app: app uses it");
  nsfd_request_free (&r);

  /* Names disagree: refused */
  a = ann ("nsfdsuds.io/persist.app", "/data", NSFD_ANN_CRI_CONTAINER_NAME, "app", NSFD_ANN_CRIO_CONTAINER_NAME,
           "other", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "disagree", "conflicting names: %s", S (e));
}

static void
test_errors (void)
{
  struct nsfd_request r;
  struct nsfd_annotations a;
  const char *e;
  char long_path[NSFD_MAX_ANNOTATION_VALUE + 2];

  a = ann ("nsfdsuds.io/persits", "/data", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "\"nsfdsuds.io/persits\": unknown key", "typo: %s", S (e));
  CHECK_STR_CONTAINS (e, "fix the spelling", "typo says what to do");
  a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/", "x", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "unknown key", "bare prefix: %s", S (e));
  a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/Persist", "/x", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "unknown key", "case matters: %s", S (e));
  a = ann ("nsfdsuds.io/persistx.app", "/data", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "unknown key", "unknown per-container key: %s", S (e));

  /* invalid container names in the per-container form */
  const char *bad_names[] = { "nsfdsuds.io/persist.", "nsfdsuds.io/persist.-app", "nsfdsuds.io/persist.a/b",
                              "nsfdsuds.io/persist.a b", "nsfdsuds.io/persist..app", "nsfdsuds.io/persist.a\nb" };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (bad_names); i++)
    {
      a = ann (bad_names[i], "/data", NULL);
      e = run (&a, &r);
      CHECK_STR_CONTAINS (e, "is not a valid container name", "bad container name %zu: %s", i, S (e));
    }

  /* options without persist */
  a = ann ("nsfdsuds.io/layer", "x", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "\"nsfdsuds.io/layer\" has no effect without", "layer alone: %s", S (e));
  a = ann ("nsfdsuds.io/lower", "/base", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "\"nsfdsuds.io/lower\" has no effect", "lower alone: %s", S (e));
  a = ann ("nsfdsuds.io/keep-volume-visible", "true", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "has no effect", "keep-volume-visible alone: %s", S (e));
  a = ann ("nsfdsuds.io/persist.app", "/data", "nsfdsuds.io/layer.db", "x", NSFD_ANN_CRI_CONTAINER_NAME, "app", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "container \"db\" has no", "layer.db without persist.db: %s", S (e));
  a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/layer.db", "x", NSFD_ANN_CRI_CONTAINER_NAME, "db", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated && strcmp (r.layer_name, "x") == 0, "layer.db with pod-wide persist ok");
  nsfd_request_free (&r);

  /* hostile path values */
  memset (long_path, 'a', sizeof (long_path) - 1);
  long_path[0] = '/';
  long_path[sizeof (long_path) - 1] = '\0';
  struct
  {
    const char *value, *expect;
  } paths[] = {
    { "", "empty value" },
    { "data", "relative path" },
    { "./data", "relative path" },
    { "/data/../etc", "\"..\" component" },
    { "/..", "\"..\" component" },
    { "/data/..", "\"..\" component" },
    { "/da\nta", "control character" },
    { "/da\tta", "control character" },
    { "/da\rta", "control character" },
    { "/da\x1bta", "control character" },
    { "/da\x7fta", "control character" },
    { "/da\xc2\x85ta", "control character" },
    { "/", "container's root" },
    { "//./", "container's root" },
    { long_path, "longer than the limit of 1024" },
  };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (paths); i++)
    for (int key = 0; key < 3; key++)
      {
        const char *k = key == 0 ? "nsfdsuds.io/persist" : key == 1 ? "nsfdsuds.io/lower" : "nsfdsuds.io/persist.x";
        if (key == 1)
          a = ann ("nsfdsuds.io/persist", "/data", k, paths[i].value, NULL);
        else
          a = ann (k, paths[i].value, NULL);
        e = run (&a, &r);
        CHECK (e && strstr (e, paths[i].expect) && strstr (e, k), "%s value %zu: %s", k, i, e ? e : "accepted!");
      }
  /* NUL: the OCI reader refuses it before the policy sees it */
  {
    const char *doc = "{\"ociVersion\":\"1\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\","
                      "\"annotations\":{\"nsfdsuds.io/persist\":\"/data\\u0000/../etc\"}}";
    struct nsfd_oci_state s;
    nsfd_error_t err = NULL;
    CHECK (nsfd_oci_state_parse (doc, strlen (doc), &s, &err) < 0, "NUL in value refused by the reader");
    nsfd_error_free (&err);
  }
  /* exactly 1024 is fine */
  long_path[NSFD_MAX_ANNOTATION_VALUE] = '\0';
  a = ann ("nsfdsuds.io/persist", long_path, NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated, "1024-byte path accepted");
  nsfd_request_free (&r);
  /* UTF-8 names are fine, ".." inside a name is fine */
  a = ann ("nsfdsuds.io/persist", "/dätä/..old/x..y", NULL);
  e = run (&a, &r);
  CHECK (e == NULL && r.activated, "UTF-8 and \"..\" inside a name accepted (%s)", e ? e : "ok");
  nsfd_request_free (&r);

  a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/lower", "/data/", NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "also the persist volume", "lower == persist: %s", S (e));

  /* keep-volume-visible values */
  const char *bools[] = { "yes", "True", "1", "", "true ", "TRUE" };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (bools); i++)
    {
      a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/keep-volume-visible", bools[i], NULL);
      e = run (&a, &r);
      CHECK (e && strstr (e, "nsfdsuds.io/keep-volume-visible"), "keep-volume-visible \"%s\": %s", bools[i], S (e));
    }

  /* layer names */
  const char *bad_layers[] = { "", ".", "..", "a/b", "a b", "../x",
                               "x2345678901234567890123456789012345678901234567890123456789012345", "a\nb", "ä" };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (bad_layers); i++)
    {
      a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/layer", bad_layers[i], NULL);
      e = run (&a, &r);
      CHECK (e && strstr (e, "nsfdsuds.io/layer"), "bad layer %zu: %s", i, S (e));
    }
  const char *good_layers[] = { "a", "...", "x.y", "A-Z_0.9",
                                "x23456789012345678901234567890123456789012345678901234567890123" };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (good_layers); i++)
    {
      a = ann ("nsfdsuds.io/persist", "/data", "nsfdsuds.io/layer", good_layers[i], NULL);
      e = run (&a, &r);
      CHECK (e == NULL && strcmp (r.layer_name, good_layers[i]) == 0, "good layer \"%s\"", good_layers[i]);
      nsfd_request_free (&r);
    }

  /* A bad value aimed at another container still fails: the pod is broken. */
  a = ann ("nsfdsuds.io/persist.app", "/data", "nsfdsuds.io/persist.db", "../x", NSFD_ANN_CRI_CONTAINER_NAME, "app",
           NULL);
  e = run (&a, &r);
  CHECK_STR_CONTAINS (e, "nsfdsuds.io/persist.db", "bad value for another container: %s", S (e));
}

static void
test_normalize (void)
{
  char *o = NULL;
  nsfd_error_t err = NULL;

  CHECK (nsfd_policy_normalize_path ("/a//b/./c/", &o, &err) == 0 && strcmp (o, "/a/b/c") == 0, "normalize");
  free (o);
  CHECK (nsfd_policy_normalize_path ("/", &o, &err) == 0 && strcmp (o, "/") == 0, "normalize /");
  free (o);
  CHECK (nsfd_policy_normalize_path ("a/b", &o, &err) < 0 && o == NULL, "relative refused");
  nsfd_error_free (&err);
  CHECK (nsfd_policy_normalize_path ("/a/../b", &o, &err) < 0, "dotdot refused");
  nsfd_error_free (&err);
  CHECK (nsfd_policy_normalize_path ("", &o, &err) < 0, "empty refused");
  nsfd_error_free (&err);
  CHECK (nsfd_policy_normalize_path ("/a\x01", &o, &err) < 0, "control refused");
  nsfd_error_free (&err);
}

static void
test_container_id (void)
{
  const char *good[] = { "a", "C-statecap", "abc_DEF.123-x", "a..b",
                         "a6540335f6e5819f00e63af27fd5b6d91ad1445b9f6082217ff60b1bc44eb814" };
  const char *bad[] = { "", ".", "..", "-a", ".hidden", "a/b", "a b", "a\nb", "ä", "../x" };
  char long_id[130];
  nsfd_error_t err = NULL;

  for (size_t i = 0; i < NSFD_ARRAY_SIZE (good); i++)
    CHECK (nsfd_policy_check_container_id (good[i], &err) == 0, "id \"%s\" ok", good[i]);
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (bad); i++)
    {
      CHECK (nsfd_policy_check_container_id (bad[i], &err) < 0, "id %zu refused: %s", i, nsfd_error_text (err));
      nsfd_error_free (&err);
    }
  CHECK (nsfd_policy_check_container_id (NULL, &err) < 0, "NULL id refused");
  nsfd_error_free (&err);
  memset (long_id, 'a', 128);
  long_id[128] = '\0';
  CHECK (nsfd_policy_check_container_id (long_id, &err) == 0, "128 chars ok");
  long_id[128] = 'a';
  long_id[129] = '\0';
  CHECK (nsfd_policy_check_container_id (long_id, &err) < 0, "129 chars refused");
  nsfd_error_free (&err);
}

int
main (void)
{
  test_activation ();
  test_sandbox ();
  test_cri_documents ();
  test_per_container ();
  test_errors ();
  test_normalize ();
  test_container_id ();
  TAP_DONE ();
}
