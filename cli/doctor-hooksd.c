/* CRI-O / Podman hooks.d: our files (nsfdsuds*.json, or any file whose hook
 * is nsfdsuds-hook) must be schema 1.0.0 JSON, name an existing executable,
 * match annotations with anchored patterns that pass nsfdsuds.io/ keys, and
 * together cover createRuntime, createContainer and poststop.  A file in a
 * later directory (/etc/containers/oci/hooks.d) overrides one of the same
 * name in an earlier one, as the engines do. */
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "doctor.h"
#include "oci.h"

#define MAX_FILES 64
#define DOC "hooks.d file"

static const char *const our_stages[] = { "createRuntime", "createContainer", "poststop" };

struct hook_file
{
  char dir[4096];
  char name[256];
  bool ours;
  bool overridden;
  char problem[1024];   /* empty: valid */
  char stages[128];     /* the stages it names, comma-separated */
  char hook[4096];
  bool precreate;
};

/* RE2 flags such as "(?s)" at the start, then "^" ... "$". */
static bool
anchored (const char *re)
{
  size_t n = strlen (re);
  if (strncmp (re, "(?", 2) == 0)
    {
      const char *e = strchr (re, ')');
      if (e == NULL)
        return false;
      re = e + 1;
      n = strlen (re);
    }
  return n >= 2 && re[0] == '^' && re[n - 1] == '$' && (n < 3 || re[n - 2] != '\\');
}

/* Whether the pattern (as POSIX ERE, flags dropped) matches s; -1 when it
 * is not understood here. */
