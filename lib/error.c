#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one convention: a failure returns -status - 1, so every failure is
 * negative (-1 without errno, -EPERM - 1 with EPERM) and none can be taken
 * for another.  Callers test < 0 and read the status from the error. */
static int
error_return (int status)
{
  return status > 0 ? -status - 1 : -1;
}

int
nsfd_make_error (nsfd_error_t *err, int status, const char *fmt, ...)
{
  va_list ap;
  char *text = NULL;
  struct nsfd_error_s *e;

  if (err == NULL)
    return error_return (status);
  va_start (ap, fmt);
  if (vasprintf (&text, fmt, ap) < 0)
    text = NULL;
  va_end (ap);

  if (status > 0 && text != NULL)
    {
      char *with_errno = NULL;
      if (asprintf (&with_errno, "%s: %s", text, strerror (status)) >= 0)
        {
          free (text);
          text = with_errno;
        }
    }
  /* A previous error is replaced rather than leaked. */
  nsfd_error_free (err);
  e = calloc (1, sizeof (*e));
  if (e == NULL)
    {
      free (text);
      return error_return (status);
    }
  e->status = status;
  e->msg = text ? text : strdup ("out of memory while formatting an error");
  *err = e;
  return error_return (status);
}

int
nsfd_error_set (nsfd_error_t *err, int status, const char *msg)
{
  struct nsfd_error_s *e;

  if (err == NULL)
    return error_return (status);
  nsfd_error_free (err);
  e = calloc (1, sizeof (*e));
  if (e == NULL)
    return error_return (status);
  e->status = status;
  e->msg = strdup (msg ? msg : "failed");
  if (e->msg == NULL)
    {
      free (e);
      return error_return (status);
    }
  *err = e;
  return error_return (status);
}

int
nsfd_error_wrap (nsfd_error_t *err, const char *fmt, ...)
{
  va_list ap;
  char *prefix = NULL, *joined = NULL;

  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  if (vasprintf (&prefix, fmt, ap) < 0)
    prefix = NULL;
  va_end (ap);
  if (prefix != NULL && asprintf (&joined, "%s: %s", prefix, (*err)->msg) >= 0)
    {
      free ((*err)->msg);
      (*err)->msg = joined;
    }
  free (prefix);
  return error_return ((*err)->status);
}

void
nsfd_error_free (nsfd_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

const char *
nsfd_error_text (nsfd_error_t err)
{
  if (err == NULL || err->msg == NULL)
    return "unknown error";
  return err->msg;
}
