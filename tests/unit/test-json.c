/* lib/json.c and lib/json-writer.c: the bounded tree's limits, the lenient
 * lookups, the writer's escaping (checked by reading back through the
 * parser), its bounds and misuse, and the logrus line. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "json.h"
#include "tap.h"
#include "testutil.h"

static void
test_parse_bounds (void)
{
  nsfd_error_t err = NULL;
  struct nsfd_json *j = NULL;
  char deep[2 * (NSFD_JSON_MAX_DEPTH + 1) + 1];
  cleanup_free char *big = malloc (NSFD_JSON_MAX_SIZE + 2);
  int n = NSFD_JSON_MAX_DEPTH + 1;

  CHECK (nsfd_json_parse ("doc", "", 0, &j, &err) < 0 && j == NULL, "empty document refused");
  CHECK_STR_CONTAINS (err ? err->msg : "", "doc: empty document", "message: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  if (big)
    {
      memset (big, ' ', NSFD_JSON_MAX_SIZE + 1);
      big[0] = '1';
      CHECK (nsfd_json_parse ("doc", big, NSFD_JSON_MAX_SIZE + 1, &j, &err) < 0 && err && err->status == EFBIG,
             "a document over the size limit is refused with EFBIG");
      nsfd_error_free (&err);
    }
  memset (deep, '[', (size_t) n);
  memset (deep + n, ']', (size_t) n);
  deep[2 * n] = '\0';
  CHECK (nsfd_json_parse ("doc", deep, strlen (deep), &j, &err) < 0, "nesting of %d levels refused", n);
  CHECK_STR_CONTAINS (err ? err->msg : "", "nesting deeper than 64 levels", "message: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  CHECK (nsfd_json_parse ("doc", deep + 1, strlen (deep) - 2, &j, &err) == 0 && j, "64 levels accepted");
  nsfd_json_free (j);
  j = NULL;
  CHECK (nsfd_json_parse ("doc", "{} {}", 5, &j, &err) < 0, "two top-level values refused");
  nsfd_error_free (&err);
  CHECK (nsfd_json_parse ("doc", "/* c */ {}", 10, &j, &err) < 0, "comments refused (strict JSON)");
  nsfd_error_free (&err);
  CHECK (nsfd_json_parse ("doc", "\"\xff\"", 3, &j, &err) < 0, "invalid UTF-8 refused");
  nsfd_error_free (&err);
}

static void
test_lookups (void)
{
  static const char doc[] = "{\"s\":\"x\",\"n\":12,\"f\":1.5,\"big\":99999999999999999999,\"d\":1,\"d\":2,"
                            "\"neg\":-7,\"b\":true}";
  cleanup_json struct nsfd_json *j = NULL;
  nsfd_error_t err = NULL;
  const struct nsfd_json *v;
  long long n = 0;

  CHECK (nsfd_json_parse ("doc", doc, strlen (doc), &j, &err) == 0, "lookup document parsed");
  if (j == NULL)
    return;
  CHECK ((v = nsfd_json_get (j, "s", NSFD_JSON_STRING)) && strcmp (v->text, "x") == 0, "string member");
  CHECK (nsfd_json_get (j, "s", NSFD_JSON_NUMBER) == NULL, "a member of another type is not there");
  CHECK (nsfd_json_get (j, "missing", NSFD_JSON_STRING) == NULL, "a missing member is not there");
  CHECK (nsfd_json_get (j, "d", NSFD_JSON_NUMBER) == NULL, "a duplicated member is not there");
  CHECK (nsfd_json_get_int (j, "n", &n) && n == 12, "integer member");
  CHECK (nsfd_json_get_int (j, "neg", &n) && n == -7, "negative integer member");
  CHECK (!nsfd_json_get_int (j, "f", &n), "a fraction is not an integer");
  CHECK (!nsfd_json_get_int (j, "big", &n), "an overflowing number is not an integer");
  CHECK ((v = nsfd_json_get (j, "b", NSFD_JSON_BOOL)) && v->boolean, "boolean member");
  CHECK (nsfd_json_get (j->items[0], "s", NSFD_JSON_STRING) == NULL, "lookup in a non-object gives nothing");
}

/* Writes {"k": s} and reads it back. */
static bool
round_trip (const char *s, bool pretty)
{
  char buf[512];
  struct nsfd_jw w;
  size_t len = 0;
  cleanup_json struct nsfd_json *j = NULL;
  const struct nsfd_json *v;

  nsfd_jw_init (&w, buf, sizeof (buf), pretty);
  nsfd_jw_object_begin (&w);
  nsfd_jw_key (&w, "k\"\\\n");
  nsfd_jw_string (&w, s);
  nsfd_jw_object_end (&w);
  if (nsfd_jw_finish (&w, "doc", &len, NULL) < 0 || len != strlen (buf))
    return false;
  if (nsfd_json_parse ("doc", buf, len, &j, NULL) < 0)
    return false;
  v = nsfd_json_get (j, "k\"\\\n", NSFD_JSON_STRING);
  return v && v->text_len == strlen (s) && memcmp (v->text, s, v->text_len) == 0;
}

