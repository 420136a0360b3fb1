/* lib/oci.c: state and config.json from real runtimes, every error class,
 * idmaps, mount lookup, bounded reads. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "oci.h"
#include "tap.h"
#include "testutil.h"

/* A file from tests/unit/data; the test cannot go on without it. */
static char *
load_data (const char *name, size_t *len)
{
  char *buf = NULL;
  if (tu_read_data (name, &buf, len) < 0)
    exit (EXIT_FAILURE);
  return buf;
}

/* Parses a state document from a string; returns the error text (owned by a
 * static buffer) or NULL on success. */
static const char *
state_err (const char *doc)
{
  static char msg[1024];
  struct nsfd_oci_state s;
  nsfd_error_t err = NULL;
  int ret = nsfd_oci_state_parse (doc, strlen (doc), &s, &err);
  if (ret == 0)
    {
      nsfd_oci_state_free (&s);
      return NULL;
    }
  snprintf (msg, sizeof (msg), "%s", nsfd_error_text (err));
  nsfd_error_free (&err);
  /* A failed parse leaves nothing behind. */
  if (s.id != NULL || s.annotations.items != NULL)
    return "state not cleared after failure";
  return msg;
}

static const char *
config_err (const char *doc)
{
  static char msg[1024];
  struct nsfd_oci_config c;
  nsfd_error_t err = NULL;
  int ret = nsfd_oci_config_parse (doc, strlen (doc), &c, &err);
  if (ret == 0)
    {
      nsfd_oci_config_free (&c);
      return NULL;
    }
  snprintf (msg, sizeof (msg), "%s", nsfd_error_text (err));
  nsfd_error_free (&err);
  if (c.mounts != NULL || c.root_path != NULL)
    return "config not cleared after failure";
  return msg;
}

static void
test_real_states (void)
{
  struct
  {
    const char *file, *status, *id;
    pid_t pid; /* -1: any positive */
  } cases[] = {
    { "state-runc-createRuntime.json", "creating", "C-statecap", -1 },
    { "state-runc-createContainer.json", "creating", "C-statecap", 1 },
    { "state-runc-poststop.json", "stopped", "C-statecap", 0 },
    { "state-crun-createRuntime.json", "created", "C-statecap-crun", -1 },
    { "state-crun-createContainer.json", "created", "C-statecap-crun", 0 },
    { "state-crun-poststop.json", "stopped", "C-statecap-crun", 0 },
  };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (cases); i++)
    {
      size_t len;
      cleanup_free char *buf = load_data (cases[i].file, &len);
      struct nsfd_oci_state s;
      nsfd_error_t err = NULL;
      int ret = nsfd_oci_state_parse (buf, len, &s, &err);
      CHECK (ret == 0, "%s parses (%s)", cases[i].file, ret ? nsfd_error_text (err) : "ok");
      if (ret != 0)
        {
          nsfd_error_free (&err);
          continue;
        }
      CHECK (strcmp (s.id, cases[i].id) == 0, "%s: id", cases[i].file);
      CHECK (strcmp (s.status, cases[i].status) == 0, "%s: status %s", cases[i].file, s.status);
      CHECK (strcmp (s.bundle, "/tmp/C-data/bundle") == 0, "%s: bundle", cases[i].file);
      CHECK (cases[i].pid < 0 ? s.pid > 1 : s.pid == cases[i].pid, "%s: pid %d", cases[i].file, (int) s.pid);
      CHECK (s.annotations.len == 4, "%s: 4 annotations", cases[i].file);
      CHECK_STR_CONTAINS (nsfd_annotations_get (&s.annotations, "nsfdsuds.io/persist"), "/data", "%s: persist",
                          cases[i].file);
      CHECK_STR_CONTAINS (nsfd_annotations_get (&s.annotations, NSFD_ANN_CRI_CONTAINER_NAME), "app",
                          "%s: container name", cases[i].file);
      CHECK (nsfd_annotations_get (&s.annotations, "nope") == NULL, "%s: absent annotation", cases[i].file);
      nsfd_oci_state_free (&s);
    }

  /* podman: CRI-O-style identity annotations, a 64-hex id */
  {
    size_t len;
    cleanup_free char *buf = load_data ("state-podman-createRuntime.json", &len);
    struct nsfd_oci_state s;
    nsfd_error_t err = NULL;
    int ret = nsfd_oci_state_parse (buf, len, &s, &err);
    CHECK (ret == 0, "podman state parses");
    if (ret == 0)
      {
        CHECK (strlen (s.id) == 64, "podman id");
        CHECK_STR_CONTAINS (nsfd_annotations_get (&s.annotations, NSFD_ANN_CRIO_CONTAINER_TYPE), "container",
                            "podman container type");
        CHECK (strcmp (s.oci_version, "1.0.2-dev") == 0, "podman ociVersion");
        nsfd_oci_state_free (&s);
      }
    nsfd_error_free (&err);
  }
}

