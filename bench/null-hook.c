/* bench/null-hook.c: the cheapest hook a runtime can run — it reads the state
 * the runtime writes to its stdin, to the end, and exits 0.  /bin/true does
 * not read it, and crun then fails the hook now and then with EPIPE while
 * writing the state ("writing to pipe: Broken pipe"). */
#include <unistd.h>

int
main (void)
{
  char buf[4096];
  while (read (STDIN_FILENO, buf, sizeof (buf)) > 0)
    ;
  return 0;
}
