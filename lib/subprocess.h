/* Work that must run in a process of its own (entering another mount
 * namespace, for one): forked, bounded in time, and its failure carried back
 * whole, errno and message. */
#pragma once

#include <sys/types.h>

#include "error.h"

#define NSFD_CHILD_MAX_TEXT 2048   /* the child's message, bytes (longer is cut) */

/* Forks; the child runs fn (arg, &its_err) and sends back its result
 * {failed, errno, message} over a pipe, then _exit()s.  The parent waits at
 * most timeout_ms (> 0) for it and always reaps the child; nothing of it is
 * left (no fd, no zombie).  Returns 0 when fn returned >= 0.  When fn failed,
 * an error with fn's errno (0 when it had none) and its message as it was.
 * what names the work in the parent's own messages:
 *   timeout (the child is killed with SIGKILL): ETIMEDOUT,
 *     "<what> took longer than <timeout_ms> ms";
 *   a child that ends without a result: EIO, "<what>: the worker process
 *     died without a result (killed by signal N)" or "(exit status N)";
 *   fork or pipe failing: their errno. */
int nsfd_run_in_child (int (*fn) (void *arg, nsfd_error_t *err), void *arg, unsigned timeout_ms, const char *what,
                       nsfd_error_t *err);

/* The same, but when the child sent a whole result (success or fn's failure)
 * it is not reaped: its pid is put in *unreaped and the caller must pass it to
 * nsfd_child_reap.  For a caller that answers someone first; the child is
 * already in _exit. */
int nsfd_run_in_child_unreaped (int (*fn) (void *arg, nsfd_error_t *err), void *arg, unsigned timeout_ms,
                                const char *what, pid_t *unreaped, nsfd_error_t *err);
void nsfd_child_reap (pid_t pid);
static inline void
nsfd_child_reapp (pid_t *pid)
{
  nsfd_child_reap (*pid);
}
#define cleanup_child __attribute__ ((cleanup (nsfd_child_reapp)))
