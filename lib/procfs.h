/* What nsfdsuds reads from /proc about a process and the boot. */
#pragma once

#include <sys/types.h>

/* The start time of pid (/proc/<pid>/stat field 22, clock ticks since boot),
 * which tells a process from a later one that reuses its number.  0, or
 * -errno: -ESRCH for a zombie (it has finished and holds nothing), -ENOENT
 * when there is no such process, -EIO for a stat line it cannot read. */
int nsfd_proc_start_time (pid_t pid, unsigned long long *out);
/* The parent of pid (/proc/<pid>/stat field 4), zombies included: 0 or
 * -errno as above. */
int nsfd_proc_parent (pid_t pid, pid_t *out);
/* This boot's id (/proc/sys/kernel/random/boot_id, without the newline):
 * 0 or -errno. */
int nsfd_boot_id (char out[64]);
