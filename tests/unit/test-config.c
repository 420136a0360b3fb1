/* lib/config.c: defaults, every field, unknown/duplicate fields, wrong types,
 * ranges, file handling, component-wise prefix matching. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "tap.h"
#include "testutil.h"

static const char *
parse_err (const char *doc, struct nsfd_config *c)
{
  static char msg[1024];
  nsfd_error_t err = NULL;
  if (nsfd_config_parse (doc, strlen (doc), c, &err) == 0)
    return NULL;
  snprintf (msg, sizeof (msg), "%s", nsfd_error_text (err));
  nsfd_error_free (&err);
  if (c->run_dir != NULL || c->allowed_volume_prefixes != NULL)
    return "config not cleared after failure";
  return msg;
}

static void
check_defaults (const struct nsfd_config *c, const char *what)
{
  CHECK (c->n_allowed_volume_prefixes == 3, "%s: 3 default prefixes", what);
  CHECK (c->n_allowed_volume_prefixes == 3 && strcmp (c->allowed_volume_prefixes[0], "/var/lib/kubelet/pods") == 0
             && strcmp (c->allowed_volume_prefixes[1], "/var/lib/containers/storage/volumes") == 0
             && strcmp (c->allowed_volume_prefixes[2], "/var/lib/nsfdsuds/volumes") == 0,
         "%s: default prefixes", what);
  CHECK (c->handshake_timeout_ms == 10000, "%s: handshake 10 s", what);
  CHECK (c->mounter_lifetime_ms == 120000, "%s: mounter 120 s", what);
  CHECK (c->run_dir && strcmp (c->run_dir, NSFD_DEFAULT_RUNDIR) == 0, "%s: runDir", what);
  CHECK (c->log_level == NSFD_LOG_INFO, "%s: info", what);
  CHECK (c->log_sinks == (NSFD_LOG_SINK_SYSLOG | NSFD_LOG_SINK_STDERR), "%s: both sinks", what);
  CHECK (c->runtime_path && strcmp (c->runtime_path, "/usr/bin/runc") == 0, "%s: runtimePath", what);
  CHECK (c->on_image_change && strcmp (c->on_image_change, "refuse") == 0, "%s: onImageChange", what);
}

static void
test_defaults (void)
{
  struct nsfd_config c = { 0 };
  nsfd_error_t err = NULL;

  nsfd_config_defaults (&c);
  check_defaults (&c, "nsfd_config_defaults");
  nsfd_config_free (&c);

  CHECK (parse_err ("{}", &c) == NULL, "empty object parses");
  check_defaults (&c, "{}");
  nsfd_config_free (&c);

  /* The shipped config/config.json holds exactly the defaults. */
  {
    char path[4096];
    tu_src_path (path, sizeof (path), "config/config.json");
    int ret = nsfd_config_load (path, 1, &c, &err);
    CHECK (ret == 0, "config/config.json loads (%s)", ret ? nsfd_error_text (err) : "ok");
    nsfd_error_free (&err);
    if (ret == 0)
      {
        check_defaults (&c, "config/config.json");
        nsfd_config_free (&c);
      }
  }
}

