/* The conversion rules of `nsfdsuds layer import`: what happens to each
 * extended attribute overlayfs (or a user) left on an upper tree, and how
 * owners are shifted.  Pure functions, so the rules are unit-tested on their
 * own (tests/unit/test-import-rules.c).  docs/layers.md has the table. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define NSFD_IMPORT_MAX_SHIFTS 16

/* --shift FROM:TO:COUNT: ids FROM .. FROM+COUNT-1 become TO .. TO+COUNT-1,
 * for owners, groups, ACL entries and file capabilities alike. */
struct nsfd_idshift
{
  unsigned long from, to, count;
};

int nsfd_idshift_parse (const char *s, struct nsfd_idshift *out, nsfd_error_t *err);
/* Ids no range covers stay as they are. */
unsigned long nsfd_idshift_apply (const struct nsfd_idshift *s, size_t n, unsigned long id);

enum nsfd_xattr_action
{
  NSFD_XA_COPY,       /* carried as out_name (same name, or user.overlay.* unescaped) */
  NSFD_XA_DROP,       /* overlayfs bookkeeping our index=off mount must not see */
  NSFD_XA_OPAQUE,     /* overlay.opaque: "y" becomes trusted.overlay.opaque, "x" is dropped */
  NSFD_XA_WHITEOUT,   /* overlay.whiteout: the entry is a 6.7+ whiteout */
  NSFD_XA_REDIRECT,   /* overlay.redirect: needs the lower */
  NSFD_XA_METACOPY,   /* overlay.metacopy: needs the lower */
  NSFD_XA_UNKNOWN,    /* an overlay.* attribute we do not know: refused */
};

/* Classifies the attribute name.  For NSFD_XA_COPY, out_name (cap bytes)
 * gets the name to write: user.overlay.X and trusted.overlay.X become
 * trusted.overlay.X; escaped ones (overlay.overlay.X, a real attribute the
 * merged view shows as overlay.X) are written as the merged view had them in
 * the trusted format. */
enum nsfd_xattr_action nsfd_import_xattr_rule (const char *name, char *out_name, size_t cap);

/* Rewrites ids inside an attribute value for a shift: POSIX ACL entries
 * (system.posix_acl_access/default) and the root id of a v3 file capability
 * (security.capability; one that becomes 0 is written as v2).  *len may
 * shrink.  Returns 1 when it changed the value, 0 when not, <0 when the
 * value is malformed. */
int nsfd_import_remap_value (const char *name, unsigned char *val, size_t *len,
                             const struct nsfd_idshift *s, size_t n);

/* A path for a message: control characters (a name may hold a newline)
 * escaped as \n, \t, \xNN; a very long path is cut in the middle. */
const char *nsfd_import_quote (const char *path, char *out, size_t cap);
