/* JSON for untrusted and for our own documents: one bounded reader (a tree
 * built with yajl's callback parser) and one bounded writer, so that every
 * document nsfdsuds reads or writes goes through the same checks and the
 * same escaping. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"

#define NSFD_JSON_MAX_SIZE (1024 * 1024)     /* any document, bytes */
#define NSFD_JSON_MAX_DEPTH 64               /* nesting of arrays/objects */

/* Copies at most len bytes of in to out (size outsz, NUL-terminated) with
 * control characters, quotes and backslashes escaped (\xNN) and "..." when
 * cut, so untrusted text can go into a message or a log line.  Returns out. */
char *nsfd_escape_for_message (const char *in, size_t len, char *out, size_t outsz);

/* Reads a whole file/pipe up to max bytes into a NUL-terminated buffer (a
 * timeout is the caller's). */
int nsfd_read_all_fd (int fd, size_t max, char **out, size_t *out_len, nsfd_error_t *err);
/* The same, giving up with ETIMEDOUT after timeout_ms (0: no limit). */
int nsfd_read_all_fd_timeout (int fd, size_t max, unsigned timeout_ms, char **out, size_t *out_len,
                              nsfd_error_t *err);

/* ---- Reader ---- */

enum nsfd_json_type
{
  NSFD_JSON_NULL,
  NSFD_JSON_BOOL,
  NSFD_JSON_NUMBER,
  NSFD_JSON_STRING,
  NSFD_JSON_ARRAY,
  NSFD_JSON_OBJECT,
};

struct nsfd_json
{
  enum nsfd_json_type type;
  int boolean;
  char *text;                /* STRING value or NUMBER text, NUL-terminated */
  size_t text_len;           /* STRING may hold NULs: use this length */
  struct nsfd_json **items;  /* ARRAY elements / OBJECT values */
  char **keys;               /* OBJECT keys, NUL-terminated */
  size_t *key_lens;
  size_t len;
  size_t cap;
};

/* doc names the document in messages ("state", "config.json").  Refuses
 * input larger than NSFD_JSON_MAX_SIZE and nesting deeper than
 * NSFD_JSON_MAX_DEPTH; strict JSON (no comments, valid UTF-8, one value). */
int nsfd_json_parse (const char *doc, const char *buf, size_t len, struct nsfd_json **out, nsfd_error_t *err);
void nsfd_json_free (struct nsfd_json *j);
void nsfd_json_freep (struct nsfd_json **j);
#define cleanup_json __attribute__ ((cleanup (nsfd_json_freep)))
/* Field lookup in an object; path is the object's own path ("" for the root).
 * Returns 1 and *out when present, 0 when absent, <0 on a duplicate key. */
int nsfd_json_field (const char *doc, const struct nsfd_json *obj, const char *path, const char *name,
                     const struct nsfd_json **out, nsfd_error_t *err);
/* Type check: "<doc>: <path>: expected <what>". */
int nsfd_json_expect (const char *doc, const struct nsfd_json *v, const char *path, enum nsfd_json_type type,
                      nsfd_error_t *err);
/* A string without NULs, at most max bytes; *out is a new copy. */
int nsfd_json_string (const char *doc, const struct nsfd_json *v, const char *path, size_t max, char **out,
                      nsfd_error_t *err);
/* An integer (no fraction/exponent) within [min, max]. */
int nsfd_json_int (const char *doc, const struct nsfd_json *v, const char *path, long long min, long long max,
                   long long *out, nsfd_error_t *err);
/* Every key of obj must be one of known (NULL-terminated) and appear once. */
int nsfd_json_only_keys (const char *doc, const struct nsfd_json *obj, const char *path, const char *const *known,
                         nsfd_error_t *err);

/* Lenient lookups for our own records, where a missing or odd field is
 * simply not there: the member called name when obj is an object holding it
 * exactly once with that type, else NULL. */
const struct nsfd_json *nsfd_json_get (const struct nsfd_json *obj, const char *name, enum nsfd_json_type type);
/* The same for an integer member (no fraction, exponent or overflow):
 * true and *out when there is one. */
bool nsfd_json_get_int (const struct nsfd_json *obj, const char *name, long long *out);

/* ---- Writer ---- */

/* A bounded writer into a caller's buffer.  Calls after a failure do
 * nothing; nsfd_jw_finish reports the first one (ENOBUFS when the buffer is
 * too small, EINVAL for a misuse such as a value without a key).  pretty
 * puts each member on its own line indented by two spaces per level, as
 * layer.json and holder.json have always been written; otherwise compact.
 * Strings are written as given (bytes >= 0x20 other than '"' and '\\'
 * unchanged), quotes and backslashes as \" and \\, control characters as
 * \u00XX. */
#define NSFD_JW_MAX_DEPTH 8
#define NSFD_JW_MAX_SIZE NSFD_JSON_MAX_SIZE

struct nsfd_jw
{
  char *buf;
  size_t cap;
  size_t len;
  bool pretty;
  unsigned depth;
  bool members[NSFD_JW_MAX_DEPTH];  /* the object at that level has one already */
  bool want_value;                  /* a key was written, its value is due */
  int error;                        /* errno of the first failure, 0 when none */
};

void nsfd_jw_init (struct nsfd_jw *w, char *buf, size_t cap, bool pretty);
void nsfd_jw_object_begin (struct nsfd_jw *w);
void nsfd_jw_key (struct nsfd_jw *w, const char *key);
void nsfd_jw_string (struct nsfd_jw *w, const char *s);
void nsfd_jw_int (struct nsfd_jw *w, long long v);
void nsfd_jw_uint (struct nsfd_jw *w, unsigned long long v);
void nsfd_jw_bool (struct nsfd_jw *w, bool v);
void nsfd_jw_object_end (struct nsfd_jw *w);
/* A key and its value in one call. */
void nsfd_jw_member_string (struct nsfd_jw *w, const char *key, const char *s);
void nsfd_jw_member_int (struct nsfd_jw *w, const char *key, long long v);
void nsfd_jw_member_uint (struct nsfd_jw *w, const char *key, unsigned long long v);
void nsfd_jw_member_bool (struct nsfd_jw *w, const char *key, bool v);
/* Ends the document with a newline.  0 and *len (the bytes in buf, which is
 * NUL-terminated) when every call succeeded and every object is closed;
 * otherwise an error naming doc. */
int nsfd_jw_finish (struct nsfd_jw *w, const char *doc, size_t *len, nsfd_error_t *err);

/* One line of a runtime log as containerd and CRI-O read it (logrus): with
 * json {"level":"<level>","msg":"<msg>","time":"<RFC 3339 UTC>"}, otherwise
 * time="<...>" level=<level> msg="<msg>", each ending in a newline.  msg is
 * escaped as a JSON string and cut (never inside an escape) so the line fits
 * cap.  level is lower-case letters only.  Returns the line's length (out is
 * NUL-terminated), or -1 with errno EINVAL (bad level, NULL argument) or
 * ENOBUFS (cap too small for an empty message). */
int nsfd_jw_logrus_line (char *out, size_t cap, bool json, const char *level, const char *msg, time_t when);
