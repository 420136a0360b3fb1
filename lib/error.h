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

/* Sets *err (which must be NULL) and returns -1 (or -status when status>0). */
int nsfd_make_error (nsfd_error_t *err, int status, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Prefixes the message with "<context>: " and returns the same value as
 * nsfd_make_error would. */
int nsfd_error_wrap (nsfd_error_t *err, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

void nsfd_error_free (nsfd_error_t *err);

/* The message with strerror appended when status is set; never NULL. */
const char *nsfd_error_text (nsfd_error_t err);
