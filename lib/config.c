/* The admin-owned configuration file.  It sets the host-side limits that
 * annotations can never change, so it is read strictly: unknown fields,
 * wrong types and out-of-range values are errors, never silently ignored. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "oci.h"
#include "pathutil.h"

#define DOC "config"
#define MAX_PATH_LEN 4096

static const char *const default_prefixes[] = {
  "/var/lib/kubelet/pods",
  "/var/lib/containers/storage/volumes",
  "/var/lib/nsfdsuds/volumes",
};

static void
free_prefixes (struct nsfd_config *c)
{
  for (size_t i = 0; i < c->n_allowed_volume_prefixes; i++)
    free (c->allowed_volume_prefixes[i]);
  free (c->allowed_volume_prefixes);
  c->allowed_volume_prefixes = NULL;
  c->n_allowed_volume_prefixes = 0;
}

void
nsfd_config_free (struct nsfd_config *c)
{
  if (c == NULL)
    return;
  free_prefixes (c);
  free (c->run_dir);
  free (c->runtime_path);
  free (c->on_image_change);
  memset (c, 0, sizeof (*c));
}

/* Defaults never fail in practice; on allocation failure the strings stay
 * NULL and nsfd_config_load reports it. */
void
nsfd_config_defaults (struct nsfd_config *c)
{
  memset (c, 0, sizeof (*c));
  c->allowed_volume_prefixes = calloc (NSFD_ARRAY_SIZE (default_prefixes), sizeof (char *));
  if (c->allowed_volume_prefixes)
    for (size_t i = 0; i < NSFD_ARRAY_SIZE (default_prefixes); i++)
      {
        c->allowed_volume_prefixes[i] = strdup (default_prefixes[i]);
        if (c->allowed_volume_prefixes[i] == NULL)
          break;
        c->n_allowed_volume_prefixes++;
      }
  c->handshake_timeout_ms = 10 * 1000;
  c->mounter_lifetime_ms = 120 * 1000;
  c->run_dir = strdup (NSFD_DEFAULT_RUNDIR);
  c->log_level = NSFD_LOG_INFO;
  c->log_sinks = NSFD_LOG_SINK_SYSLOG | NSFD_LOG_SINK_STDERR;
  c->runtime_path = strdup ("/usr/bin/runc");
  c->on_image_change = strdup ("refuse");
}

static int
defaults_complete (const struct nsfd_config *c, nsfd_error_t *err)
{
  if (c->allowed_volume_prefixes == NULL || c->n_allowed_volume_prefixes != NSFD_ARRAY_SIZE (default_prefixes)
      || c->run_dir == NULL || c->runtime_path == NULL || c->on_image_change == NULL)
    return nsfd_make_error (err, ENOMEM, "setting configuration defaults");
  return 0;
}

