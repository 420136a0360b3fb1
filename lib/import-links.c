#include "import-links.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct nsfd_link_slot
{
  dev_t dev;
  ino_t ino;
  char *path; /* NULL: empty slot */
};

void
nsfd_links_init (struct nsfd_links *t)
{
  memset (t, 0, sizeof (*t));
}

void
nsfd_links_free (struct nsfd_links *t)
{
  for (size_t i = 0; i < t->cap; i++)
    free (t->slots[i].path);
  free (t->slots);
  memset (t, 0, sizeof (*t));
}

static size_t
hash (dev_t dev, ino_t ino, size_t cap)
{
  uint64_t h = (uint64_t) ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t) dev * 0xc2b2ae3d27d4eb4fULL;
  return (size_t) (h ^ (h >> 29)) & (cap - 1);
}

/* Open addressing with linear probing; cap is a power of two. */
static struct nsfd_link_slot *
slot (const struct nsfd_links *t, dev_t dev, ino_t ino)
{
  size_t i = hash (dev, ino, t->cap);
  while (t->slots[i].path && !(t->slots[i].dev == dev && t->slots[i].ino == ino))
    i = (i + 1) & (t->cap - 1);
  return &t->slots[i];
}

const char *
nsfd_links_find (const struct nsfd_links *t, dev_t dev, ino_t ino)
{
  if (t->cap == 0)
    return NULL;
  return slot (t, dev, ino)->path;
}

static int
grow (struct nsfd_links *t)
{
  struct nsfd_links n = { .cap = t->cap ? t->cap * 2 : 256 };
  n.slots = calloc (n.cap, sizeof (*n.slots));
  if (n.slots == NULL)
    return -ENOMEM;
  for (size_t i = 0; i < t->cap; i++)
    if (t->slots[i].path)
      *slot (&n, t->slots[i].dev, t->slots[i].ino) = t->slots[i];
  n.used = t->used;
  free (t->slots);
  *t = n;
  return 0;
}

int
nsfd_links_add (struct nsfd_links *t, dev_t dev, ino_t ino, const char *path)
{
  struct nsfd_link_slot *s;
  if ((t->used + 1) * 2 > t->cap && grow (t) < 0)
    return -ENOMEM;
  s = slot (t, dev, ino);
  if (s->path)
    return 0;
  if ((s->path = strdup (path)) == NULL)
    return -ENOMEM;
  s->dev = dev;
  s->ino = ino;
  t->used++;
  return 0;
}
