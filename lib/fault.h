/* Fault injection for tests.  In a build configured with
 * -DNSFD_TEST_FAULTS=ON, NSFD_FAULT ("name") kills the process with SIGKILL
 * when the environment variable NSFDSUDS_TEST_FAULT equals "name", so a test
 * can make the hook or the wrapper die at each step in turn.  In every other
 * build it compiles to nothing and the variable is ignored. */
#pragma once

#ifdef NSFD_TEST_FAULTS
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void
nsfd_fault (const char *name)
{
  const char *want = getenv ("NSFDSUDS_TEST_FAULT");
  if (want != NULL && strcmp (want, name) == 0)
    {
      kill (getpid (), SIGKILL);
      _exit (137);
    }
}
#define NSFD_FAULT(name) nsfd_fault (name)
#else
#define NSFD_FAULT(name) ((void) 0)
#endif

/* The names, in the order they are reached (docs/security.md):
 *   hook:    runtime-after-acquire, runtime-after-rundir, runtime-after-fork,
 *            mounter-after-accept, worker-after-setns, worker-after-attach,
 *            worker-after-carry, worker-before-reply (mounter), agent-after-send
 *   wrapper: wrapper-after-acquire, wrapper-after-overlay, wrapper-before-exec,
 *            wrapper-after-runtime
 *   restore: restore-after-record, wrapper-after-acquire, wrapper-after-overlay,
 *            restore-before-exec, restore-after-runtime
 *   checkpoint: checkpoint-after-runtime, checkpoint-after-sync */
