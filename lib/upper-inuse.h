/* Whether an overlay somewhere on this machine uses a directory as its upper:
 * importing a running container's delta would copy a state that keeps
 * changing (and --move would pull it from under the kernel). */
#pragma once

#include <sys/types.h>

#include "error.h"

/* Looks through the mount table of every mount namespace (one process per
 * namespace, from /proc) for an overlay whose upperdir is upper (a canonical
 * path).  1 and *pid (a process in that namespace) when found, 0 when not. */
int nsfd_upper_in_use (const char *upper, pid_t *pid, nsfd_error_t *err);
