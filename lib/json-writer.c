/* The one JSON writer (see json.h): layer.json, holder.json, the runtime
 * record and the runtime's log lines all go through it, so escaping is done
 * in one place. */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* How many bytes c takes escaped. */
static size_t
escaped_size (unsigned char c)
{
  if (c == '"' || c == '\\')
    return 2;
  return c < 0x20 ? 6 : 1;
}

/* Escapes in (NUL-terminated) into out, whole characters only, as many as
 * fit in cap bytes (no NUL is written).  Returns the bytes written; *used
 * tells how many bytes of in they stand for. */
static size_t
escape_into (const char *in, char *out, size_t cap, size_t *used)
{
  size_t o = 0, i;

  for (i = 0; in[i]; i++)
    {
      unsigned char c = (unsigned char) in[i];
      size_t need = escaped_size (c);
      if (o + need > cap)
        break;
      if (need == 6)
        {
          static const char hex[] = "0123456789abcdef";
          memcpy (out + o, "\\u00", 4);
          out[o + 4] = hex[c >> 4];
          out[o + 5] = hex[c & 0xf];
        }
      else if (need == 2)
        {
          out[o] = '\\';
          out[o + 1] = (char) c;
        }
      else
        out[o] = (char) c;
      o += need;
    }
  *used = i;
  return o;
}

static void
fail (struct nsfd_jw *w, int e)
{
  if (w->error == 0)
    w->error = e;
}

/* Appends n bytes; the buffer always keeps room for the final NUL. */
static void
put (struct nsfd_jw *w, const char *s, size_t n)
{
  if (w->error)
    return;
  if (n >= w->cap - w->len)
    {
      fail (w, ENOBUFS);
      return;
    }
  memcpy (w->buf + w->len, s, n);
  w->len += n;
  w->buf[w->len] = '\0';
}

static void
put_str (struct nsfd_jw *w, const char *s)
{
  put (w, s, strlen (s));
}

static void
put_indent (struct nsfd_jw *w, unsigned level)
{
  put (w, "\n", 1);
  for (unsigned i = 0; i < level; i++)
    put (w, "  ", 2);
}

static void
put_quoted (struct nsfd_jw *w, const char *s)
{
  size_t used, n;

  if (s == NULL)
    {
      fail (w, EINVAL);
      return;
    }
  put (w, "\"", 1);
  if (w->error)
    return;
  n = escape_into (s, w->buf + w->len, w->cap - w->len - 1, &used);
  w->len += n;
  w->buf[w->len] = '\0';
  if (s[used] != '\0')
    fail (w, ENOBUFS);
  put (w, "\"", 1);
}

/* Every value but the top-level object follows a key. */
static bool
value_start (struct nsfd_jw *w)
{
  if (w->error)
    return false;
  if (!w->want_value)
    {
      fail (w, EINVAL);
      return false;
    }
  w->want_value = false;
  return true;
}

void
nsfd_jw_init (struct nsfd_jw *w, char *buf, size_t cap, bool pretty)
{
  memset (w, 0, sizeof (*w));
  w->buf = buf;
  w->cap = cap;
  w->pretty = pretty;
  if (buf == NULL || cap == 0 || cap > NSFD_JW_MAX_SIZE)
    {
      w->error = EINVAL;
      w->cap = 0;
      return;
    }
  buf[0] = '\0';
}

void
nsfd_jw_object_begin (struct nsfd_jw *w)
{
  if (w->error)
    return;
  /* The top-level object comes first and only once. */
  if (w->depth == 0 ? w->len != 0 : !value_start (w))
    {
      fail (w, EINVAL);
      return;
    }
  if (w->depth >= NSFD_JW_MAX_DEPTH)
    {
      fail (w, EINVAL);
      return;
    }
  w->members[w->depth++] = false;
  put (w, "{", 1);
}

void
nsfd_jw_key (struct nsfd_jw *w, const char *key)
{
  if (w->error)
    return;
  if (w->depth == 0 || w->want_value || key == NULL)
    {
      fail (w, EINVAL);
      return;
    }
  if (w->members[w->depth - 1])
    put (w, ",", 1);
  w->members[w->depth - 1] = true;
  if (w->pretty)
    put_indent (w, w->depth);
  put_quoted (w, key);
  put_str (w, w->pretty ? ": " : ":");
  w->want_value = true;
}

