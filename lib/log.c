#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

/* The only mutable globals: the log level and the sink. */
static enum nsfd_log_level log_level = NSFD_LOG_INFO;
static int log_sinks = NSFD_LOG_SINK_STDERR;
static const char *log_ident = "nsfdsuds";

void
nsfd_log_init (const char *ident, enum nsfd_log_level level, int sinks)
{
  log_ident = ident ? ident : "nsfdsuds";
  log_level = level;
  log_sinks = sinks;
  if (sinks & NSFD_LOG_SINK_SYSLOG)
    openlog (log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
nsfd_log_set_level (enum nsfd_log_level level)
{
  log_level = level;
}

void
nsfd_log_set_sinks (int sinks)
{
  if ((sinks & NSFD_LOG_SINK_SYSLOG) && !(log_sinks & NSFD_LOG_SINK_SYSLOG))
    openlog (log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
  log_sinks = sinks;
}

enum nsfd_log_level
nsfd_log_get_level (void)
{
  return log_level;
}

int
nsfd_log_level_parse (const char *name)
{
  static const char *names[] = { "error", "warning", "info", "debug" };
  for (unsigned i = 0; i < sizeof (names) / sizeof (names[0]); i++)
    if (strcmp (name, names[i]) == 0)
      return (int) i;
  return -1;
}

void
nsfd_log (enum nsfd_log_level level, const char *container_id, const char *fmt, ...)
{
  static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
  static const char *label[] = { "error", "warning", "info", "debug" };
  char buf[4096];
  va_list ap;

  if (level > log_level)
    return;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof (buf), fmt, ap);
  va_end (ap);
  if (container_id == NULL || *container_id == '\0')
    container_id = "-";

  if (log_sinks & NSFD_LOG_SINK_STDERR)
    fprintf (stderr, "%s: %s: container %s: %s\n", log_ident, label[level], container_id, buf);
  if (log_sinks & NSFD_LOG_SINK_SYSLOG)
    syslog (prio[level], "container %s: %s", container_id, buf);
}
