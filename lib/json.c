/* The bounded JSON tree (see json.h): yajl's callback parser builds it so
 * that depth is bounded while parsing, keys keep their duplicates so lookups
 * can refuse them, and numbers keep their text. */
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "cleanup.h"
#include "clock.h"

char *
nsfd_escape_for_message (const char *in, size_t len, char *out, size_t outsz)
{
  size_t o = 0, i;

  if (outsz == 0)
    return out;
  for (i = 0; i < len && in[i]; i++)
    {
      unsigned char c = (unsigned char) in[i];
      bool plain = c >= 0x20 && c != 0x7f && c != '"' && c != '\\';
      if (o + (plain ? 1 : 4) + 4 > outsz)
        break;
      if (plain)
        out[o++] = (char) c;
      else
        o += (size_t) snprintf (out + o, outsz - o, "\\x%02x", c);
    }
  if (i < len && in[i] && o + 4 <= outsz)
    {
      memcpy (out + o, "...", 3);
      o += 3;
    }
  out[o] = '\0';
  return out;
}

/* ------------------------------------------------------------------------ */
/* Bounded JSON tree                                                        */
/* ------------------------------------------------------------------------ */

void
nsfd_json_free (struct nsfd_json *j)
{
  if (j == NULL)
    return;
  for (size_t i = 0; i < j->len; i++)
    {
      nsfd_json_free (j->items[i]);
      if (j->keys)
        free (j->keys[i]);
    }
  free (j->items);
  free (j->keys);
  free (j->key_lens);
  free (j->text);
  free (j);
}

void
nsfd_json_freep (struct nsfd_json **j)
{
  nsfd_json_free (*j);
  *j = NULL;
}

struct json_builder
{
  const char *doc;
  struct nsfd_json *root;
  struct nsfd_json *stack[NSFD_JSON_MAX_DEPTH];
  size_t depth;
  char *pending_key;      /* key waiting for its value */
  size_t pending_key_len;
  char *error;            /* our own reason to stop, when set */
};