static void
test_state_errors (void)
{
  const char *e;
  static const char good[] = "{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"creating\",\"bundle\":\"/b\"}";

  CHECK (state_err (good) == NULL, "minimal state ok");
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"creating\",\"bundle\":\"/b\",\"pid\":42,"
                 "\"root\":\"rootfs\",\"extra\":{\"a\":[1,2,{}]}}");
  CHECK (e == NULL, "unknown fields in state ignored (crun adds \"root\")");

  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":");
  CHECK_STR_CONTAINS (e, "invalid JSON", "truncated: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\" \"id\":\"x\"}");
  CHECK_STR_CONTAINS (e, "invalid JSON", "malformed: %s", S (e));
  e = state_err ("");
  CHECK_STR_CONTAINS (e, "empty", "empty: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\"} {}");
  CHECK_STR_CONTAINS (e, "invalid JSON", "trailing garbage: %s", S (e));
  e = state_err ("{/*c*/\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\"}");
  CHECK_STR_CONTAINS (e, "invalid JSON", "comments refused: %s", S (e));
  e = state_err ("[1,2]");
  CHECK_STR_CONTAINS (e, "state: expected an object", "top-level array: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"id\":\"y\",\"status\":\"c\",\"bundle\":\"/b\"}");
  CHECK_STR_CONTAINS (e, "state: duplicate field \"id\"", "duplicate id: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"status\":\"c\",\"bundle\":\"/b\"}");
  CHECK_STR_CONTAINS (e, "missing required field \"id\"", "missing id: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\"}");
  CHECK_STR_CONTAINS (e, "missing required field \"bundle\"", "missing bundle: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":7,\"status\":\"c\",\"bundle\":\"/b\"}");
  CHECK_STR_CONTAINS (e, "state: id: expected a string", "id number: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"b\"}");
  CHECK_STR_CONTAINS (e, "not an absolute path", "relative bundle: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\\u0000y\",\"status\":\"c\",\"bundle\":\"/b\"}");
  CHECK_STR_CONTAINS (e, "state: id: contains a NUL", "embedded NUL: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"\",\"status\":\"c\",\"bundle\":\"/b\"}");
  CHECK_STR_CONTAINS (e, "id: empty", "empty id: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"pid\":\"1\"}");
  CHECK_STR_CONTAINS (e, "pid: expected an integer", "pid string: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"pid\":1.5}");
  CHECK_STR_CONTAINS (e, "pid: expected an integer", "pid fraction: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"pid\":-1}");
  CHECK_STR_CONTAINS (e, "out of range", "negative pid: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"pid\":99999999999999999999}");
  CHECK_STR_CONTAINS (e, "out of range", "huge pid: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"annotations\":[]}");
  CHECK_STR_CONTAINS (e, "annotations: expected an object", "annotations array: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\","
                 "\"annotations\":{\"a\":1}}");
  CHECK_STR_CONTAINS (e, "expected a string", "annotation value number: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\","
                 "\"annotations\":{\"a\":\"1\",\"a\":\"2\"}}");
  CHECK_STR_CONTAINS (e, "duplicate field \"annotations.a\"", "duplicate annotation: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\","
                 "\"annotations\":{\"nsfdsuds.io/persist\":\"/d\\u0000x\"}}");
  CHECK_STR_CONTAINS (e, "NUL", "NUL in our annotation: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"id\":\"x\"}");
  CHECK_STR_CONTAINS (e, "duplicate", "duplicate after other fields: %s", S (e));
  e = state_err ("{\"ociVersion\":\"1.0\",\"id\":\"\xff\xfe\",\"status\":\"c\",\"bundle\":\"/b\"}");
  CHECK_STR_CONTAINS (e, "invalid JSON", "invalid UTF-8: %s", S (e));

  /* Long strings: the id limit, the general limit, and other tools' big
   * annotations (kubectl last-applied-configuration) that are left out. */
  {
    size_t n = NSFD_OCI_MAX_STRING + 100;
    char *big = malloc (n + 1);
    char *doc = malloc (n + 512);
    memset (big, 'a', n);
    big[n] = '\0';
    sprintf (doc, "{\"ociVersion\":\"1.0\",\"id\":\"%s\",\"status\":\"c\",\"bundle\":\"/b\"}", big);
    e = state_err (doc);
    CHECK_STR_CONTAINS (e, "state: id: string of", "long id: %s", S (e));
    sprintf (doc, "{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/%s\"}", big);
    e = state_err (doc);
    CHECK_STR_CONTAINS (e, "longer than the limit", "long bundle: %s", S (e));
    sprintf (doc,
             "{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"annotations\":{"
             "\"nsfdsuds.io/persist\":\"/%s\"}}",
             big);
    e = state_err (doc);
    CHECK_STR_CONTAINS (e, "longer than the limit", "long annotation of ours: %s", S (e));
    sprintf (doc,
             "{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"annotations\":{"
             "\"kubectl.kubernetes.io/last-applied-configuration\":\"%s\",\"nsfdsuds.io/persist\":\"/data\"}}",
             big);
    {
      struct nsfd_oci_state s;
      nsfd_error_t err = NULL;
      int ret = nsfd_oci_state_parse (doc, strlen (doc), &s, &err);
      CHECK (ret == 0, "big foreign annotation does not fail the state");
      if (ret == 0)
        {
          CHECK (s.annotations.len == 1, "big foreign annotation left out");
          CHECK (nsfd_annotations_get (&s.annotations, "nsfdsuds.io/persist") != NULL, "ours kept");
          nsfd_oci_state_free (&s);
        }
      nsfd_error_free (&err);
    }
    free (big);
    free (doc);
  }

  /* Too many annotations */
  {
    size_t cap = 64 * 1024;
    char *doc = malloc (cap);
    size_t o = (size_t) sprintf (doc, "{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\","
                                      "\"annotations\":{");
    for (int i = 0; i <= NSFD_OCI_MAX_ANNOTATIONS; i++)
      o += (size_t) sprintf (doc + o, "%s\"k%d\":\"v\"", i ? "," : "", i);
    sprintf (doc + o, "}}");
    e = state_err (doc);
    CHECK_STR_CONTAINS (e, "more than the limit of 1024", "too many annotations: %s", S (e));
    free (doc);
  }
}