void
nsfd_jw_string (struct nsfd_jw *w, const char *s)
{
  if (value_start (w))
    put_quoted (w, s);
}

void
nsfd_jw_int (struct nsfd_jw *w, long long v)
{
  char num[32];
  if (value_start (w))
    put (w, num, (size_t) snprintf (num, sizeof (num), "%lld", v));
}

void
nsfd_jw_uint (struct nsfd_jw *w, unsigned long long v)
{
  char num[32];
  if (value_start (w))
    put (w, num, (size_t) snprintf (num, sizeof (num), "%llu", v));
}

void
nsfd_jw_bool (struct nsfd_jw *w, bool v)
{
  if (value_start (w))
    put_str (w, v ? "true" : "false");
}

void
nsfd_jw_object_end (struct nsfd_jw *w)
{
  if (w->error)
    return;
  if (w->depth == 0 || w->want_value)
    {
      fail (w, EINVAL);
      return;
    }
  w->depth--;
  if (w->pretty && w->members[w->depth])
    put_indent (w, w->depth);
  put (w, "}", 1);
}

void
nsfd_jw_member_string (struct nsfd_jw *w, const char *key, const char *s)
{
  nsfd_jw_key (w, key);
  nsfd_jw_string (w, s);
}

void
nsfd_jw_member_int (struct nsfd_jw *w, const char *key, long long v)
{
  nsfd_jw_key (w, key);
  nsfd_jw_int (w, v);
}

void
nsfd_jw_member_uint (struct nsfd_jw *w, const char *key, unsigned long long v)
{
  nsfd_jw_key (w, key);
  nsfd_jw_uint (w, v);
}

void
nsfd_jw_member_bool (struct nsfd_jw *w, const char *key, bool v)
{
  nsfd_jw_key (w, key);
  nsfd_jw_bool (w, v);
}

int
nsfd_jw_finish (struct nsfd_jw *w, const char *doc, size_t *len, nsfd_error_t *err)
{
  if (w->error == 0 && (w->depth != 0 || w->len == 0))
    fail (w, EINVAL);
  put (w, "\n", 1);
  if (w->error == ENOBUFS)
    return nsfd_make_error (err, ENOBUFS, "%s: more than %zu bytes", doc, w->cap);
  if (w->error)
    return nsfd_make_error (err, w->error, "%s: writing the JSON", doc);
  *len = w->len;
  return 0;
}

static bool
valid_level (const char *level)
{
  if (level == NULL || *level == '\0')
    return false;
  for (const char *p = level; *p; p++)
    if (*p < 'a' || *p > 'z')
      return false;
  return true;
}

int
nsfd_jw_logrus_line (char *out, size_t cap, bool json, const char *level, const char *msg, time_t when)
{
  char stamp[32], head[96];
  const char *tail;
  struct tm tm;
  size_t hl, tl, used, n;

  if (out == NULL || msg == NULL || !valid_level (level) || strlen (level) > 16 || gmtime_r (&when, &tm) == NULL)
    {
      errno = EINVAL;
      return -1;
    }
  strftime (stamp, sizeof (stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (json)
    snprintf (head, sizeof (head), "{\"level\":\"%s\",\"msg\":\"", level);
  else
    snprintf (head, sizeof (head), "time=\"%s\" level=%s msg=\"", stamp, level);
  hl = strlen (head);
  tail = json ? "\",\"time\":\"" : "\"\n";
  tl = strlen (tail) + (json ? strlen (stamp) + 3 : 0); /* json: stamp, "}\n */
  if (cap < hl + tl + 1)
    {
      errno = ENOBUFS;
      return -1;
    }
  memcpy (out, head, hl);
  n = hl + escape_into (msg, out + hl, cap - hl - tl - 1, &used);
  n += (size_t) snprintf (out + n, cap - n, "%s%s%s", tail, json ? stamp : "", json ? "\"}\n" : "");
  return (int) n;
}
