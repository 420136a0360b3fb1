/* Logging: one sink configured at start (stderr, syslog or both), every line
 * tagged with the container id.  Library code logs at debug level only. */
#pragma once

enum nsfd_log_level
{
  NSFD_LOG_ERROR = 0,
  NSFD_LOG_WARNING,
  NSFD_LOG_INFO,
  NSFD_LOG_DEBUG,
  NSFD_LOG_TRACE,   /* the step timings of a start (docs/performance.md) */
};

enum nsfd_log_sink
{
  NSFD_LOG_SINK_STDERR = 1,
  NSFD_LOG_SINK_SYSLOG = 2,
};

/* ident: the program name shown in syslog.  sinks: a mask of nsfd_log_sink. */
void nsfd_log_init (const char *ident, enum nsfd_log_level level, int sinks);
void nsfd_log_set_level (enum nsfd_log_level level);
void nsfd_log_set_sinks (int sinks);
enum nsfd_log_level nsfd_log_get_level (void);
/* Parses "error", "warning", "info", "debug"; returns -1 when unknown. */
int nsfd_log_level_parse (const char *name);

/* Debug level only: "step NAME: N us" since nsfd_log_init (the start of
 * main; a forked mounter or worker counts from its parent's), so that one
 * activated start can be laid out step by step (docs/performance.md).  A
 * single comparison when debug logging is off. */
void nsfd_log_step (const char *container_id, const char *step);

void nsfd_log (enum nsfd_log_level level, const char *container_id, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