static void
test_fields (void)
{
  struct nsfd_config c = { 0 };
  const char *doc = "{\"allowedVolumePrefixes\":[\"/srv/vols/\",\"//data//./pv\"],"
                    "\"handshakeTimeoutSeconds\":300,\"mounterLifetimeSeconds\":1,\"runDir\":\"/run/x/\","
                    "\"logLevel\":\"debug\",\"log\":[\"stderr\"],\"runtimePath\":\"/opt/runc\","
                    "\"onImageChange\":\"refuse\"}";
  const char *e = parse_err (doc, &c);

  CHECK (e == NULL, "all fields parse (%s)", e ? e : "ok");
  if (e)
    return;
  CHECK (c.n_allowed_volume_prefixes == 2 && strcmp (c.allowed_volume_prefixes[0], "/srv/vols") == 0
             && strcmp (c.allowed_volume_prefixes[1], "/data/pv") == 0,
         "prefixes normalised");
  CHECK (c.handshake_timeout_ms == 300000 && c.mounter_lifetime_ms == 1000, "timeouts in ms");
  CHECK (strcmp (c.run_dir, "/run/x") == 0, "runDir normalised");
  CHECK (c.log_level == NSFD_LOG_DEBUG && c.log_sinks == NSFD_LOG_SINK_STDERR, "log settings");
  CHECK (strcmp (c.runtime_path, "/opt/runc") == 0 && strcmp (c.on_image_change, "refuse") == 0, "strings");

  /* component-wise matching */
  CHECK (nsfd_config_volume_allowed (&c, "/srv/vols"), "prefix itself allowed");
  CHECK (nsfd_config_volume_allowed (&c, "/srv/vols/a/b"), "below prefix allowed");
  CHECK (!nsfd_config_volume_allowed (&c, "/srv/volsx"), "/srv/volsx not allowed");
  CHECK (!nsfd_config_volume_allowed (&c, "/srv"), "parent not allowed");
  CHECK (nsfd_config_volume_allowed (&c, "/data/pv/x"), "second prefix");
  CHECK (!nsfd_config_volume_allowed (&c, "/srv/vols/../../etc"), "\"..\" escape refused");
  CHECK (nsfd_config_volume_allowed (&c, "/srv//vols/./a/"), "unnormalised input is cleaned");
  CHECK (!nsfd_config_volume_allowed (&c, "srv/vols/a"), "relative refused");
  CHECK (!nsfd_config_volume_allowed (&c, NULL), "NULL refused");
  nsfd_config_free (&c);

  e = parse_err ("{\"allowedVolumePrefixes\":[]}", &c);
  CHECK (e == NULL && c.n_allowed_volume_prefixes == 0, "empty prefix list allowed");
  CHECK (!nsfd_config_volume_allowed (&c, "/var/lib/kubelet/pods/x"), "empty list allows nothing");
  nsfd_config_free (&c);

  e = parse_err ("{\"log\":[\"syslog\",\"stderr\",\"syslog\"],\"logLevel\":\"error\"}", &c);
  CHECK (e == NULL && c.log_sinks == 3 && c.log_level == NSFD_LOG_ERROR, "log both, level error");
  nsfd_config_free (&c);
}

