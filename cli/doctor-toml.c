/* A minimal TOML reading for the engines' configs (containerd, CRI-O), line
 * by line: `[table]` headers, `key = value` with basic or literal strings,
 * numbers, booleans and arrays of strings (also over several lines), and
 * comments.  Not understood, and skipped: inline tables (`k = { ... }`),
 * dotted keys outside headers (`a.b = 1`), `[[array tables]]` and multi-line
 * strings.  The engines' keys doctor needs are never written those ways in
 * the shipped snippets or the engines' generated defaults. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "doctor.h"

#define MAX_LINE 8192
#define MAX_LINES 100000

/* Cuts a comment that is not inside a string. */
static void
strip_comment (char *s)
{
  char q = 0;
  for (char *p = s; *p; p++)
    {
      if (q)
        {
          if (*p == '\\' && q == '"' && p[1])
            p++;
          else if (*p == q)
            q = 0;
        }
      else if (*p == '"' || *p == '\'')
        q = *p;
      else if (*p == '#')
        {
          *p = '\0';
          return;
        }
    }
}

static char *
trim (char *s)
{
  size_t n;
  while (isspace ((unsigned char) *s))
    s++;
  n = strlen (s);
  while (n > 0 && isspace ((unsigned char) s[n - 1]))
    s[--n] = '\0';
  return s;
}

/* A header: [a."b.c".d] with the quotes removed. */
static void
header (const char *s, char *table, size_t cap)
{
  size_t o = 0;
  char q = 0;
  for (s++; *s && o + 1 < cap; s++)
    {
      if (q)
        {
          if (*s == q)
            q = 0;
          else
            table[o++] = *s;
        }
      else if (*s == '"' || *s == '\'')
        q = *s;
      else if (*s == ']')
        break;
      else if (!isspace ((unsigned char) *s))
        table[o++] = *s;
    }
  table[o] = '\0';
}

static int
brackets_open (const char *v)
{
  int depth = 0;
  char q = 0;
  for (; *v; v++)
    {
      if (q)
        {
          if (*v == '\\' && q == '"' && v[1])
            v++;
          else if (*v == q)
            q = 0;
        }
      else if (*v == '"' || *v == '\'')
        q = *v;
      else if (*v == '[')
        depth++;
      else if (*v == ']')
        depth--;
    }
  return depth;
}

int
nsfd_doctor_toml_each (const char *path,
                       void (*fn) (void *ctx, const char *table, const char *key, const char *value), void *ctx)
{
  cleanup_file FILE *f = fopen (path, "re");
  char line[MAX_LINE], table[1024] = "", pending[MAX_LINE * 4], key[256];
  bool in_array = false;
  int n = 0;

  if (f == NULL)
    return -1;
  while (fgets (line, sizeof (line), f) && n++ < MAX_LINES)
    {
      char *s, *eq;
      strip_comment (line);
      s = trim (line);
      if (in_array)
        {
          if (strlen (pending) + strlen (s) + 2 < sizeof (pending))
            strcat (strcat (pending, " "), s);
          if (brackets_open (pending) <= 0)
            {
              in_array = false;
              fn (ctx, table, key, pending);
            }
          continue;
        }
      if (*s == '\0')
        continue;
      if (s[0] == '[')
        {
          if (s[1] == '[')
            table[0] = '\0'; /* [[array table]]: not understood */
          else
            header (s, table, sizeof (table));
          continue;
        }
      eq = strchr (s, '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
      snprintf (key, sizeof (key), "%s", trim (s));
      /* "key" written quoted */
      if (key[0] == '"' && strlen (key) > 1 && key[strlen (key) - 1] == '"')
        {
          memmove (key, key + 1, strlen (key));
          key[strlen (key) - 1] = '\0';
        }
      snprintf (pending, sizeof (pending), "%s", trim (eq + 1));
      if (pending[0] == '[' && brackets_open (pending) > 0)
        in_array = true;
      else
        fn (ctx, table, key, pending);
    }
  return 0;
}

size_t
nsfd_doctor_toml_strings (const char *v, char out[][4096], size_t max)
{
  size_t n = 0;
  for (; *v && n < max; v++)
    {
      char q = *v;
      size_t o = 0;
      if (q != '"' && q != '\'')
        continue;
      for (v++; *v && *v != q; v++)
        {
          if (q == '"' && *v == '\\' && v[1])
            v++;
          if (o + 1 < 4096)
            out[n][o++] = *v;
        }
      out[n++][o] = '\0';
      if (*v == '\0')
        break;
    }
  return n;
}
