/* The hard-link table of an import: (dev, ino) of a source inode with more
 * than one link -> the path (relative to the target root) of its first copy.
 * The only structure of an import that grows with the tree, and only with
 * its multiply-linked inodes. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct nsfd_links
{
  struct nsfd_link_slot *slots;
  size_t cap, used;
};

void nsfd_links_init (struct nsfd_links *t);
void nsfd_links_free (struct nsfd_links *t);
/* The recorded path, or NULL. */
const char *nsfd_links_find (const struct nsfd_links *t, dev_t dev, ino_t ino);
/* Records path for (dev, ino); 0, or -ENOMEM. */
int nsfd_links_add (struct nsfd_links *t, dev_t dev, ino_t ino, const char *path);