static void
test_errors (void)
{
  struct nsfd_config c = { 0 };
  struct
  {
    const char *doc, *expect;
  } cases[] = {
    { "{\"allowedVolumePrefix\":[\"/a\"]}", "unknown field \"allowedVolumePrefix\"" },
    { "{\"logLevel\":\"info\",\"logLevel\":\"debug\"}", "duplicate field \"logLevel\"" },
    { "[]", "expected an object" },
    { "", "empty document" },
    { "{\"logLevel\":", "invalid JSON" },
    { "{\"logLevel\":\"info\",}", "invalid JSON" },
    { "{\"allowedVolumePrefixes\":\"/a\"}", "allowedVolumePrefixes: expected an array" },
    { "{\"allowedVolumePrefixes\":[\"a/b\"]}", "allowedVolumePrefixes[0]: \"a/b\" is not an absolute path" },
    { "{\"allowedVolumePrefixes\":[\"/a\",1]}", "allowedVolumePrefixes[1]: expected a string" },
    { "{\"allowedVolumePrefixes\":[\"/a/../etc\"]}", "\"..\" component" },
    { "{\"allowedVolumePrefixes\":[\"/\"]}", "would allow every host path" },
    { "{\"allowedVolumePrefixes\":[\"//\"]}", "would allow every host path" },
    { "{\"allowedVolumePrefixes\":[\"/a\\nb\"]}", "control character" },
    { "{\"allowedVolumePrefixes\":[\"/a\\u0000b\"]}", "NUL" },
    { "{\"handshakeTimeoutSeconds\":0}", "handshakeTimeoutSeconds: 0 is out of range (1..300)" },
    { "{\"handshakeTimeoutSeconds\":301}", "out of range" },
    { "{\"handshakeTimeoutSeconds\":1.5}", "expected an integer" },
    { "{\"handshakeTimeoutSeconds\":\"10\"}", "handshakeTimeoutSeconds: expected an integer, got a string" },
    { "{\"mounterLifetimeSeconds\":3601}", "mounterLifetimeSeconds: 3601 is out of range (1..3600)" },
    { "{\"mounterLifetimeSeconds\":-5}", "out of range" },
    { "{\"runDir\":\"run\"}", "runDir: \"run\" is not an absolute path" },
    { "{\"runDir\":\"/\"}", "not a private directory" },
    { "{\"runDir\":null}", "runDir: expected a string, got null" },
    { "{\"logLevel\":\"verbose\"}", "logLevel: unknown value \"verbose\"" },
    { "{\"logLevel\":3}", "logLevel: expected a string" },
    { "{\"log\":\"syslog\"}", "log: expected an array" },
    { "{\"log\":[]}", "log: empty" },
    { "{\"log\":[\"journal\"]}", "log[0]: unknown value \"journal\"" },
    { "{\"runtimePath\":\"runc\"}", "not an absolute path" },
    { "{\"onImageChange\":\"ignore\"}", "onImageChange: unknown value \"ignore\"" },
    { "{\"onImageChange\":true}", "onImageChange: expected a string, got a boolean" },
    { "{\"x\\u0001y\":1}", "unknown field \"x\\x01y\"" },
  };

  for (size_t i = 0; i < NSFD_ARRAY_SIZE (cases); i++)
    {
      const char *e = parse_err (cases[i].doc, &c);
      CHECK (e && strstr (e, cases[i].expect), "error %zu: %s", i, e ? e : "accepted!");
      if (e == NULL)
        nsfd_config_free (&c);
    }

  /* too many prefixes */
  {
    char doc[8192];
    size_t o = (size_t) sprintf (doc, "{\"allowedVolumePrefixes\":[");
    for (int i = 0; i <= NSFD_CONFIG_MAX_PREFIXES; i++)
      o += (size_t) sprintf (doc + o, "%s\"/p%d\"", i ? "," : "", i);
    sprintf (doc + o, "]}");
    const char *e = parse_err (doc, &c);
    CHECK_STR_CONTAINS (e, "65 entries", "too many prefixes: %s", S (e));
  }
  /* deep nesting */
  {
    char doc[400];
    size_t o = (size_t) sprintf (doc, "{\"log\":");
    memset (doc + o, '[', 100);
    doc[o + 100] = '\0';
    const char *e = parse_err (doc, &c);
    CHECK_STR_CONTAINS (e, "nesting deeper", "deep nesting: %s", S (e));
  }
}

/* The file with exactly this mode, whatever it had before. */
static void
write_file (const char *path, const char *text, mode_t mode)
{
  tu_write_file (path, text);
  chmod (path, mode);
}

