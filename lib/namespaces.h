/* Namespace types and namespace fds: names, CLONE_NEW* values, opening our
 * own, and checking what an fd really is (ioctl NS_GET_NSTYPE). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum nsfd_ns_index
{
  NSFD_NS_CGROUP = 0,
  NSFD_NS_IPC,
  NSFD_NS_MNT,
  NSFD_NS_NET,
  NSFD_NS_PID,
  NSFD_NS_TIME,
  NSFD_NS_USER,
  NSFD_NS_UTS,
  NSFD_NS_COUNT
};

/* A set of namespace fds indexed by enum nsfd_ns_index; -1 when absent. */
struct nsfd_ns_set
{
  int fd[NSFD_NS_COUNT];
};

void nsfd_ns_set_init (struct nsfd_ns_set *s);
void nsfd_ns_set_close (struct nsfd_ns_set *s);
#define cleanup_ns_set __attribute__ ((cleanup (nsfd_ns_set_close)))

const char *nsfd_ns_name (enum nsfd_ns_index i);       /* "mnt", ... ("/proc/self/ns" names) */
int nsfd_ns_from_name (const char *name);               /* -1 when unknown; accepts "mount" too */
uint32_t nsfd_ns_clone_flag (enum nsfd_ns_index i);     /* CLONE_NEWNS, ... */
int nsfd_ns_from_clone_flag (uint32_t flag);            /* -1 when unknown */
/* Parses "mnt,net,user" or "all" into a mask of (1u << index). */
int nsfd_ns_parse_list (const char *list, uint32_t *mask, nsfd_error_t *err);

/* Opens /proc/self/ns/<name> for each index in mask (O_RDONLY|O_CLOEXEC).
 * Types the kernel does not have (ENOENT) are left at -1 unless required. */
int nsfd_ns_open_self (uint32_t mask, struct nsfd_ns_set *out, nsfd_error_t *err);

/* Checks that fd is a namespace of the expected type. */
int nsfd_ns_check_type (int fd, enum nsfd_ns_index expected, nsfd_error_t *err);

/* 1 when both fds refer to the same namespace (same nsfs inode), 0 when not,
 * <0 on error. */
int nsfd_ns_same (int fd_a, int fd_b, nsfd_error_t *err);

/* Opens a namespace of a process through its pidfd (ioctl PIDFD_GET_*_NAMESPACE,
 * Linux 6.11+).  Returns -ENOTTY/-EINVAL style errors on older kernels so
 * that callers can tell "unsupported" from "failed". */
int nsfd_ns_open_from_pidfd (int pidfd, enum nsfd_ns_index i, nsfd_error_t *err);
