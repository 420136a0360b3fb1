#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* The only mutable globals: the log level and the sink. */
static enum nsfd_log_level log_level = NSFD_LOG_INFO;
static int log_sinks = NSFD_LOG_SINK_STDERR;
static const char *log_ident = "nsfdsuds";
static long long log_t0_us;

static long long
mono_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
nsfd_log_init (const char *ident, enum nsfd_log_level level, int sinks)
{
  log_ident = ident ? ident : "nsfdsuds";
  log_level = level;
  log_sinks = sinks;
  log_t0_us = mono_us ();
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
  static const char *names[] = { "error", "warning", "info", "debug", "trace" };
  for (unsigned i = 0; i < sizeof (names) / sizeof (names[0]); i++)
    if (strcmp (name, names[i]) == 0)
      return (int) i;
  return -1;
}

/* The container id comes from the runtime's state and messages quote paths
 * from config.json: neither may start a line of its own in the log, so
 * control characters are shown as \xNN. */
static void
escape_controls (const char *in, char *out, size_t outsz)
{
  size_t o = 0;
  for (; *in && o + 5 < outsz; in++)
    {
      unsigned char c = (unsigned char) *in;
      if (c < 0x20 || c == 0x7f)
        o += (size_t) snprintf (out + o, outsz - o, "\\x%02x", c);
      else
        out[o++] = (char) c;
    }
  out[o] = '\0';
}

void
nsfd_log (enum nsfd_log_level level, const char *container_id, const char *fmt, ...)
{
  static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };
  static const char *label[] = { "error", "warning", "info", "debug", "trace" };
  char buf[4096], line[4096], id[600];
  va_list ap;

  if (level > log_level)
    return;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof (buf), fmt, ap);
  va_end (ap);
  /* Lines about a container say which; the CLI's have none to name. */
  if (container_id != NULL && *container_id != '\0')
    {
      char tmp[512];
      escape_controls (container_id, tmp, sizeof (tmp));
      snprintf (id, sizeof (id), "container %s: ", tmp);
    }
  else
    id[0] = '\0';
  escape_controls (buf, line, sizeof (line));

  if (log_sinks & NSFD_LOG_SINK_STDERR)
    fprintf (stderr, "%s: %s: %s%s\n", log_ident, label[level], id, line);
  if (log_sinks & NSFD_LOG_SINK_SYSLOG)
    syslog (prio[level], "%s%s", id, line);
}

void
nsfd_log_step (const char *container_id, const char *step)
{
  /* Their own level: debug logs (and tests reading them) stay as they were. */
  if (log_level < NSFD_LOG_TRACE)
    return;
  nsfd_log (NSFD_LOG_TRACE, container_id, "step %s: %lld us", step, mono_us () - log_t0_us);
}
