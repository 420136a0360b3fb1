/* containerd's runc shim and CRI-O report a failed create with the last
 * error line of the runtime's --log file, not its stderr: ours is appended
 * there, in the format asked for (logrus json or text), so the reason
 * reaches the user (kubectl describe).  Best effort. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "runtime.h"

void
runtime_log_for_engine (const struct nsfd_runtime_args *a, const char *what, const char *msg)
{
  char text[8192], line[8448];
  cleanup_close int fd = -1;
  bool json = a->log_format && strcmp (a->log_format, "json") == 0;
  int n;

  if (a->log == NULL || a->log[0] == '\0')
    return;
  snprintf (text, sizeof (text), "nsfdsuds-runtime: %s: %s", what, msg);
  n = nsfd_jw_logrus_line (line, sizeof (line), json, "error", text, time (NULL));
  if (n <= 0)
    return;
  fd = open (a->log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0)
    (void) !write (fd, line, (size_t) n);
}

void
runtime_log_success (const struct nsfd_session *s, const char *fmt, ...)
{
  char msg[4096];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof (msg), fmt, ap);
  va_end (ap);
  nsfd_log_set_sinks (s->cfg.log_sinks & ~NSFD_LOG_SINK_STDERR);
  nsfd_log (NSFD_LOG_INFO, s->id, "%s", msg);
  nsfd_log_set_sinks (s->cfg.log_sinks);
}
