/* Linked into sanitizer builds only (NSFD_SANITIZE).
 *
 * LeakSanitizer's check at exit stops the process's threads by reading
 * /proc/<getpid()>/task.  At createContainer the hook runs in the container's
 * pid namespace but still sees the host's /proc (the container's own /proc is
 * mounted under its rootfs, not yet pivoted into), so that path names another
 * host process or none at all: LSan then ptrace-attaches to a stranger, or
 * fails the hook with "Can't open /proc/N/task" and the container with it.
 * Leak-check only where /proc is this process's own; the other stages, the
 * mounter and the worker still are. */
#include <stdlib.h>
#include <unistd.h>

int __lsan_is_turned_off (void);

int
__lsan_is_turned_off (void)
{
  char buf[32];
  ssize_t n = readlink ("/proc/self", buf, sizeof (buf) - 1);

  if (n <= 0)
    return 1;
  buf[n] = '\0';
  return strtol (buf, NULL, 10) != (long) getpid ();
}
