/* containerd's runc shim and CRI-O report a failed create with the last
 * error line of the runtime's --log file, not its stderr: ours is appended
 * there, in the format asked for (logrus json or text), so the reason
 * reaches the user (kubectl describe).  Best effort. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "runtime.h"

/* what + ": " + msg, JSON-escaped, into esc (bounded). */
static void
escape_line (const char *what, const char *msg, char *esc, size_t cap)
{
  const char *parts[] = { what, ": ", msg };
  size_t o = 0;

  for (size_t i = 0; i < NSFD_ARRAY_SIZE (parts); i++)
    for (const unsigned char *c = (const unsigned char *) parts[i]; *c && o + 8 < cap; c++)
      {
        if (*c == '"' || *c == '\\')
          {
            esc[o++] = '\\';
            esc[o++] = (char) *c;
          }
        else if (*c < 0x20)
          o += (size_t) snprintf (esc + o, cap - o, "\\u%04x", *c);
        else
          esc[o++] = (char) *c;
      }
  esc[o] = '\0';
}

void
runtime_log_for_engine (const struct nsfd_runtime_args *a, const char *what, const char *msg)
{
  char esc[8192], line[8448], when[32];
  cleanup_close int fd = -1;
  time_t now = time (NULL);
  struct tm tm;
  int n;

  if (a->log == NULL || a->log[0] == '\0')
    return;
  escape_line (what, msg, esc, sizeof (esc));
  gmtime_r (&now, &tm);
  strftime (when, sizeof (when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (a->log_format && strcmp (a->log_format, "json") == 0)
    n = snprintf (line, sizeof (line), "{\"level\":\"error\",\"msg\":\"nsfdsuds-runtime: %s\",\"time\":\"%s\"}\n",
                  esc, when);
  else
    n = snprintf (line, sizeof (line), "time=\"%s\" level=error msg=\"nsfdsuds-runtime: %s\"\n", when, esc);
  fd = open (a->log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || n <= 0)
    return;
  (void) !write (fd, line, (size_t) n < sizeof (line) ? (size_t) n : sizeof (line) - 1);
}
