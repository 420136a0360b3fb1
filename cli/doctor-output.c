/* The doctor report: checks collected by the steps, printed as an aligned
 * table or as JSON (schema in docs/install.md, "Checking a node"). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "doctor.h"

const char *
nsfd_doctor_status_name (enum nsfd_doctor_status s)
{
  return s == NSFD_DOCTOR_OK ? "ok" : s == NSFD_DOCTOR_WARN ? "warn" : "fail";
}

const char *
nsfd_doctor_pivot_name (enum nsfd_doctor_pivot p)
{
  return p == NSFD_PIVOT_PATH ? "path" : p == NSFD_PIVOT_PREOPENED ? "preopened" : "unknown";
}

static char *
vformat (const char *fmt, va_list ap)
{
  char *s = NULL;
  if (vasprintf (&s, fmt, ap) < 0)
    return NULL;
  /* one line each */
  for (char *p = s; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t')
      *p = ' ';
  return s;
}

struct nsfd_doctor_check *
nsfd_doctor_add (struct nsfd_doctor *d, const char *name, const char *subject, enum nsfd_doctor_status status,
                 const char *fmt, ...)
{
  struct nsfd_doctor_check *c;
  va_list ap;

  if (d->n_checks < NSFD_DOCTOR_MAX_CHECKS)
    c = &d->checks[d->n_checks++];
  else
    {
      c = &d->checks[NSFD_DOCTOR_MAX_CHECKS - 1];
      free (c->subject);
      free (c->evidence);
      free (c->fix);
    }
  memset (c, 0, sizeof (*c));
  snprintf (c->name, sizeof (c->name), "%s", name);
  c->subject = subject ? strdup (subject) : NULL;
  c->status = status;
  va_start (ap, fmt);
  c->evidence = vformat (fmt, ap);
  va_end (ap);
  return c;
}

void
nsfd_doctor_fix (struct nsfd_doctor_check *c, const char *fmt, ...)
{
  va_list ap;
  free (c->fix);
  va_start (ap, fmt);
  c->fix = vformat (fmt, ap);
  va_end (ap);
}

void
nsfd_doctor_free (struct nsfd_doctor *d)
{
  for (size_t i = 0; i < d->n_checks; i++)
    {
      free (d->checks[i].subject);
      free (d->checks[i].evidence);
      free (d->checks[i].fix);
    }
  d->n_checks = 0;
  nsfd_config_free (&d->cfg);
}

enum nsfd_doctor_status
nsfd_doctor_verdict (const struct nsfd_doctor *d)
{
  enum nsfd_doctor_status v = NSFD_DOCTOR_OK;
  for (size_t i = 0; i < d->n_checks; i++)
    if (d->checks[i].status > v)
      v = d->checks[i].status;
  return v;
}

void
nsfd_doctor_print_table (const struct nsfd_doctor *d, long long elapsed_ms)
{
  int w = 5;
  size_t warns = 0, fails = 0;
  enum nsfd_doctor_status v = nsfd_doctor_verdict (d);

  for (size_t i = 0; i < d->n_checks; i++)
    if ((int) strlen (d->checks[i].name) > w)
      w = (int) strlen (d->checks[i].name);
  printf ("%-*s  %-6s %s\n", w, "CHECK", "STATUS", "EVIDENCE");
  for (size_t i = 0; i < d->n_checks; i++)
    {
      const struct nsfd_doctor_check *c = &d->checks[i];
      printf ("%-*s  %-6s %s\n", w, c->name, nsfd_doctor_status_name (c->status), c->evidence ? c->evidence : "");
      if (c->fix && c->status != NSFD_DOCTOR_OK)
        printf ("%-*s  %-6s fix: %s\n", w, "", "", c->fix);
      warns += c->status == NSFD_DOCTOR_WARN;
      fails += c->status == NSFD_DOCTOR_FAIL;
    }
  printf ("verdict: %s (%zu check%s, %zu warning%s, %zu failure%s) in %.2f s\n", nsfd_doctor_status_name (v),
          d->n_checks, d->n_checks == 1 ? "" : "s", warns, warns == 1 ? "" : "s", fails, fails == 1 ? "" : "s",
          (double) elapsed_ms / 1000.0);
}

/* Not inlined: gcc with the sanitizers then sees strlen of a string it took
 * for an empty array and fails the build (-Wstringop-overread). */
static __attribute__ ((noinline)) void
gen_str (yajl_gen g, const char *s)
{
  if (s == NULL)
    yajl_gen_null (g);
  else
    yajl_gen_string (g, (const unsigned char *) s, strlen (s));
}

static void
gen_runtimes (yajl_gen g, const struct nsfd_doctor *d)
{
  gen_str (g, "runtimes");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < d->n_runtimes; i++)
    {
      const struct nsfd_doctor_runtime *r = &d->runtimes[i];
      yajl_gen_map_open (g);
      gen_str (g, "path"), gen_str (g, r->path);
      gen_str (g, "foundIn"), gen_str (g, r->from);
      gen_str (g, "name"), gen_str (g, r->name);
      gen_str (g, "version"), gen_str (g, r->version);
      gen_str (g, "pivot"), gen_str (g, nsfd_doctor_pivot_name (r->pivot));
      gen_str (g, "hookMode");
      gen_str (g, r->pivot == NSFD_PIVOT_PATH ? "works" : r->pivot == NSFD_PIVOT_PREOPENED ? "use-wrapper" : "unknown");
      gen_str (g, "reason"), gen_str (g, r->reason[0] ? r->reason : NULL);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
}

int
nsfd_doctor_print_json (const struct nsfd_doctor *d, long long elapsed_ms)
{
  yajl_gen g = yajl_gen_alloc (NULL);
  const unsigned char *buf;
  size_t len;

  if (g == NULL)
    return -1;
  yajl_gen_config (g, yajl_gen_beautify, 1);
  yajl_gen_map_open (g);
  gen_str (g, "schemaVersion"), yajl_gen_integer (g, 1);
  gen_str (g, "verdict"), gen_str (g, nsfd_doctor_status_name (nsfd_doctor_verdict (d)));
  gen_str (g, "exitCode"), yajl_gen_integer (g, (long long) nsfd_doctor_verdict (d));
  gen_str (g, "durationMs"), yajl_gen_integer (g, elapsed_ms);
  gen_str (g, "checks");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < d->n_checks; i++)
    {
      const struct nsfd_doctor_check *c = &d->checks[i];
      yajl_gen_map_open (g);
      gen_str (g, "name"), gen_str (g, c->name);
      gen_str (g, "subject"), gen_str (g, c->subject);
      gen_str (g, "status"), gen_str (g, nsfd_doctor_status_name (c->status));
      gen_str (g, "evidence"), gen_str (g, c->evidence ? c->evidence : "");
      gen_str (g, "fix"), gen_str (g, c->status == NSFD_DOCTOR_OK ? NULL : c->fix);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
  gen_runtimes (g, d);
  yajl_gen_map_close (g);
  yajl_gen_get_buf (g, &buf, &len);
  fwrite (buf, 1, len, stdout);
  yajl_gen_free (g);
  return 0;
}