static void
test_size_and_depth (void)
{
  struct nsfd_json *j = NULL;
  nsfd_error_t err = NULL;
  char deep[2 * NSFD_JSON_MAX_DEPTH + 8];
  int ret;

  /* Exactly 64 levels parse; 65 do not. */
  memset (deep, '[', NSFD_JSON_MAX_DEPTH);
  memset (deep + NSFD_JSON_MAX_DEPTH, ']', NSFD_JSON_MAX_DEPTH);
  deep[2 * NSFD_JSON_MAX_DEPTH] = '\0';
  ret = nsfd_json_parse ("t", deep, strlen (deep), &j, &err);
  CHECK (ret == 0, "depth 64 parses");
  nsfd_json_free (j);
  j = NULL;
  nsfd_error_free (&err);
  memset (deep, '[', NSFD_JSON_MAX_DEPTH + 1);
  memset (deep + NSFD_JSON_MAX_DEPTH + 1, ']', NSFD_JSON_MAX_DEPTH + 1);
  deep[2 * NSFD_JSON_MAX_DEPTH + 2] = '\0';
  ret = nsfd_json_parse ("t", deep, strlen (deep), &j, &err);
  CHECK (ret < 0 && j == NULL, "depth 65 refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "nesting deeper than 64", "depth message: %s", nsfd_error_text (err));
  nsfd_error_free (&err);

  /* Very deep (would blow a recursive parser's stack): refused early. */
  {
    size_t n = 200000;
    char *d = malloc (n + 1);
    memset (d, '[', n);
    d[n] = '\0';
    const char *e = state_err (d);
    CHECK_STR_CONTAINS (e, "nesting deeper", "200000 levels refused: %s", S (e));
    char *doc = malloc (n + 200);
    sprintf (doc, "{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"x\":%s", d);
    e = state_err (doc);
    CHECK_STR_CONTAINS (e, "nesting deeper", "deep unrelated field refused: %s", S (e));
    free (d);
    free (doc);
  }

  /* More than 1 MiB refused before parsing, even if well-formed. */
  {
    size_t n = NSFD_OCI_MAX_JSON + 16;
    char *doc = malloc (n + 1);
    size_t o = (size_t) sprintf (doc, "{\"ociVersion\":\"1.0\",\"id\":\"x\",\"status\":\"c\",\"bundle\":\"/b\",\"p\":\"");
    memset (doc + o, 'x', n - o - 2);
    doc[n - 2] = '"';
    doc[n - 1] = '}';
    doc[n] = '\0';
    const char *e = state_err (doc);
    CHECK_STR_CONTAINS (e, "more than the limit of 1048576", ">1 MiB: %s", S (e));
    free (doc);
  }
}

static void
test_real_configs (void)
{
  static const char *files[]
      = { "runc-spec.json", "runc-spec-rootless.json", "crun-spec.json", "config-podman.json",
          "config-podman-userns.json", "config-runc-annotated.json" };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (files); i++)
    {
      size_t len;
      cleanup_free char *buf = load_data (files[i], &len);
      struct nsfd_oci_config c;
      nsfd_error_t err = NULL;
      int ret = nsfd_oci_config_parse (buf, len, &c, &err);
      CHECK (ret == 0, "%s parses (%s)", files[i], ret ? nsfd_error_text (err) : "ok");
      nsfd_error_free (&err);
      if (ret != 0)
        continue;
      CHECK (c.root_path != NULL && c.n_mounts >= 5, "%s: root %s, %zu mounts", files[i], c.root_path, c.n_mounts);
      CHECK (c.has_mount_namespace, "%s: mount namespace", files[i]);
      CHECK (nsfd_oci_config_find_mount (&c, "/proc") != NULL, "%s: /proc mount", files[i]);
      CHECK (nsfd_oci_config_find_mount (&c, "/dev/pts/") != NULL, "%s: /dev/pts/ found", files[i]);
      for (size_t m = 0; m < c.n_mounts; m++)
        if (c.mounts[m].options[c.mounts[m].n_options] != NULL)
          CHECK (0, "%s: options NULL-terminated", files[i]);

      if (strcmp (files[i], "runc-spec.json") == 0)
        {
          CHECK (strcmp (c.root_path, "rootfs") == 0 && c.root_readonly, "runc spec: rootfs, readonly");
          CHECK (!c.has_user_namespace && c.n_uid_mappings == 0, "runc spec: no userns");
          const struct nsfd_oci_mount *sys = nsfd_oci_config_find_mount (&c, "/sys");
          CHECK (sys && nsfd_oci_mount_is_readonly (sys) && !nsfd_oci_mount_is_bind (sys), "runc spec: /sys ro");
          CHECK (c.annotations.len == 0, "runc spec: no annotations");
        }
      if (strcmp (files[i], "runc-spec-rootless.json") == 0)
        {
          CHECK (c.has_user_namespace, "rootless: user namespace");
          CHECK (c.n_uid_mappings == 1 && c.n_gid_mappings == 1, "rootless: 1 map each");
          const struct nsfd_oci_mount *sys = nsfd_oci_config_find_mount (&c, "/sys");
          CHECK (sys && nsfd_oci_mount_is_bind (sys), "rootless: /sys is an rbind");
        }
      if (strcmp (files[i], "config-podman-userns.json") == 0)
        {
          uint32_t h = 0;
          CHECK (c.has_user_namespace && c.n_uid_mappings == 1, "podman userns: mapping");
          CHECK (nsfd_idmap_to_host (c.uid_mappings, c.n_uid_mappings, 0, &h) == 0 && h == 100000,
                 "podman userns: 0 -> 100000");
          CHECK (nsfd_idmap_to_host (c.gid_mappings, c.n_gid_mappings, 65535, &h) == 0 && h == 165535,
                 "podman userns: 65535 -> 165535");
          CHECK (nsfd_idmap_to_host (c.uid_mappings, c.n_uid_mappings, 65536, &h) < 0, "podman userns: unmapped");
          const struct nsfd_oci_mount *d = nsfd_oci_config_find_mount (&c, "/data");
          CHECK (d && nsfd_oci_mount_is_bind (d) && !nsfd_oci_mount_is_readonly (d)
                     && strcmp (d->source, "/tmp/C-data/pvol") == 0,
                 "podman userns: /data bind");
          CHECK (nsfd_annotations_get (&c.annotations, "nsfdsuds.io/persist") != NULL, "podman: annotations");
        }
      if (strcmp (files[i], "config-runc-annotated.json") == 0)
        {
          /* written as "/data/" in config.json */
          const struct nsfd_oci_mount *d1 = nsfd_oci_config_find_mount (&c, "/data");
          const struct nsfd_oci_mount *d2 = nsfd_oci_config_find_mount (&c, "/data/");
          const struct nsfd_oci_mount *d3 = nsfd_oci_config_find_mount (&c, "//data/./");
          CHECK (d1 && d1 == d2 && d1 == d3, "\"/data/\" in config found as /data, /data/, //data/./");
          CHECK (d1 && strcmp (d1->destination, "/data/") == 0, "destination kept as written");
          CHECK (nsfd_oci_config_find_mount (&c, "/dat") == NULL, "/dat not found");
          CHECK (nsfd_oci_config_find_mount (&c, "/data/x") == NULL, "/data/x not found");
          CHECK (nsfd_oci_config_find_mount (&c, "/data/..") == NULL, "/data/.. not found");
          CHECK (!c.root_readonly, "annotated: root rw");
        }
      nsfd_oci_config_free (&c);
    }
}

