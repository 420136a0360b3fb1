/* Errors as values: a failing function fills an nsfd_error_t and returns a
 * negative number; callers add context with nsfd_error_wrap and only the top
 * level prints it. */
#pragma once

#include <stdarg.h>

typedef struct nsfd_error_s
{
  int status;   /* errno value, or 0 when the failure has no errno */
  char *msg;    /* full message, owned */
} *nsfd_error_t;

/* Sets *err and returns a negative number: -1 when status is 0, else
 * -status - 1 (never mistaken for "no errno").  Callers only test < 0; the
 * errno is err->status. */
int nsfd_make_error (nsfd_error_t *err, int status, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Prefixes the message with "<context>: " and returns the same value as
 * nsfd_make_error would. */
int nsfd_error_wrap (nsfd_error_t *err, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* An error whose message is taken as it is (no strerror appended): for an
 * error that crossed a process boundary as {errno, text}. */
int nsfd_error_set (nsfd_error_t *err, int status, const char *msg);

void nsfd_error_free (nsfd_error_t *err);

/* The message with strerror appended when status is set; never NULL. */
const char *nsfd_error_text (nsfd_error_t err);
