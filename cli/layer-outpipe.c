#include "layer-outpipe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
write_all (int fd, const char *buf, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? errno : EIO;
      buf += n, len -= (size_t) n;
    }
  return 0;
}

static void *
writer (void *arg)
{
  struct lo_pipe *p = arg;
  pthread_mutex_lock (&p->mu);
  for (;;)
    {
      size_t i;
      int e = 0;
      while (p->count == 0 && !p->closing)
        pthread_cond_wait (&p->changed, &p->mu);
      if (p->count == 0)
        break;
      i = p->tail;
      pthread_mutex_unlock (&p->mu);
      /* The slot is ours until count drops: the producer never reserves it. */
      if (p->error == 0)
        {
          e = ld_sha256_update (&p->hash, p->slot[i], p->len[i]);
          if (e == 0)
            e = write_all (p->fd, p->slot[i], p->len[i]);
        }
      pthread_mutex_lock (&p->mu);
      if (e)
        p->error = e;
      p->tail = (p->tail + 1) % LO_SLOTS;
      p->count--;
      pthread_cond_broadcast (&p->changed);
    }
  pthread_mutex_unlock (&p->mu);
  return NULL;
}

int
lo_start (struct lo_pipe *p, int fd)
{
  memset (p, 0, sizeof (*p));
  p->fd = fd;
  if (ld_sha256_init (&p->hash) != 0)
    return ENOMEM;
  for (int i = 0; i < LO_SLOTS; i++)
    if ((p->slot[i] = malloc (LO_SLOT_SIZE)) == NULL)
      return ENOMEM;
  if (pthread_mutex_init (&p->mu, NULL) != 0 || pthread_cond_init (&p->changed, NULL) != 0)
    return ENOMEM;
  if (pthread_create (&p->thread, NULL, writer, p) != 0)
    return EAGAIN;
  p->started = true;
  return 0;
}

char *
lo_reserve (struct lo_pipe *p)
{
  char *b;
  pthread_mutex_lock (&p->mu);
  while (p->count == LO_SLOTS && p->error == 0)
    pthread_cond_wait (&p->changed, &p->mu);
  b = p->error ? NULL : p->slot[p->head];
  pthread_mutex_unlock (&p->mu);
  return b;
}

void
lo_commit (struct lo_pipe *p, size_t len)
{
  pthread_mutex_lock (&p->mu);
  p->len[p->head] = len;
  p->head = (p->head + 1) % LO_SLOTS;
  p->count++;
  pthread_cond_broadcast (&p->changed);
  pthread_mutex_unlock (&p->mu);
}

int
lo_finish (struct lo_pipe *p)
{
  int e;
  if (p->started)
    {
      pthread_mutex_lock (&p->mu);
      p->closing = true;
      pthread_cond_broadcast (&p->changed);
      pthread_mutex_unlock (&p->mu);
      pthread_join (p->thread, NULL);
      pthread_mutex_destroy (&p->mu);
      pthread_cond_destroy (&p->changed);
      p->started = false;
    }
  e = p->error;
  for (int i = 0; i < LO_SLOTS; i++)
    {
      free (p->slot[i]);
      p->slot[i] = NULL;
    }
  return e;
}