static int
matches (const char *re, const char *s)
{
  regex_t rx;
  int r;
  if (strncmp (re, "(?", 2) == 0 && strchr (re, ')'))
    re = strchr (re, ')') + 1;
  if (regcomp (&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
    return -1;
  r = regexec (&rx, s, 0, NULL, 0) == 0;
  regfree (&rx);
  return r;
}

static int
check_when (const struct nsfd_json *root, char *problem, size_t cap)
{
  nsfd_error_t err = NULL;
  const struct nsfd_json *when = NULL, *ann = NULL;
  if (nsfd_json_field (DOC, root, "", "when", &when, &err) <= 0 || when->type != NSFD_JSON_OBJECT
      || nsfd_json_field (DOC, when, "when", "annotations", &ann, &err) <= 0 || ann->type != NSFD_JSON_OBJECT
      || ann->len == 0)
    {
      nsfd_error_free (&err);
      snprintf (problem, cap, "no when.annotations condition (the hook must run for nsfdsuds.io/ annotations)");
      return -1;
    }
  for (size_t i = 0; i < ann->len; i++)
    {
      const char *k = ann->keys[i], *v = ann->items[i]->type == NSFD_JSON_STRING ? ann->items[i]->text : NULL;
      if (v == NULL)
        return snprintf (problem, cap, "when.annotations[\"%s\"] is not a string", k), -1;
      if (!anchored (k) || !anchored (v))
        return snprintf (problem, cap, "annotation pattern \"%s\": \"%s\" is not anchored with ^...$ "
                                       "(the engines match unanchored)", k, v), -1;
      if (matches (k, "nsfdsuds.io/persist") == 0 || matches (k, "nsfdsuds.io/layer.app") == 0
          || matches (v, "/data") == 0)
        return snprintf (problem, cap, "annotation pattern \"%s\": \"%s\" does not match nsfdsuds.io/ keys", k, v), -1;
    }
  return 0;
}

static int
check_hook (const struct nsfd_json *root, struct hook_file *f)
{
  nsfd_error_t err = NULL;
  const struct nsfd_json *hook = NULL, *path = NULL;
  struct stat st;
  if (nsfd_json_field (DOC, root, "", "hook", &hook, &err) <= 0 || hook->type != NSFD_JSON_OBJECT
      || nsfd_json_field (DOC, hook, "hook", "path", &path, &err) <= 0 || path->type != NSFD_JSON_STRING)
    {
      nsfd_error_free (&err);
      return snprintf (f->problem, sizeof (f->problem), "no hook.path string"), -1;
    }
  snprintf (f->hook, sizeof (f->hook), "%s", path->text);
  f->ours = f->ours || (strrchr (f->hook, '/') && strcmp (strrchr (f->hook, '/') + 1, "nsfdsuds-hook") == 0);
  if (f->hook[0] != '/' || stat (f->hook, &st) < 0 || !S_ISREG (st.st_mode) || access (f->hook, X_OK) < 0)
    return snprintf (f->problem, sizeof (f->problem), "hook.path %s is not an executable file", f->hook), -1;
  return 0;
}

static int
check_stages (const struct nsfd_json *root, struct hook_file *f)
{
  nsfd_error_t err = NULL;
  const struct nsfd_json *stages = NULL;
  if (nsfd_json_field (DOC, root, "", "stages", &stages, &err) <= 0 || stages->type != NSFD_JSON_ARRAY
      || stages->len == 0)
    {
      nsfd_error_free (&err);
      return snprintf (f->problem, sizeof (f->problem), "no stages"), -1;
    }
  for (size_t i = 0; i < stages->len; i++)
    {
      const char *s = stages->items[i]->type == NSFD_JSON_STRING ? stages->items[i]->text : "?";
      f->precreate = f->precreate || strcmp (s, "precreate") == 0;
      snprintf (f->stages + strlen (f->stages), sizeof (f->stages) - strlen (f->stages), "%s%s",
                f->stages[0] ? "," : "", s);
    }
  return 0;
}

static void
check_file (struct hook_file *f)
{
  nsfd_error_t err = NULL;
  cleanup_free char *buf = NULL;
  char path[4400];
  size_t len = 0;
  struct nsfd_json *root = NULL;
  const struct nsfd_json *v = NULL;
  cleanup_file FILE *fp = NULL;

  snprintf (path, sizeof (path), "%s/%s", f->dir, f->name);
  fp = fopen (path, "re");
  if (fp == NULL || nsfd_read_all_fd (fileno (fp), NSFD_OCI_MAX_JSON, &buf, &len, &err) < 0
      || nsfd_json_parse (DOC, buf, len, &root, &err) < 0 || root->type != NSFD_JSON_OBJECT)
    {
      snprintf (f->problem, sizeof (f->problem), "not valid JSON: %s", err ? nsfd_error_text (err) : strerror (errno));
      nsfd_error_free (&err);
      nsfd_json_free (root);
      return;
    }
  if (nsfd_json_field (DOC, root, "", "version", &v, &err) <= 0 || v->type != NSFD_JSON_STRING
      || strcmp (v->text, "1.0.0") != 0)
    snprintf (f->problem, sizeof (f->problem), "\"version\" is not \"1.0.0\" (the schema the engines read)");
  else if (check_hook (root, f) == 0 && check_stages (root, f) == 0 && f->ours)
    (void) check_when (root, f->problem, sizeof (f->problem));
  nsfd_error_free (&err);
  nsfd_json_free (root);
}

static size_t
list_dir (const char *dir, struct hook_file *files, size_t n)
{
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && (de = readdir (d)) != NULL && n < MAX_FILES)
    {
      size_t l = strlen (de->d_name);
      if (l < 6 || strcmp (de->d_name + l - 5, ".json") != 0 || l >= sizeof (files[n].name))
        continue;
      for (size_t i = 0; i < n; i++)
        if (strcmp (files[i].name, de->d_name) == 0)
          files[i].overridden = true; /* a later directory wins */
      memset (&files[n], 0, sizeof (files[n]));
      snprintf (files[n].dir, sizeof (files[n].dir), "%s", dir);
      snprintf (files[n].name, sizeof (files[n].name), "%s", de->d_name);
      files[n].ours = strncmp (de->d_name, "nsfdsuds", 8) == 0;
      check_file (&files[n]);
      if (files[n].ours)
        n++;
    }
  return n;
}

static void
report_dir (struct nsfd_doctor *d, const char *dir, struct hook_file *files, size_t n, bool *stage_seen)
{
  struct nsfd_doctor_check *c;
  char names[1024] = "", hook[4096] = "";
  size_t count = 0;

  for (size_t i = 0; i < n; i++)
    {
      struct hook_file *f = &files[i];
      if (strcmp (f->dir, dir) != 0 || f->overridden)
        continue;
      if (f->problem[0])
        {
          c = nsfd_doctor_add (d, "engine.hooks.d", dir, NSFD_DOCTOR_FAIL, "%s/%s: %s", dir, f->name, f->problem);
          nsfd_doctor_fix (c, "reinstall the shipped file (cmake --install puts it in %s) or correct it; "
                              "CRI-O and Podman skip or refuse a broken hook file",
                           dir);
          continue;
        }
      for (size_t s = 0; s < NSFD_ARRAY_SIZE (our_stages); s++)
        if (strstr (f->stages, our_stages[s]))
          stage_seen[s] = true;
      if (f->precreate)
        {
          c = nsfd_doctor_add (d, "engine.hooks.d", dir, NSFD_DOCTOR_WARN, "%s/%s: stage precreate is Podman-only",
                               dir, f->name);
          nsfd_doctor_fix (c, "CRI-O rejects the file: use the shipped files' stages");
        }
      snprintf (names + strlen (names), sizeof (names) - strlen (names), "%s%s", count ? ", " : "", f->name);
      snprintf (hook, sizeof (hook), "%s", f->hook);
      count++;
    }
  if (count)
    nsfd_doctor_add (d, "engine.hooks.d", dir, NSFD_DOCTOR_OK, "%s: %s valid, hook %s", dir, names, hook);
}

void
nsfd_doctor_hooksd (struct nsfd_doctor *d)
{
  static struct hook_file files[MAX_FILES]; /* large; doctor runs this once */
  bool stage_seen[NSFD_ARRAY_SIZE (our_stages)] = { false };
  size_t n = 0, valid = 0;
  struct nsfd_doctor_check *c;
  char missing[128] = "";

  for (size_t i = 0; i < d->n_hooks_dirs; i++)
    n = list_dir (d->hooks_dirs[i], files, n);
  for (size_t i = 0; i < d->n_hooks_dirs; i++)
    report_dir (d, d->hooks_dirs[i], files, n, stage_seen);
  for (size_t i = 0; i < n; i++)
    valid += !files[i].overridden && !files[i].problem[0];
  if (n == 0)
    return; /* hook mode is not registered for CRI-O/Podman: engines step says so if nothing is */
  d->hooksd_registered = valid > 0;
  for (size_t s = 0; s < NSFD_ARRAY_SIZE (our_stages); s++)
    if (!stage_seen[s])
      snprintf (missing + strlen (missing), sizeof (missing) - strlen (missing), "%s%s", missing[0] ? ", " : "",
                our_stages[s]);
  if (missing[0] && valid > 0)
    {
      c = nsfd_doctor_add (d, "engine.hooks.d", NULL, NSFD_DOCTOR_FAIL,
                           "hook mode is registered without a valid hook at %s", missing);
      nsfd_doctor_fix (c, "install all three nsfdsuds-{createruntime,createcontainer,poststop}.json files");
    }
}