static void
test_config_errors (void)
{
  const char *e;

  CHECK (config_err ("{\"root\":{\"path\":\"rootfs\"}}") == NULL, "minimal config");
  e = config_err ("{\"ociVersion\":\"1.0\"}");
  CHECK_STR_CONTAINS (e, "missing required field \"root\"", "missing root: %s", S (e));
  e = config_err ("{\"root\":{}}");
  CHECK_STR_CONTAINS (e, "missing required field \"root.path\"", "missing root.path: %s", S (e));
  e = config_err ("{\"root\":\"rootfs\"}");
  CHECK_STR_CONTAINS (e, "config.json: root: expected an object", "root string: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\",\"readonly\":\"yes\"}}");
  CHECK_STR_CONTAINS (e, "root.readonly: expected a boolean", "readonly string: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\",\"path\":\"s\"}}");
  CHECK_STR_CONTAINS (e, "config.json: duplicate field \"root.path\"", "dup root.path: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"mounts\":{}}");
  CHECK_STR_CONTAINS (e, "mounts: expected an array", "mounts object: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/a\"},{\"destination\":\"/b\"},"
                  "{\"destination\":\"/c\"},{\"destination\":42}]}");
  CHECK_STR_CONTAINS (e, "config.json: mounts[3].destination: expected a string", "mounts[3].destination: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"mounts\":[{\"type\":\"bind\"}]}");
  CHECK_STR_CONTAINS (e, "missing required field \"mounts[0].destination\"", "missing destination: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/a\",\"options\":[\"ro\",1]}]}");
  CHECK_STR_CONTAINS (e, "mounts[0].options[1]: expected a string", "option number: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/a\",\"destination\":\"/b\"}]}");
  CHECK_STR_CONTAINS (e, "duplicate field \"mounts[0].destination\"", "dup destination: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/a\",\"source\":null}]}");
  CHECK_STR_CONTAINS (e, "mounts[0].source: expected a string, got null", "null source: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":1}]}}");
  CHECK_STR_CONTAINS (e, "missing required field \"linux.uidMappings[0].size\"", "idmap no size: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":-1,"
                  "\"size\":1}]}}");
  CHECK_STR_CONTAINS (e, "out of range", "negative hostID: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"linux\":{\"gidMappings\":[{\"containerID\":0,\"hostID\":4294967295,"
                  "\"size\":2}]}}");
  CHECK_STR_CONTAINS (e, "overflows", "idmap overflow: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":0,"
                  "\"size\":0}]}}");
  CHECK_STR_CONTAINS (e, "out of range", "zero-size idmap: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"linux\":{\"namespaces\":[{\"type\":5}]}}");
  CHECK_STR_CONTAINS (e, "linux.namespaces[0].type: expected a string", "namespace type: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"linux\":[]}");
  CHECK_STR_CONTAINS (e, "linux: expected an object", "linux array: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"annotations\":{\"a\":\"b\",\"a\":\"c\"}}");
  CHECK_STR_CONTAINS (e, "config.json: duplicate field \"annotations.a\"", "dup annotation: %s", S (e));
  e = config_err ("{\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/a\\u0000b\"}]}");
  CHECK_STR_CONTAINS (e, "mounts[0].destination: contains a NUL", "NUL destination: %s", S (e));

  /* counts */
  {
    size_t cap = 256 * 1024;
    char *doc = malloc (cap);
    size_t o = (size_t) sprintf (doc, "{\"root\":{\"path\":\"r\"},\"mounts\":[");
    for (int i = 0; i <= NSFD_OCI_MAX_MOUNTS; i++)
      o += (size_t) sprintf (doc + o, "%s{\"destination\":\"/m\"}", i ? "," : "");
    sprintf (doc + o, "]}");
    e = config_err (doc);
    CHECK_STR_CONTAINS (e, "mounts: 4097 entries", "too many mounts: %s", S (e));
    o = (size_t) sprintf (doc, "{\"root\":{\"path\":\"r\"},\"linux\":{\"uidMappings\":[");
    for (int i = 0; i <= NSFD_OCI_MAX_IDMAPS; i++)
      o += (size_t) sprintf (doc + o, "%s{\"containerID\":%d,\"hostID\":%d,\"size\":1}", i ? "," : "", i, i);
    sprintf (doc + o, "]}}");
    e = config_err (doc);
    CHECK_STR_CONTAINS (e, "uidMappings: 65 entries", "too many idmaps: %s", S (e));
    o = (size_t) sprintf (doc, "{\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/a\",\"options\":[");
    for (int i = 0; i <= NSFD_OCI_MAX_MOUNT_OPTIONS; i++)
      o += (size_t) sprintf (doc + o, "%s\"ro\"", i ? "," : "");
    sprintf (doc + o, "]}]}");
    e = config_err (doc);
    CHECK_STR_CONTAINS (e, "options: 257 entries", "too many options: %s", S (e));
    free (doc);
  }
}