static void
test_writer_escaping (void)
{
  char ctl[33];
  char buf[128];
  struct nsfd_jw w;
  size_t len;

  for (int c = 1; c < 32; c++)
    ctl[c - 1] = (char) c;
  ctl[31] = '"';
  ctl[32] = '\0';
  CHECK (round_trip ("plain", false) && round_trip ("plain", true), "plain string round-trips");
  CHECK (round_trip ("q\"uo\\te/", false), "quotes and backslashes round-trip");
  CHECK (round_trip (ctl, false) && round_trip (ctl, true), "every control character round-trips");
  CHECK (round_trip ("h\xc3\xa9 \xe2\x82\xac \x7f", false), "UTF-8 and DEL round-trip unchanged");
  CHECK (round_trip ("", false), "the empty string round-trips");

  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_key (&w, "c");
  nsfd_jw_string (&w, "\x01\x1f\"\\");
  nsfd_jw_object_end (&w);
  CHECK (nsfd_jw_finish (&w, "doc", &len, NULL) == 0 && strcmp (buf, "{\"c\":\"\\u0001\\u001f\\\"\\\\\"}\n") == 0,
         "control characters as \\u00XX, quote and backslash escaped: %s", buf);
}

static void
test_writer_format (void)
{
  char buf[256];
  struct nsfd_jw w;
  size_t len = 0;

  nsfd_jw_init (&w, buf, sizeof (buf), true);
  nsfd_jw_object_begin (&w);
  nsfd_jw_key (&w, "format");
  nsfd_jw_int (&w, 1);
  nsfd_jw_key (&w, "xattrs");
  nsfd_jw_string (&w, "trusted");
  nsfd_jw_key (&w, "start");
  nsfd_jw_uint (&w, ULLONG_MAX);
  nsfd_jw_object_end (&w);
  CHECK (nsfd_jw_finish (&w, "doc", &len, NULL) == 0
             && strcmp (buf, "{\n  \"format\": 1,\n  \"xattrs\": \"trusted\",\n"
                             "  \"start\": 18446744073709551615\n}\n")
                    == 0
             && len == strlen (buf),
         "pretty: the layout layer.json has always had");

  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_member_string (&w, "layer", "/v/l");
  nsfd_jw_member_int (&w, "pid", -5);
  nsfd_jw_key (&w, "in");
  nsfd_jw_object_begin (&w);
  nsfd_jw_object_end (&w);
  nsfd_jw_member_uint (&w, "start", 7);
  nsfd_jw_member_bool (&w, "wrapper", false);
  nsfd_jw_object_end (&w);
  CHECK (nsfd_jw_finish (&w, "doc", &len, NULL) == 0
             && strcmp (buf, "{\"layer\":\"/v/l\",\"pid\":-5,\"in\":{},\"start\":7,\"wrapper\":false}\n") == 0,
         "compact: the layout of the runtime record: %s", buf);
}

/* Runs a sequence and returns nsfd_jw_finish's errno (0 when it succeeded). */
static int
finish_status (struct nsfd_jw *w)
{
  nsfd_error_t err = NULL;
  size_t len;
  int st = nsfd_jw_finish (w, "doc", &len, &err) < 0 ? (err ? err->status : -1) : 0;
  nsfd_error_free (&err);
  return st;
}