static int
builder_fail (struct json_builder *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
builder_fail (struct json_builder *b, const char *fmt, ...)
{
  va_list ap;
  if (b->error == NULL)
    {
      va_start (ap, fmt);
      if (vasprintf (&b->error, fmt, ap) < 0)
        b->error = NULL;
      va_end (ap);
    }
  return 0; /* tells yajl to stop */
}

static char *
dup_mem (const unsigned char *s, size_t len)
{
  char *r = malloc (len + 1);
  if (r == NULL)
    return NULL;
  memcpy (r, s, len);
  r[len] = '\0';
  return r;
}

/* Attaches a new node to the current container (or makes it the root). */
static int
builder_add (struct json_builder *b, struct nsfd_json *node)
{
  struct nsfd_json *parent;

  if (b->depth == 0)
    {
      if (b->root != NULL)
        {
          nsfd_json_free (node);
          return builder_fail (b, "more than one top-level value");
        }
      b->root = node;
      return 1;
    }
  parent = b->stack[b->depth - 1];
  if (parent->len == parent->cap)
    {
      size_t ncap = parent->cap ? parent->cap * 2 : 8;
      struct nsfd_json **items = realloc (parent->items, ncap * sizeof (*items));
      if (items == NULL)
        goto oom;
      parent->items = items;
      if (parent->type == NSFD_JSON_OBJECT)
        {
          char **keys = realloc (parent->keys, ncap * sizeof (*keys));
          if (keys == NULL)
            goto oom;
          parent->keys = keys;
          size_t *lens = realloc (parent->key_lens, ncap * sizeof (*lens));
          if (lens == NULL)
            goto oom;
          parent->key_lens = lens;
        }
      parent->cap = ncap;
    }
  if (parent->type == NSFD_JSON_OBJECT)
    {
      if (b->pending_key == NULL)
        {
          nsfd_json_free (node);
          return builder_fail (b, "value without a key");
        }
      parent->keys[parent->len] = b->pending_key;
      parent->key_lens[parent->len] = b->pending_key_len;
      b->pending_key = NULL;
    }
  parent->items[parent->len++] = node;
  return 1;

oom:
  nsfd_json_free (node);
  return builder_fail (b, "out of memory");
}

static struct nsfd_json *
node_new (enum nsfd_json_type type)
{
  struct nsfd_json *n = calloc (1, sizeof (*n));
  if (n)
    n->type = type;
  return n;
}

static int
cb_null (void *ctx)
{
  struct json_builder *b = ctx;
  struct nsfd_json *n = node_new (NSFD_JSON_NULL);
  if (n == NULL)
    return builder_fail (b, "out of memory");
  return builder_add (b, n);
}

static int
cb_boolean (void *ctx, int v)
{
  struct json_builder *b = ctx;
  struct nsfd_json *n = node_new (NSFD_JSON_BOOL);
  if (n == NULL)
    return builder_fail (b, "out of memory");
  n->boolean = v ? 1 : 0;
  return builder_add (b, n);
}

static int
cb_text (struct json_builder *b, enum nsfd_json_type type, const unsigned char *s, size_t len)
{
  struct nsfd_json *n = node_new (type);
  if (n == NULL)
    return builder_fail (b, "out of memory");
  n->text = dup_mem (s, len);
  if (n->text == NULL)
    {
      free (n);
      return builder_fail (b, "out of memory");
    }
  n->text_len = len;
  return builder_add (b, n);
}

static int
cb_number (void *ctx, const char *s, size_t len)
{
  return cb_text (ctx, NSFD_JSON_NUMBER, (const unsigned char *) s, len);
}

static int
cb_string (void *ctx, const unsigned char *s, size_t len)
{
  return cb_text (ctx, NSFD_JSON_STRING, s, len);
}

static int
builder_open (struct json_builder *b, enum nsfd_json_type type)
{
  struct nsfd_json *n;

  if (b->depth >= NSFD_JSON_MAX_DEPTH)
    return builder_fail (b, "nesting deeper than %d levels", NSFD_JSON_MAX_DEPTH);
  n = node_new (type);
  if (n == NULL)
    return builder_fail (b, "out of memory");
  if (!builder_add (b, n))
    return 0;
  b->stack[b->depth++] = n;
  return 1;
}

static int
cb_start_map (void *ctx)
{
  return builder_open (ctx, NSFD_JSON_OBJECT);
}

static int
cb_start_array (void *ctx)
{
  return builder_open (ctx, NSFD_JSON_ARRAY);
}

static int
cb_close (void *ctx)
{
  struct json_builder *b = ctx;
  if (b->depth == 0)
    return builder_fail (b, "unbalanced close");
  b->depth--;
  return 1;
}

static int
cb_map_key (void *ctx, const unsigned char *s, size_t len)
{
  struct json_builder *b = ctx;
  free (b->pending_key);
  b->pending_key = dup_mem (s, len);
  if (b->pending_key == NULL)
    return builder_fail (b, "out of memory");
  b->pending_key_len = len;
  return 1;
}

static const yajl_callbacks builder_callbacks = {
  .yajl_null = cb_null,
  .yajl_boolean = cb_boolean,
  .yajl_number = cb_number,
  .yajl_string = cb_string,
  .yajl_start_map = cb_start_map,
  .yajl_map_key = cb_map_key,
  .yajl_end_map = cb_close,
  .yajl_start_array = cb_start_array,
  .yajl_end_array = cb_close,
};

int
nsfd_json_parse (const char *doc, const char *buf, size_t len, struct nsfd_json **out, nsfd_error_t *err)
{
  struct json_builder b = { .doc = doc };
  yajl_handle h;
  yajl_status st;
  int ret = 0;

  *out = NULL;
  if (len > NSFD_JSON_MAX_SIZE)
    return nsfd_make_error (err, EFBIG, "%s: document is %zu bytes, more than the limit of %d", doc, len,
                            NSFD_JSON_MAX_SIZE);
  if (len == 0)
    return nsfd_make_error (err, 0, "%s: empty document", doc);

  h = yajl_alloc (&builder_callbacks, NULL, &b);
  if (h == NULL)
    return nsfd_make_error (err, ENOMEM, "%s: allocating the JSON parser", doc);
  /* Strict JSON: no comments, UTF-8 validated, one value, nothing after it. */
  st = yajl_parse (h, (const unsigned char *) buf, len);
  if (st == yajl_status_ok)
    st = yajl_complete_parse (h);
  if (st != yajl_status_ok || b.root == NULL || b.depth != 0)
    {
      size_t at = yajl_get_bytes_consumed (h);
      if (b.error != NULL)
        ret = nsfd_make_error (err, 0, "%s: invalid JSON: %s (near byte %zu)", doc, b.error, at);
      else if (st == yajl_status_error)
        {
          unsigned char *msg = yajl_get_error (h, 0, (const unsigned char *) buf, len);
          char *nl;
          if (msg != NULL && (nl = strchr ((char *) msg, '\n')) != NULL)
            *nl = '\0';
          ret = nsfd_make_error (err, 0, "%s: invalid JSON: %s (near byte %zu)", doc,
                                 msg ? (const char *) msg : "parse error", at);
          if (msg)
            yajl_free_error (h, msg);
        }
      else
        ret = nsfd_make_error (err, 0, "%s: invalid JSON: truncated document", doc);
      nsfd_json_free (b.root);
      b.root = NULL;
    }
  yajl_free (h);
  free (b.pending_key);
  free (b.error);
  if (ret < 0)
    return ret;
  *out = b.root;
  return 0;
}

static const char *
type_name (enum nsfd_json_type t)
{
  switch (t)
    {
    case NSFD_JSON_NULL:
      return "null";
    case NSFD_JSON_BOOL:
      return "a boolean";
    case NSFD_JSON_NUMBER:
      return "a number";
    case NSFD_JSON_STRING:
      return "a string";
    case NSFD_JSON_ARRAY:
      return "an array";
    case NSFD_JSON_OBJECT:
      return "an object";
    }
  return "?";
}

/* "<doc>: <path>: ..." or "<doc>: ..." for the root. */
#define PATH_SEP(p) ((p)[0] ? ": " : "")

int
nsfd_json_expect (const char *doc, const struct nsfd_json *v, const char *path, enum nsfd_json_type type,
                  nsfd_error_t *err)
{
  if (v->type != type)
    return nsfd_make_error (err, 0, "%s: %s%sexpected %s, got %s", doc, path, PATH_SEP (path), type_name (type),
                            type_name (v->type));
  return 0;
}

int
nsfd_json_field (const char *doc, const struct nsfd_json *obj, const char *path, const char *name,
                 const struct nsfd_json **out, nsfd_error_t *err)
{
  size_t nlen = strlen (name);
  int found = 0;

  *out = NULL;
  if (obj->type != NSFD_JSON_OBJECT)
    return nsfd_json_expect (doc, obj, path, NSFD_JSON_OBJECT, err);
  for (size_t i = 0; i < obj->len; i++)
    {
      if (obj->key_lens[i] != nlen || memcmp (obj->keys[i], name, nlen) != 0)
        continue;
      /* Two parsers disagreeing on which copy wins is an attack surface. */
      if (found)
        return nsfd_make_error (err, 0, "%s: duplicate field \"%s%s%s\"", doc, path, path[0] ? "." : "", name);
      found = 1;
      *out = obj->items[i];
    }
  return found;
}

int
nsfd_json_string (const char *doc, const struct nsfd_json *v, const char *path, size_t max, char **out,
                  nsfd_error_t *err)
{
  int ret;

  *out = NULL;
  ret = nsfd_json_expect (doc, v, path, NSFD_JSON_STRING, err);
  if (ret < 0)
    return ret;
  if (memchr (v->text, '\0', v->text_len) != NULL)
    return nsfd_make_error (err, 0, "%s: %s%scontains a NUL character", doc, path, PATH_SEP (path));
  if (v->text_len > max)
    return nsfd_make_error (err, 0, "%s: %s%sstring of %zu bytes is longer than the limit of %zu", doc, path,
                            PATH_SEP (path), v->text_len, max);
  *out = strdup (v->text);
  if (*out == NULL)
    return nsfd_make_error (err, ENOMEM, "%s: %s", doc, path);
  return 0;
}

int
nsfd_json_int (const char *doc, const struct nsfd_json *v, const char *path, long long min, long long max,
               long long *out, nsfd_error_t *err)
{
  const char *p;
  char *end = NULL;
  long long n;

  if (v->type != NSFD_JSON_NUMBER)
    return nsfd_make_error (err, 0, "%s: %s%sexpected an integer, got %s", doc, path, PATH_SEP (path),
                            type_name (v->type));
  p = v->text;
  if (*p == '-')
    p++;
  for (; *p; p++)
    if (!isdigit ((unsigned char) *p))
      return nsfd_make_error (err, 0, "%s: %s%sexpected an integer, got \"%s\"", doc, path, PATH_SEP (path),
                              v->text);
  errno = 0;
  n = strtoll (v->text, &end, 10);
  if (errno != 0 || end == v->text || *end != '\0' || n < min || n > max)
    return nsfd_make_error (err, 0, "%s: %s%s%s is out of range (%lld..%lld)", doc, path, PATH_SEP (path), v->text,
                            min, max);
  *out = n;
  return 0;
}

int
nsfd_json_only_keys (const char *doc, const struct nsfd_json *obj, const char *path, const char *const *known,
                     nsfd_error_t *err)
{
  int ret = nsfd_json_expect (doc, obj, path, NSFD_JSON_OBJECT, err);
  if (ret < 0)
    return ret;
  for (size_t i = 0; i < obj->len; i++)
    {
      bool ok = false;
      for (size_t k = 0; known[k]; k++)
        if (strlen (known[k]) == obj->key_lens[i] && memcmp (known[k], obj->keys[i], obj->key_lens[i]) == 0)
          ok = true;
      if (!ok)
        {
          char shown[128];
          nsfd_escape_for_message (obj->keys[i], obj->key_lens[i], shown, sizeof (shown));
          return nsfd_make_error (err, 0, "%s: unknown field \"%s%s%s\"", doc, path, path[0] ? "." : "", shown);
        }
      for (size_t d = 0; d < i; d++)
        if (obj->key_lens[d] == obj->key_lens[i] && memcmp (obj->keys[d], obj->keys[i], obj->key_lens[i]) == 0)
          return nsfd_make_error (err, 0, "%s: duplicate field \"%s%s%s\"", doc, path, path[0] ? "." : "",
                                  obj->keys[i]); /* a known key: printable */
    }
  return 0;
}

const struct nsfd_json *
nsfd_json_get (const struct nsfd_json *obj, const char *name, enum nsfd_json_type type)
{
  const struct nsfd_json *v = NULL;

  if (obj == NULL || obj->type != NSFD_JSON_OBJECT || nsfd_json_field ("", obj, "", name, &v, NULL) != 1)
    return NULL;
  return v->type == type ? v : NULL;
}

bool
nsfd_json_get_int (const struct nsfd_json *obj, const char *name, long long *out)
{
  const struct nsfd_json *v = nsfd_json_get (obj, name, NSFD_JSON_NUMBER);
  long long n;

  if (v == NULL || nsfd_json_int ("", v, "", LLONG_MIN, LLONG_MAX, &n, NULL) < 0)
    return false;
  *out = n;
  return true;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

/* Waits for fd to be readable until deadline (ms, monotonic); 0 ready. */
static int
wait_input (int fd, long long deadline, nsfd_error_t *err)
{
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      long long left = deadline - nsfd_now_ms ();
      int pr;
      if (left <= 0)
        return nsfd_make_error (err, ETIMEDOUT, "waiting for input");
      pr = poll (&pfd, 1, left > INT_MAX ? INT_MAX : (int) left);
      if (pr > 0)
        return 0;
      if (pr < 0 && errno != EINTR)
        return nsfd_make_error (err, errno, "waiting for input");
    }
}

int
nsfd_read_all_fd_timeout (int fd, size_t max, unsigned timeout_ms, char **out, size_t *out_len, nsfd_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0, cap = 0;
  long long deadline = nsfd_now_ms () + timeout_ms;

  *out = NULL;
  if (out_len)
    *out_len = 0;
  for (;;)
    {
      ssize_t n;
      /* Room for max+1 bytes so "exactly max" and "more than max" differ. */
      if (len + 1 >= cap)
        {
          size_t ncap = cap ? cap * 2 : 16384;
          char *nbuf;
          if (ncap > max + 2)
            ncap = max + 2;
          if (ncap <= len + 1)
            return nsfd_make_error (err, EFBIG, "input is larger than %zu bytes", max);
          nbuf = realloc (buf, ncap);
          if (nbuf == NULL)
            return nsfd_make_error (err, ENOMEM, "reading input");
          buf = nbuf;
          cap = ncap;
        }
      /* A writer that never writes nor closes must not hold us. */
      if (timeout_ms > 0 && wait_input (fd, deadline, err) < 0)
        return -1;
      n = read (fd, buf + len, cap - len - 1);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              /* Non-blocking pipe: wait for data (bounded when asked). */
              if (wait_input (fd, timeout_ms > 0 ? deadline : LLONG_MAX, err) < 0)
                return -1;
              continue;
            }
          return nsfd_make_error (err, errno, "reading input");
        }
      if (n == 0)
        break;
      len += (size_t) n;
      if (len > max)
        return nsfd_make_error (err, EFBIG, "input is larger than %zu bytes", max);
    }
  buf[len] = '\0';
  *out = nsfd_steal (&buf);
  if (out_len)
    *out_len = len;
  return 0;
}

int
nsfd_read_all_fd (int fd, size_t max, char **out, size_t *out_len, nsfd_error_t *err)
{
  return nsfd_read_all_fd_timeout (fd, max, 0, out, out_len, err);
}

