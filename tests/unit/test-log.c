/* lib/log.c: level parsing, level filtering, line format on stderr. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "testutil.h"

/* Runs fn with stderr redirected to a temporary file, returns what was written. */
static char *
capture (void (*fn) (void))
{
  char tmpl[] = "/tmp/I-test-log-XXXXXX";
  int fd = mkstemp (tmpl), saved;
  static char buf[8192];
  ssize_t n;

  buf[0] = '\0';
  if (fd < 0)
    return buf;
  unlink (tmpl);
  fflush (stderr);
  saved = dup (2);
  dup2 (fd, 2);
  fn ();
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
  n = pread (fd, buf, sizeof (buf) - 1, 0);
  close (fd);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

static void
log_all_levels (void)
{
  nsfd_log (NSFD_LOG_ERROR, "c1", "an %s", "error");
  nsfd_log (NSFD_LOG_WARNING, "c1", "a warning");
  nsfd_log (NSFD_LOG_INFO, "c1", "some info");
  nsfd_log (NSFD_LOG_DEBUG, "c1", "debug %d", 42);
}

static void
log_no_id (void)
{
  nsfd_log (NSFD_LOG_ERROR, NULL, "no id");
  nsfd_log (NSFD_LOG_ERROR, "", "empty id");
}

int
main (void)
{
  const char *out;

  CHECK (nsfd_log_level_parse ("error") == NSFD_LOG_ERROR, "parse error");
  CHECK (nsfd_log_level_parse ("warning") == NSFD_LOG_WARNING, "parse warning");
  CHECK (nsfd_log_level_parse ("info") == NSFD_LOG_INFO, "parse info");
  CHECK (nsfd_log_level_parse ("debug") == NSFD_LOG_DEBUG, "parse debug");
  CHECK (nsfd_log_level_parse ("trace") == NSFD_LOG_TRACE, "parse trace (the step timings)");
  CHECK (nsfd_log_level_parse ("DEBUG") == -1, "parse is case-sensitive");
  CHECK (nsfd_log_level_parse ("") == -1, "parse empty");
  CHECK (nsfd_log_level_parse ("warn") == -1, "parse unknown");
  CHECK (nsfd_log_level_parse ("debugx") == -1, "parse prefix");

  CHECK (nsfd_log_get_level () == NSFD_LOG_INFO, "default level is info");
  nsfd_log_init ("I-test", NSFD_LOG_WARNING, NSFD_LOG_SINK_STDERR);
  CHECK (nsfd_log_get_level () == NSFD_LOG_WARNING, "init sets the level");

  out = capture (log_all_levels);
  CHECK_STR_CONTAINS (out, "I-test: error: container c1: an error\n", "error line format");
  CHECK_STR_CONTAINS (out, "I-test: warning: container c1: a warning\n", "warning line");
  CHECK (out && strstr (out, "some info") == NULL && strstr (out, "debug 42") == NULL,
         "info and debug filtered at warning");

  nsfd_log_set_level (NSFD_LOG_DEBUG);
  CHECK (nsfd_log_get_level () == NSFD_LOG_DEBUG, "set_level");
  out = capture (log_all_levels);
  CHECK_STR_CONTAINS (out, "I-test: debug: container c1: debug 42\n", "debug shown at debug");
  CHECK_STR_CONTAINS (out, "I-test: info: container c1: some info\n", "info shown at debug");

  nsfd_log_set_level (NSFD_LOG_ERROR);
  out = capture (log_no_id);
  CHECK (out != NULL && strstr (out, ": no id\n") != NULL && strstr (out, "container -") == NULL
         && strstr (out, "container : no id") == NULL, "NULL id: no container named");
  CHECK (out != NULL && strstr (out, "error: empty id\n") != NULL, "empty id: no container named");

  nsfd_log_set_sinks (0);
  out = capture (log_all_levels);
  CHECK (out && out[0] == '\0', "no sink: nothing on stderr");
  nsfd_log_set_sinks (NSFD_LOG_SINK_STDERR);

  nsfd_log_init (NULL, NSFD_LOG_ERROR, NSFD_LOG_SINK_STDERR);
  out = capture (log_no_id);
  CHECK_STR_CONTAINS (out, "nsfdsuds: error: no id", "NULL ident gives nsfdsuds");
  TAP_DONE ();
}