static void
test_writer_bounds (void)
{
  char buf[32], one[1];
  struct nsfd_jw w;
  nsfd_error_t err = NULL;
  size_t len;

  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_key (&w, "k");
  nsfd_jw_string (&w, "a string that does not fit in 32 bytes");
  nsfd_jw_object_end (&w);
  CHECK (nsfd_jw_finish (&w, "layer.json", &len, &err) < 0 && err && err->status == ENOBUFS,
         "a document larger than the buffer: ENOBUFS");
  CHECK_STR_CONTAINS (err ? err->msg : "", "layer.json: more than 32 bytes", "message: %s", err ? err->msg : "");
  nsfd_error_free (&err);
  CHECK (strlen (buf) < sizeof (buf), "the buffer stays NUL-terminated within its size");

  /* Exactly full: the final newline and NUL must fit too. */
  nsfd_jw_init (&w, buf, 8, false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_key (&w, "a");
  nsfd_jw_int (&w, 1);
  nsfd_jw_object_end (&w);
  CHECK (finish_status (&w) == ENOBUFS, "{\"a\":1}\\n and its NUL need 9 bytes: 8 is refused");
  nsfd_jw_init (&w, buf, 9, false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_key (&w, "a");
  nsfd_jw_int (&w, 1);
  nsfd_jw_object_end (&w);
  CHECK (finish_status (&w) == 0 && strcmp (buf, "{\"a\":1}\n") == 0, "and 9 are enough");

  nsfd_jw_init (&w, one, 0, false);
  CHECK (finish_status (&w) == EINVAL, "a buffer of size 0 is refused");
  nsfd_jw_init (&w, NULL, 10, false);
  CHECK (finish_status (&w) == EINVAL, "no buffer is refused");
  nsfd_jw_init (&w, buf, (size_t) NSFD_JW_MAX_SIZE + 1, false);
  CHECK (finish_status (&w) == EINVAL, "a size over the limit is refused");

  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_string (&w, "x");
  CHECK (finish_status (&w) == EINVAL, "a value without a key is refused");
  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_key (&w, "k");
  nsfd_jw_object_end (&w);
  CHECK (finish_status (&w) == EINVAL, "a key without a value is refused");
  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  CHECK (finish_status (&w) == EINVAL, "an object left open is refused");
  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_key (&w, "k");
  nsfd_jw_string (&w, NULL);
  nsfd_jw_object_end (&w);
  CHECK (finish_status (&w) == EINVAL, "a NULL string is refused");
  nsfd_jw_init (&w, buf, sizeof (buf), false);
  nsfd_jw_object_begin (&w);
  nsfd_jw_object_end (&w);
  nsfd_jw_object_begin (&w);
  CHECK (finish_status (&w) == EINVAL, "a second top-level value is refused");
  nsfd_jw_init (&w, buf, sizeof (buf), false);
  CHECK (finish_status (&w) == EINVAL, "an empty document is refused");
}

static void
test_logrus (void)
{
  char line[256], small[64];
  const time_t when = 1700000000; /* 2023-11-14T22:13:20Z */
  cleanup_json struct nsfd_json *j = NULL;
  const struct nsfd_json *v;
  char longmsg[300];
  int n;

  n = nsfd_jw_logrus_line (line, sizeof (line), true, "error", "nsfdsuds-runtime: a \"b\"\n", when);
  CHECK (n > 0 && (size_t) n == strlen (line)
             && strcmp (line, "{\"level\":\"error\",\"msg\":\"nsfdsuds-runtime: a \\\"b\\\"\\u000a\","
                              "\"time\":\"2023-11-14T22:13:20Z\"}\n") == 0,
         "json line: %s", line);
  n = nsfd_jw_logrus_line (line, sizeof (line), false, "warning", "x\\y", when);
  CHECK (n > 0 && strcmp (line, "time=\"2023-11-14T22:13:20Z\" level=warning msg=\"x\\\\y\"\n") == 0,
         "text line: %s", line);

  memset (longmsg, '"', sizeof (longmsg) - 1);
  longmsg[sizeof (longmsg) - 1] = '\0';
  n = nsfd_jw_logrus_line (small, sizeof (small), true, "error", longmsg, when);
  CHECK (n > 0 && (size_t) n < sizeof (small) && small[n - 1] == '\n', "a long message is cut to fit (%d bytes)", n);
  CHECK (nsfd_json_parse ("line", small, (size_t) n, &j, NULL) == 0 && (v = nsfd_json_get (j, "msg", NSFD_JSON_STRING))
             && v->text_len > 0 && strspn (v->text, "\"") == v->text_len,
         "the cut line is still JSON, cut between escapes: %s", small);
  n = nsfd_jw_logrus_line (small, sizeof (small), false, "error", longmsg, when);
  CHECK (n > 0 && (size_t) n < sizeof (small) && strcmp (small + n - 2, "\"\n") == 0, "text: cut, quote closed");

  CHECK (nsfd_jw_logrus_line (line, sizeof (line), true, "Error", "m", when) < 0 && errno == EINVAL,
         "a level that is not lower-case letters is refused");
  CHECK (nsfd_jw_logrus_line (line, sizeof (line), true, "error\" x", "m", when) < 0 && errno == EINVAL,
         "a level with a quote is refused");
  CHECK (nsfd_jw_logrus_line (line, 20, true, "error", "m", when) < 0 && errno == ENOBUFS,
         "a buffer too small for the line is refused");
  CHECK (nsfd_jw_logrus_line (line, sizeof (line), true, "error", NULL, when) < 0 && errno == EINVAL,
         "no message is refused");
}

int
main (void)
{
  test_parse_bounds ();
  test_lookups ();
  test_writer_escaping ();
  test_writer_format ();
  test_writer_bounds ();
  test_logrus ();
  TAP_DONE ();
}