static void
test_mount_queries (void)
{
  const char *doc = "{\"root\":{\"path\":\"r\"},\"mounts\":["
                    "{\"destination\":\"/data\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
                    "{\"destination\":\"data/\",\"type\":\"none\",\"source\":\"/v\",\"options\":[\"rbind\",\"ro\"]},"
                    "{\"destination\":\"/x\",\"options\":[\"ro\",\"rw\"]},"
                    "{\"destination\":\"/y\",\"type\":\"bind\",\"options\":[\"rw\",\"ro\"]},"
                    "{\"destination\":\"/z/../etc\"}]}";
  struct nsfd_oci_config c;
  nsfd_error_t err = NULL;
  int ret = nsfd_oci_config_parse (doc, strlen (doc), &c, &err);
  CHECK (ret == 0, "mount query config parses");
  if (ret < 0)
    {
      nsfd_error_free (&err);
      return;
    }
  const struct nsfd_oci_mount *d = nsfd_oci_config_find_mount (&c, "/data/");
  CHECK (d == &c.mounts[1], "last mount on /data wins (relative destination made absolute)");
  CHECK (d && nsfd_oci_mount_is_bind (d) && nsfd_oci_mount_is_readonly (d), "rbind option -> bind, ro");
  CHECK (!nsfd_oci_mount_is_bind (&c.mounts[0]), "tmpfs not bind");
  CHECK (!nsfd_oci_mount_is_readonly (nsfd_oci_config_find_mount (&c, "/x")), "ro then rw -> rw");
  CHECK (nsfd_oci_mount_is_readonly (nsfd_oci_config_find_mount (&c, "/y")), "rw then ro -> ro");
  CHECK (nsfd_oci_mount_is_bind (nsfd_oci_config_find_mount (&c, "/y")), "type bind");
  CHECK (nsfd_oci_config_find_mount (&c, "/etc") == NULL, "destination with .. never matches");
  CHECK (nsfd_oci_config_find_mount (&c, "/") == NULL, "/ not a mount");
  nsfd_oci_config_free (&c);
}

