/* overlay-floor LOWER UPPER WORK TARGET ROUNDS [volatile]: the kernel's own
 * cost of the persistent root, without any of our code: in a private mount
 * namespace, ROUNDS times mount an overlay of LOWER/UPPER/WORK on TARGET and
 * unmount it.  Prints one line per round, "MOUNT_US UMOUNT_US".  The unmount
 * includes overlayfs syncing the upper filesystem, as it does when a
 * container's mount namespace goes away; with "volatile" the overlay is
 * mounted so that it does not (what giving up durability would save).  A
 * volatile mount leaves WORK/work/incompat/volatile/dirty, which refuses the
 * next mount; it is removed after each unmount, outside the timing, so give this
 * mode a scratch layer.  For bench/run.sh. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

static long long
now_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
main (int argc, char **argv)
{
  char opts[8192];
  int rounds;

  if (argc != 6 && !(argc == 7 && strcmp (argv[6], "volatile") == 0))
    {
      fprintf (stderr, "usage: overlay-floor LOWER UPPER WORK TARGET ROUNDS [volatile]\n");
      return 2;
    }
  rounds = atoi (argv[5]);
  /* Same options as lib/overlay.c uses. */
  snprintf (opts, sizeof (opts), "lowerdir=%s,upperdir=%s,workdir=%s,index=off,metacopy=off,redirect_dir=off%s",
            argv[1], argv[2], argv[3], argc == 7 ? ",volatile" : "");
  if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    {
      perror ("overlay-floor: private mount namespace");
      return 1;
    }
  for (int i = 0; i < rounds; i++)
    {
      long long t0 = now_us (), t1, t2;
      if (mount ("overlay", argv[4], "overlay", 0, opts) < 0)
        {
          perror ("overlay-floor: mount");
          return 1;
        }
      t1 = now_us ();
      if (umount2 (argv[4], 0) < 0)
        {
          perror ("overlay-floor: umount");
          return 1;
        }
      t2 = now_us ();
      printf ("%lld %lld\n", t1 - t0, t2 - t1);
      if (argc == 7)
        {
          char dirty[4200], mark[4096];
          snprintf (mark, sizeof (mark), "%s/work/incompat/volatile", argv[3]);
          snprintf (dirty, sizeof (dirty), "%s/dirty", mark);
          if ((rmdir (dirty) < 0 && unlink (dirty) < 0) || rmdir (mark) < 0)
            {
              perror ("overlay-floor: removing the volatile mark");
              return 1;
            }
        }
    }
  return 0;
}