/* An absolute host path: no "..", no control characters; normalised. */
static int
abs_path (const struct nsfd_json *v, const char *path, char **out, nsfd_error_t *err)
{
  cleanup_free char *raw = NULL;
  char shown[160];
  int ret;

  *out = NULL;
  ret = nsfd_json_string (DOC, v, path, MAX_PATH_LEN, &raw, err);
  if (ret < 0)
    return ret;
  if (raw[0] != '/')
    return nsfd_make_error (err, 0, "%s: %s: \"%s\" is not an absolute path", DOC, path,
                            nsfd_escape_for_message (raw, SIZE_MAX, shown, sizeof (shown)));
  for (const char *p = raw; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      return nsfd_make_error (err, 0, "%s: %s: path contains a control character", DOC, path);
  *out = nsfd_oci_path_clean (raw);
  if (*out == NULL)
    {
      if (errno == ENOMEM)
        return nsfd_make_error (err, ENOMEM, "%s: %s", DOC, path);
      return nsfd_make_error (err, 0, "%s: %s: \"%s\" contains a \"..\" component", DOC, path,
                              nsfd_escape_for_message (raw, SIZE_MAX, shown, sizeof (shown)));
    }
  return 0;
}

static int
parse_prefixes (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  int ret;

  ret = nsfd_json_expect (DOC, v, "allowedVolumePrefixes", NSFD_JSON_ARRAY, err);
  if (ret < 0)
    return ret;
  if (v->len > NSFD_CONFIG_MAX_PREFIXES)
    return nsfd_make_error (err, 0, "%s: allowedVolumePrefixes: %zu entries, more than the limit of %d", DOC,
                            v->len, NSFD_CONFIG_MAX_PREFIXES);
  free_prefixes (c);
  c->allowed_volume_prefixes = calloc (v->len ? v->len : 1, sizeof (char *));
  if (c->allowed_volume_prefixes == NULL)
    return nsfd_make_error (err, ENOMEM, "%s: allowedVolumePrefixes", DOC);
  for (size_t i = 0; i < v->len; i++)
    {
      char path[64];
      snprintf (path, sizeof (path), "allowedVolumePrefixes[%zu]", i);
      ret = abs_path (v->items[i], path, &c->allowed_volume_prefixes[i], err);
      if (ret < 0)
        return ret;
      c->n_allowed_volume_prefixes++;
      /* "/" would allow every host directory, /etc included. */
      if (strcmp (c->allowed_volume_prefixes[i], "/") == 0)
        return nsfd_make_error (err, 0,
                                "%s: %s: \"/\" would allow every host path; list the directories that hold volumes",
                                DOC, path);
    }
  return 0;
}

static int
parse_seconds (const struct nsfd_json *v, const char *name, long long max, unsigned *out_ms, nsfd_error_t *err)
{
  long long s;
  int ret = nsfd_json_int (DOC, v, name, 1, max, &s, err);
  if (ret < 0)
    return ret;
  *out_ms = (unsigned) (s * 1000);
  return 0;
}

static int
parse_enum (const struct nsfd_json *v, const char *name, const char *const *allowed, char **out, nsfd_error_t *err)
{
  cleanup_free char *s = NULL;
  int ret = nsfd_json_string (DOC, v, name, 64, &s, err);
  if (ret < 0)
    return ret;
  for (size_t i = 0; allowed[i]; i++)
    if (strcmp (s, allowed[i]) == 0)
      {
        free (*out);
        *out = nsfd_steal (&s);
        return 0;
      }
  {
    char shown[80];
    return nsfd_make_error (err, 0, "%s: %s: unknown value \"%s\"", DOC, name,
                            nsfd_escape_for_message (s, SIZE_MAX, shown, sizeof (shown)));
  }
}

static int
parse_sinks (const struct nsfd_json *v, int *out, nsfd_error_t *err)
{
  int mask = 0;
  int ret = nsfd_json_expect (DOC, v, "log", NSFD_JSON_ARRAY, err);
  if (ret < 0)
    return ret;
  if (v->len == 0)
    return nsfd_make_error (err, 0, "%s: log: empty; errors must go somewhere (\"syslog\", \"stderr\")", DOC);
  if (v->len > 8)
    return nsfd_make_error (err, 0, "%s: log: too many entries", DOC);
  for (size_t i = 0; i < v->len; i++)
    {
      static const char *const sinks[] = { "syslog", "stderr", NULL };
      cleanup_free char *s = NULL;
      char path[32];
      snprintf (path, sizeof (path), "log[%zu]", i);
      ret = parse_enum (v->items[i], path, sinks, &s, err);
      if (ret < 0)
        return ret;
      mask |= strcmp (s, "syslog") == 0 ? NSFD_LOG_SINK_SYSLOG : NSFD_LOG_SINK_STDERR;
    }
  *out = mask;
  return 0;
}

static int
field_prefixes (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  return parse_prefixes (v, c, err);
}

static int
field_handshake (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  return parse_seconds (v, "handshakeTimeoutSeconds", 300, &c->handshake_timeout_ms, err);
}

static int
field_lifetime (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  return parse_seconds (v, "mounterLifetimeSeconds", 3600, &c->mounter_lifetime_ms, err);
}

static int
field_run_dir (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  char *p = NULL;
  if (abs_path (v, "runDir", &p, err) < 0)
    return -1;
  free (c->run_dir);
  c->run_dir = p;
  if (strcmp (p, "/") == 0)
    return nsfd_make_error (err, 0, "%s: runDir: \"/\" is not a private directory", DOC);
  return 0;
}

static int
field_log_level (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  static const char *const levels[] = { "error", "warning", "info", "debug", "trace", NULL };
  cleanup_free char *s = NULL;
  if (parse_enum (v, "logLevel", levels, &s, err) < 0)
    return -1;
  c->log_level = nsfd_log_level_parse (s);
  return 0;
}

static int
field_log (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  return parse_sinks (v, &c->log_sinks, err);
}

static int
field_runtime_path (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  char *p = NULL;
  if (abs_path (v, "runtimePath", &p, err) < 0)
    return -1;
  free (c->runtime_path);
  c->runtime_path = p;
  return 0;
}

static int
field_on_image_change (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err)
{
  static const char *const policies[] = { "refuse", "warn", NULL };
  return parse_enum (v, "onImageChange", policies, &c->on_image_change, err);
}

/* Every field the file may have, each with its reader. */
static const struct
{
  const char *name;
  int (*parse) (const struct nsfd_json *v, struct nsfd_config *c, nsfd_error_t *err);
} fields[] = {
  { "allowedVolumePrefixes", field_prefixes }, { "handshakeTimeoutSeconds", field_handshake },
  { "mounterLifetimeSeconds", field_lifetime }, { "runDir", field_run_dir },
  { "logLevel", field_log_level },              { "log", field_log },
  { "runtimePath", field_runtime_path },        { "onImageChange", field_on_image_change },
};

static int
config_parse (const char *buf, size_t len, struct nsfd_config *c, nsfd_error_t *err)
{
  const char *known[NSFD_ARRAY_SIZE (fields) + 1];
  struct nsfd_json *root = NULL;
  const struct nsfd_json *v;
  int ret;

  for (size_t i = 0; i < NSFD_ARRAY_SIZE (fields); i++)
    known[i] = fields[i].name;
  known[NSFD_ARRAY_SIZE (fields)] = NULL;
  ret = nsfd_json_parse (DOC, buf, len, &root, err);
  if (ret < 0)
    return ret;
  /* Unknown fields are refused: a typo in a security setting must not
   * silently fall back to the default. */
  ret = nsfd_json_only_keys (DOC, root, "", known, err);
  for (size_t i = 0; ret >= 0 && i < NSFD_ARRAY_SIZE (fields); i++)
    {
      ret = nsfd_json_field (DOC, root, "", fields[i].name, &v, err);
      if (ret > 0)
        ret = fields[i].parse (v, c, err);
    }
  nsfd_json_free (root);
  return ret < 0 ? -1 : 0;
}

int
nsfd_config_parse (const char *buf, size_t len, struct nsfd_config *c, nsfd_error_t *err)
{
  int ret;

  /* Callers fill the defaults first or pass a zeroed struct; both are
   * released here so neither leaks. */
  nsfd_config_free (c);
  nsfd_config_defaults (c);
  ret = defaults_complete (c, err);
  if (ret == 0)
    ret = config_parse (buf, len, c, err);
  if (ret < 0)
    nsfd_config_free (c);
  return ret;
}

/* 1 when uid_map is not the initial namespace's identity map. */
static bool
in_user_namespace (void)
{
  char buf[128] = { 0 };
  unsigned long a, b, n;
  int fd = open ("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
  ssize_t r;
  if (fd < 0)
    return false;
  r = read (fd, buf, sizeof (buf) - 1);
  close (fd);
  if (r <= 0)
    return false;
  return !(sscanf (buf, "%lu %lu %lu", &a, &b, &n) == 3 && a == 0 && b == 0 && n == 4294967295UL);
}

static uid_t
overflow_uid (void)
{
  char buf[32] = { 0 };
  int fd = open ("/proc/sys/kernel/overflowuid", O_RDONLY | O_CLOEXEC);
  uid_t u = 65534;
  if (fd >= 0)
    {
      if (read (fd, buf, sizeof (buf) - 1) > 0)
        u = (uid_t) strtoul (buf, NULL, 10);
      close (fd);
    }
  return u;
}

int
nsfd_config_load (const char *path, int explicit_path, struct nsfd_config *c, nsfd_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  struct stat st;
  int ret;

  if (path == NULL)
    path = NSFD_DEFAULT_CONFIG;
  nsfd_config_free (c);
  /* O_NONBLOCK: a FIFO in place of the file must not hang the hook. */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    {
      if (errno == ENOENT && !explicit_path)
        {
          nsfd_config_defaults (c);
          ret = defaults_complete (c, err);
          if (ret < 0)
            nsfd_config_free (c);
          return ret;
        }
      return nsfd_make_error (err, errno, "opening configuration file \"%s\"", path);
    }
  if (fstat (fd, &st) < 0)
    return nsfd_make_error (err, errno, "stat of configuration file \"%s\"", path);
  if (!S_ISREG (st.st_mode))
    return nsfd_make_error (err, 0, "configuration file \"%s\" is not a regular file", path);
  /* Whoever can write the file sets the policy: it must be the admin's.  In
   * a user-namespaced container (the createContainer hook) the host's root is
   * unmapped and shows as the overflow uid. */
  if (st.st_uid != 0 && st.st_uid != geteuid () && !(in_user_namespace () && st.st_uid == overflow_uid ()))
    return nsfd_make_error (err, 0, "configuration file \"%s\" is owned by uid %u, not root", path,
                            (unsigned) st.st_uid);
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return nsfd_make_error (err, 0, "configuration file \"%s\" is writable by group or others (mode %04o)", path,
                            (unsigned) (st.st_mode & 07777));
  ret = fcntl (fd, F_GETFL);
  if (ret >= 0)
    (void) fcntl (fd, F_SETFL, ret & ~O_NONBLOCK);
  ret = nsfd_read_all_fd (fd, NSFD_OCI_MAX_JSON, &buf, &len, err);
  if (ret < 0)
    return nsfd_error_wrap (err, "reading configuration file \"%s\"", path);
  ret = nsfd_config_parse (buf, len, c, err);
  if (ret < 0)
    return nsfd_error_wrap (err, "%s", path);
  return 0;
}

int
nsfd_config_volume_allowed (const struct nsfd_config *c, const char *host_path)
{
  cleanup_free char *clean = NULL;

  if (c == NULL || host_path == NULL || host_path[0] != '/')
    return 0;
  /* Callers pass resolved paths; a ".." would escape a prefix lexically. */
  clean = nsfd_oci_path_clean (host_path);
  if (clean == NULL)
    return 0;
  return nsfd_config_allowed_prefix (c, clean) != NULL;
}

const char *
nsfd_config_allowed_prefix (const struct nsfd_config *c, const char *host_path)
{
  const char *best = NULL;

  if (c == NULL || host_path == NULL)
    return NULL;
  for (size_t i = 0; i < c->n_allowed_volume_prefixes; i++)
    {
      const char *p = c->allowed_volume_prefixes[i];
      if (nsfd_path_is_beneath (host_path, p) && (best == NULL || strlen (best) < strlen (p)))
        best = p;
    }
  return best;
}