static void
test_idmap (void)
{
  struct nsfd_idmap maps[] = { { 0, 1000, 1 }, { 1, 100000, 65536 }, { 4294967290u, 10, 6 } };
  uint32_t h = 0;

  CHECK (nsfd_idmap_to_host (NULL, 0, 1234, &h) == 0 && h == 1234, "no maps: identity");
  CHECK (nsfd_idmap_to_host (maps, 3, 0, &h) == 0 && h == 1000, "0 -> 1000");
  CHECK (nsfd_idmap_to_host (maps, 3, 1, &h) == 0 && h == 100000, "1 -> 100000");
  CHECK (nsfd_idmap_to_host (maps, 3, 65536, &h) == 0 && h == 165535, "65536 -> 165535");
  CHECK (nsfd_idmap_to_host (maps, 3, 65537, &h) < 0, "65537 unmapped");
  CHECK (nsfd_idmap_to_host (maps, 3, 4294967295u, &h) == 0 && h == 15, "top of range");
}

static volatile sig_atomic_t got_alarm;
static void
on_alarm (int sig)
{
  (void) sig;
  got_alarm++;
}

static void
test_read_all (void)
{
  int p[2];
  pid_t pid;
  char *buf = NULL;
  size_t len = 0;
  nsfd_error_t err = NULL;
  int ret;

  /* A writer sending small pieces with pauses, while a timer interrupts the
   * reader (no SA_RESTART): short reads and EINTR. */
  struct sigaction sa = { .sa_handler = on_alarm };
  sigemptyset (&sa.sa_mask);
  sigaction (SIGALRM, &sa, NULL);
  if (pipe2 (p, O_CLOEXEC) < 0)
    return;
  pid = fork ();
  if (pid == 0)
    {
      close (p[0]);
      for (int i = 0; i < 20; i++)
        {
          if (write (p[1], "0123456789", 10) != 10)
            _exit (1);
          usleep (20000);
        }
      _exit (0);
    }
  close (p[1]);
  struct itimerval it = { .it_interval = { 0, 5000 }, .it_value = { 0, 5000 } };
  setitimer (ITIMER_REAL, &it, NULL);
  ret = nsfd_read_all_fd (p[0], 1000, &buf, &len, &err);
  struct itimerval off = { { 0, 0 }, { 0, 0 } };
  setitimer (ITIMER_REAL, &off, NULL);
  close (p[0]);
  (void) tu_wait (pid);
  CHECK (ret == 0 && len == 200 && buf[200] == '\0', "short reads + EINTR: %zu bytes (%d alarms)", len,
         (int) got_alarm);
  CHECK (got_alarm > 0, "reader was interrupted");
  free (buf);
  buf = NULL;
  nsfd_error_free (&err);

  /* Exactly max is fine; max+1 is refused. */
  for (int extra = 0; extra < 2; extra++)
    {
      size_t max = 100000;
      if (pipe2 (p, O_CLOEXEC) < 0)
        return;
      pid = fork ();
      if (pid == 0)
        {
          close (p[0]);
          char chunk[4096];
          memset (chunk, 'x', sizeof (chunk));
          size_t left = max + (size_t) extra;
          while (left)
            {
              size_t n = left < sizeof (chunk) ? left : sizeof (chunk);
              if (write (p[1], chunk, n) != (ssize_t) n)
                _exit (1);
              left -= n;
            }
          _exit (0);
        }
      close (p[1]);
      ret = nsfd_read_all_fd (p[0], max, &buf, &len, &err);
      close (p[0]);
      (void) tu_wait (pid);
      if (extra == 0)
        CHECK (ret == 0 && len == max, "exactly max bytes accepted");
      else
        {
          CHECK (ret < 0 && buf == NULL, "max+1 bytes refused");
          CHECK_STR_CONTAINS (nsfd_error_text (err), "larger than 100000", "message: %s", nsfd_error_text (err));
        }
      free (buf);
      buf = NULL;
      nsfd_error_free (&err);
    }

  /* state from a pipe */
  {
    size_t dlen;
    cleanup_free char *doc = load_data ("state-runc-createRuntime.json", &dlen);
    struct nsfd_oci_state s;
    if (pipe2 (p, O_CLOEXEC) < 0)
      return;
    if (write (p[1], doc, dlen) != (ssize_t) dlen)
      return;
    close (p[1]);
    ret = nsfd_oci_state_read_fd (p[0], &s, &err);
    close (p[0]);
    CHECK (ret == 0 && strcmp (s.id, "C-statecap") == 0, "state from a pipe");
    if (ret == 0)
      nsfd_oci_state_free (&s);
    nsfd_error_free (&err);
  }
}

