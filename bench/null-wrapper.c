/* bench/null-wrapper.c: the cheapest runtime wrapper — it execs the runtime
 * named by NSFDSUDS_RUNTIME with its own arguments and does nothing else.  The
 * floor of any wrapper in front of runc: one more exec. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  const char *rt = getenv ("NSFDSUDS_RUNTIME");
  (void) argc;
  if (rt == NULL)
    {
      fputs ("null-wrapper: NSFDSUDS_RUNTIME is not set\n", stderr);
      return 127;
    }
  argv[0] = (char *) rt;
  execv (rt, argv);
  perror (rt);
  return 127;
}