static void
test_load (void)
{
  char dir[] = "/tmp/C-test-config-XXXXXX";
  char path[256], link[256];
  struct nsfd_config c = { 0 };
  nsfd_error_t err = NULL;
  int ret;

  if (mkdtemp (dir) == NULL)
    {
      CHECK (0, "mkdtemp");
      return;
    }
  snprintf (path, sizeof (path), "%s/config.json", dir);

  ret = nsfd_config_load (path, 1, &c, &err);
  CHECK (ret < 0 && strstr (nsfd_error_text (err), "No such file"), "explicit missing file: %s",
         nsfd_error_text (err));
  nsfd_error_free (&err);
  ret = nsfd_config_load (path, 0, &c, &err);
  CHECK (ret == 0, "missing file at the default path: defaults");
  if (ret == 0)
    {
      check_defaults (&c, "missing default file");
      nsfd_config_free (&c);
    }

  write_file (path, "{\"logLevel\":\"debug\"}", 0644);
  /* The callers' pattern: defaults first, then load (nothing leaks). */
  nsfd_config_defaults (&c);
  ret = nsfd_config_load (path, 1, &c, &err);
  CHECK (ret == 0 && c.log_level == NSFD_LOG_DEBUG && c.handshake_timeout_ms == 10000, "file overrides one field");
  if (ret == 0)
    nsfd_config_free (&c);
  nsfd_error_free (&err);

  write_file (path, "{\"logLevel\":\"loud\"}", 0644);
  nsfd_config_defaults (&c);
  ret = nsfd_config_load (path, 0, &c, &err);
  CHECK (ret < 0 && c.run_dir == NULL && c.allowed_volume_prefixes == NULL, "failed load leaves the struct empty");
  CHECK (ret < 0 && strstr (nsfd_error_text (err), path) && strstr (nsfd_error_text (err), "loud"),
         "bad file names the path: %s", nsfd_error_text (err));
  nsfd_error_free (&err);

  write_file (path, "{}", 0666);
  ret = nsfd_config_load (path, 1, &c, &err);
  CHECK (ret < 0 && strstr (nsfd_error_text (err), "writable by group or others"), "world-writable refused: %s",
         nsfd_error_text (err));
  nsfd_error_free (&err);
  chmod (path, 0620);
  ret = nsfd_config_load (path, 1, &c, &err);
  CHECK (ret < 0, "group-writable refused");
  nsfd_error_free (&err);
  chmod (path, 0600);
  if (geteuid () == 0)
    {
      if (chown (path, 65534, 65534) == 0)
        {
          ret = nsfd_config_load (path, 1, &c, &err);
          CHECK (ret < 0 && strstr (nsfd_error_text (err), "owned by uid 65534"), "foreign owner refused: %s",
                 nsfd_error_text (err));
          nsfd_error_free (&err);
          (void) chown (path, 0, 0);
        }
    }
  ret = nsfd_config_load (path, 1, &c, &err);
  CHECK (ret == 0, "0600 file ok");
  if (ret == 0)
    nsfd_config_free (&c);
  nsfd_error_free (&err);

  /* An admin may manage /etc with symlinks: followed, target checked. */
  snprintf (link, sizeof (link), "%s/link.json", dir);
  (void) symlink ("config.json", link);
  ret = nsfd_config_load (link, 1, &c, &err);
  CHECK (ret == 0, "symlink to a good file ok");
  if (ret == 0)
    nsfd_config_free (&c);
  nsfd_error_free (&err);
  unlink (link);

  unlink (path);
  mkfifo (path, 0600);
  ret = nsfd_config_load (path, 1, &c, &err);
  CHECK (ret < 0 && strstr (nsfd_error_text (err), "not a regular file"), "FIFO refused without blocking: %s",
         nsfd_error_text (err));
  nsfd_error_free (&err);
  unlink (path);
  mkdir (path, 0700);
  ret = nsfd_config_load (path, 1, &c, &err);
  CHECK (ret < 0, "directory refused: %s", nsfd_error_text (err));
  nsfd_error_free (&err);
  rmdir (path);

  /* > 1 MiB */
  {
    size_t n = 1024 * 1024 + 10;
    char *big = malloc (n + 1);
    memset (big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    write_file (path, big, 0644);
    free (big);
    ret = nsfd_config_load (path, 1, &c, &err);
    CHECK (ret < 0 && strstr (nsfd_error_text (err), "larger than"), ">1 MiB refused: %s", nsfd_error_text (err));
    nsfd_error_free (&err);
    unlink (path);
  }
  rmdir (dir);
}

int
main (void)
{
  test_defaults ();
  test_fields ();
  test_errors ();
  test_load ();
  TAP_DONE ();
}