static void
test_read_at (void)
{
  char dir[] = "/tmp/C-test-oci-XXXXXX";
  char path[256];
  struct nsfd_oci_config c;
  nsfd_error_t err = NULL;
  int dfd, ret;

  if (mkdtemp (dir) == NULL)
    {
      CHECK (0, "mkdtemp");
      return;
    }
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  ret = nsfd_oci_config_read_at (dfd, &c, &err);
  CHECK (ret < 0 && strstr (nsfd_error_text (err), "No such file"), "absent config.json: %s", nsfd_error_text (err));
  nsfd_error_free (&err);

  /* A symlink to a valid file is refused. */
  snprintf (path, sizeof (path), "%s/real.json", dir);
  tu_write_file (path, "{\"root\":{\"path\":\"rootfs\"}}");
  snprintf (path, sizeof (path), "%s/config.json", dir);
  (void) symlink ("real.json", path);
  ret = nsfd_oci_config_read_at (dfd, &c, &err);
  CHECK (ret < 0, "symlinked config.json refused: %s", nsfd_error_text (err));
  nsfd_error_free (&err);
  unlink (path);

  /* A FIFO: refused without blocking. */
  mkfifo (path, 0600);
  ret = nsfd_oci_config_read_at (dfd, &c, &err);
  CHECK (ret < 0 && strstr (nsfd_error_text (err), "not a regular file"), "FIFO refused: %s",
         nsfd_error_text (err));
  nsfd_error_free (&err);
  unlink (path);

  /* A directory */
  mkdir (path, 0700);
  ret = nsfd_oci_config_read_at (dfd, &c, &err);
  CHECK (ret < 0, "directory refused: %s", nsfd_error_text (err));
  nsfd_error_free (&err);
  rmdir (path);

  /* The real thing */
  snprintf (path, sizeof (path), "%s/real.json", dir);
  {
    char to[256];
    snprintf (to, sizeof (to), "%s/config.json", dir);
    rename (path, to);
  }
  ret = nsfd_oci_config_read_at (dfd, &c, &err);
  CHECK (ret == 0 && strcmp (c.root_path, "rootfs") == 0, "regular config.json read");
  if (ret == 0)
    nsfd_oci_config_free (&c);
  nsfd_error_free (&err);

  snprintf (path, sizeof (path), "%s/config.json", dir);
  unlink (path);
  close (dfd);
  rmdir (dir);
}

static void
test_path_clean (void)
{
  struct
  {
    const char *in, *out;
  } cases[] = { { "/", "/" }, { "//", "/" }, { "/data/", "/data" }, { "/a//b/./c/", "/a/b/c" },
                { "data", "/data" }, { "/./", "/" }, { "/a/.../b", "/a/.../b" }, { "/a/..b", "/a/..b" } };
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (cases); i++)
    {
      cleanup_free char *o = nsfd_oci_path_clean (cases[i].in);
      CHECK (o && strcmp (o, cases[i].out) == 0, "clean \"%s\" -> \"%s\" (%s)", cases[i].in, cases[i].out,
             o ? o : "NULL");
    }
  CHECK (nsfd_oci_path_clean ("/a/../b") == NULL && errno == EINVAL, "\"..\" refused");
  CHECK (nsfd_oci_path_clean ("..") == NULL, "bare \"..\" refused");
}

int
main (void)
{
  test_real_states ();
  test_state_errors ();
  test_size_and_depth ();
  test_real_configs ();
  test_config_errors ();
  test_mount_queries ();
  test_idmap ();
  test_read_all ();
  test_read_at ();
  test_path_clean ();
  TAP_DONE ();
}
