/* Recognising runtimes on which hook mode cannot work: runc 1.3.6+, 1.4.3+
 * and 1.5 open the rootfs before any hook runs and pivot into that handle, so
 * an overlay stacked on the rootfs path by a hook is ignored. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* 1 when the parent of pid (the process that ran the createContainer hook)
 * is "runc init" and holds an open fd on the rootfs directory; 0 otherwise
 * (including when it cannot be told).  what receives a short description. */
int nsfd_runtime_pivots_preopened_root (pid_t hook_pid, const char *rootfs, char *what, size_t cap);
