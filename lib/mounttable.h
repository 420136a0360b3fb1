/* Reading mount tables (/proc/self/mountinfo, parsed directly): which mounts
 * sit below a root, in the order they were made. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "pathutil.h"  /* nsfd_path_is_beneath */

struct nsfd_mount_entry
{
  int id;
  int parent_id;
  char *target;      /* absolute, unescaped */
  char *fstype;
  char *source;
  char *vfs_options; /* per-mount flags: "ro,nosuid,..." */
  bool shared;       /* propagation: shared:N present */
  bool slave;        /* master:N present */
};

struct nsfd_mount_list
{
  struct nsfd_mount_entry *items;
  size_t len;
};

void nsfd_mount_list_free (struct nsfd_mount_list *l);
#define cleanup_mount_list __attribute__ ((cleanup (nsfd_mount_list_free)))

/* Reads mountinfo (NULL: /proc/self/mountinfo) and returns the topmost mount
 * holding root (mounted at root, or the one root lies in) in *root_out
 * (copied), and in children the mounts strictly below root whose parent is
 * that mount, in mountinfo order.  *nested_out, when not NULL,
 * receives every mount below root at any depth, also in order. */
int nsfd_mounts_below (const char *mountinfo, const char *root, struct nsfd_mount_entry *root_out,
                       struct nsfd_mount_list *children, struct nsfd_mount_list *nested_out,
                       nsfd_error_t *err);

void nsfd_mount_entry_free (struct nsfd_mount_entry *e);

/* Nothing to load any more (the table is parsed without libmount); kept so
 * that callers written for the library need not change.  Returns 0. */
int nsfd_mounttable_load (nsfd_error_t *err);

/* Number of mounts in a table (for leak checks). */
int nsfd_mounts_count (const char *mountinfo, size_t *count, nsfd_error_t *err);

