/* lib/error.c: messages, errno text, wrapping, return values, NULL tolerance. */
#include <errno.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "tap.h"
#include "testutil.h"

static int
fails_with (nsfd_error_t *err, int status, const char *path)
{
  return nsfd_make_error (err, status, "opening \"%s\"", path);
}

static int
middle (nsfd_error_t *err)
{
  if (fails_with (err, ENOENT, "/x/y") < 0)
    return nsfd_error_wrap (err, "layer \"%s\"", "default");
  return 0;
}

int
main (void)
{
  nsfd_error_t err = NULL;
  int r;

  r = nsfd_make_error (&err, ENOENT, "opening \"%s\"", "/a/b");
  CHECK (r == -ENOENT - 1, "make_error returns -status - 1 (%d)", r);
  CHECK (err != NULL && err->status == ENOENT, "status kept");
  CHECK (err && strcmp (err->msg, "opening \"/a/b\": No such file or directory") == 0,
         "errno text appended: %s", nsfd_error_text (err));
  CHECK (strcmp (nsfd_error_text (err), err->msg) == 0, "error_text is the message");

  r = nsfd_error_wrap (&err, "volume %d", 3);
  CHECK (r == -ENOENT - 1, "wrap returns the same value");
  CHECK (err && strcmp (err->msg, "volume 3: opening \"/a/b\": No such file or directory") == 0,
         "wrap prefixes: %s", nsfd_error_text (err));
  CHECK (err && err->status == ENOENT, "wrap keeps status");
  nsfd_error_free (&err);
  CHECK (err == NULL, "free resets to NULL");
  nsfd_error_free (&err);
  CHECK (err == NULL, "double free is harmless");

  r = nsfd_make_error (&err, 0, "plain %s", "message");
  CHECK (r == -1, "status 0 returns -1");
  CHECK (err && strcmp (err->msg, "plain message") == 0, "no errno text when status is 0");
  CHECK (err && err->status == 0, "status 0 kept");
  CHECK (nsfd_error_wrap (&err, "ctx") == -1, "wrap of status 0 returns -1");
  CHECK (err && strcmp (err->msg, "ctx: plain message") == 0, "wrap of status 0: %s", nsfd_error_text (err));

  /* A second make_error replaces the first without leaking (ASan/valgrind). */
  r = nsfd_make_error (&err, EPERM, "second");
  CHECK (r == -EPERM - 1 && err && strcmp (err->msg, "second: Operation not permitted") == 0,
         "make_error replaces a previous error");
  nsfd_error_free (&err);

  /* NULL err: the return value still says what failed. */
  CHECK (nsfd_make_error (NULL, EACCES, "x") == -EACCES - 1, "NULL err tolerated by make_error");
  CHECK (nsfd_make_error (NULL, 0, "x") == -1, "NULL err, status 0");
  CHECK (nsfd_error_wrap (NULL, "x") == -1, "NULL err tolerated by wrap");
  CHECK (nsfd_error_wrap (&err, "x") == -1 && err == NULL, "wrap of an empty error does nothing");
  nsfd_error_free (NULL);
  CHECK (1, "error_free (NULL) tolerated");
  CHECK (strcmp (nsfd_error_text (NULL), "unknown error") == 0, "error_text (NULL)");

  r = middle (&err);
  CHECK (r == -ENOENT - 1, "error crosses a call chain");
  CHECK (err && strcmp (err->msg, "layer \"default\": opening \"/x/y\": No such file or directory") == 0,
         "chain message: %s", nsfd_error_text (err));
  nsfd_error_free (&err);

  {
    cleanup_error nsfd_error_t e2 = NULL;
    nsfd_make_error (&e2, E2BIG, "cleanup attribute frees");
    CHECK (e2 != NULL, "cleanup_error variable filled");
  }

  {
    /* Long messages are not truncated. */
    char big[5000];
    memset (big, 'a', sizeof (big) - 1);
    big[sizeof (big) - 1] = '\0';
    nsfd_make_error (&err, EINVAL, "%s", big);
    CHECK (err && strlen (err->msg) == sizeof (big) - 1 + strlen (": Invalid argument"), "long message kept whole");
    nsfd_error_free (&err);
  }
  /* EPERM is 1: its failure must not look like "failed without errno", nor
   * ENOENT's like a second kind of "no result". */
  CHECK (nsfd_make_error (NULL, EPERM, "x") != nsfd_make_error (NULL, 0, "x"),
         "EPERM's return differs from a failure without errno");
  CHECK (nsfd_make_error (NULL, EPERM, "x") < -1 && nsfd_make_error (NULL, ENOENT, "x") < -2,
         "no errno value returns -1 or -2");
  {
    nsfd_error_t e = NULL;
    int r = nsfd_error_set (&e, EXDEV, "worker: \"/x\" is not the directory that was prepared: Invalid cross-device link");
    CHECK (r == -EXDEV - 1 && e && e->status == EXDEV, "error_set keeps the status");
    CHECK (e && strcmp (e->msg, "worker: \"/x\" is not the directory that was prepared: Invalid cross-device link") == 0,
           "error_set keeps the text as it is (no second strerror)");
    nsfd_error_free (&e);
  }
  TAP_DONE ();
}
