/* What nsfdsuds reads from /proc about a process and the boot.  These take
 * no error sink (callers on hot paths only need yes or no): they return 0,
 * or -1 with errno set. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* The start time of pid (/proc/<pid>/stat field 22, clock ticks since boot),
 * which tells a process from a later one that reuses its number.  errno
 * ESRCH for a zombie (it has finished and holds nothing), ENOENT when there
 * is no such process, EIO for a stat line it cannot read. */
int nsfd_proc_start_time (pid_t pid, unsigned long long *out);
/* pid (> 0) is still the process that had start time start: not gone, not a
 * zombie, not a later process reusing the number. */
bool nsfd_proc_is (pid_t pid, unsigned long long start);
/* The parent of pid (/proc/<pid>/stat field 4), zombies included; errno
 * as above. */
int nsfd_proc_parent (pid_t pid, pid_t *out);
/* This boot's id (/proc/sys/kernel/random/boot_id, without the newline). */
int nsfd_boot_id (char out[64]);
