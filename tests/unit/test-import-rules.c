/* lib/import-rules.c: what `layer import` does with each attribute, and
 * the id shift (owners, ACL entries, file capabilities). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "import-rules.h"
#include "tap.h"
#include "testutil.h"

static void
test_xattr_rules (void)
{
  static const struct
  {
    const char *name;
    enum nsfd_xattr_action action;
    const char *out;
  } cases[] = {
    { "user.foo", NSFD_XA_COPY, "user.foo" },
    { "security.capability", NSFD_XA_COPY, "security.capability" },
    { "system.posix_acl_access", NSFD_XA_COPY, "system.posix_acl_access" },
    { "trusted.other", NSFD_XA_COPY, "trusted.other" },
    { "trusted.overlay.opaque", NSFD_XA_OPAQUE, NULL },
    { "user.overlay.opaque", NSFD_XA_OPAQUE, NULL },
    { "trusted.overlay.whiteout", NSFD_XA_WHITEOUT, NULL },
    { "user.overlay.whiteout", NSFD_XA_WHITEOUT, NULL },
    { "trusted.overlay.origin", NSFD_XA_DROP, NULL },
    { "user.overlay.impure", NSFD_XA_DROP, NULL },
    { "trusted.overlay.nlink", NSFD_XA_DROP, NULL },
    { "trusted.overlay.uuid", NSFD_XA_DROP, NULL },
    { "trusted.overlay.upper", NSFD_XA_DROP, NULL },
    { "user.overlay.whiteouts", NSFD_XA_DROP, NULL },
    { "trusted.overlay.redirect", NSFD_XA_REDIRECT, NULL },
    { "user.overlay.redirect", NSFD_XA_REDIRECT, NULL },
    { "trusted.overlay.metacopy", NSFD_XA_METACOPY, NULL },
    { "user.overlay.metacopy", NSFD_XA_METACOPY, NULL },
    { "trusted.overlay.protattr", NSFD_XA_COPY, "trusted.overlay.protattr" },
    { "user.overlay.protattr", NSFD_XA_COPY, "trusted.overlay.protattr" },
    { "trusted.overlay.overlay.opaque", NSFD_XA_COPY, "trusted.overlay.overlay.opaque" },
    { "user.overlay.overlay.opaque", NSFD_XA_COPY, "user.overlay.opaque" },
    { "trusted.overlay.frobnicate", NSFD_XA_UNKNOWN, NULL },
    { "user.overlay.frobnicate", NSFD_XA_UNKNOWN, NULL },
    { "user.overlayfoo", NSFD_XA_COPY, "user.overlayfoo" },
  };
  char out[300];

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      enum nsfd_xattr_action a;
      out[0] = '\0';
      a = nsfd_import_xattr_rule (cases[i].name, out, sizeof (out));
      CHECK (a == cases[i].action && (cases[i].out == NULL || strcmp (out, cases[i].out) == 0),
             "%s -> action %d (want %d) %s", cases[i].name, (int) a, (int) cases[i].action, out);
    }
}

static void
test_shift (void)
{
  nsfd_error_t err = NULL;
  struct nsfd_idshift s[2];

  CHECK (nsfd_idshift_parse ("100000:0:65536", &s[0], &err) == 0 && s[0].from == 100000 && s[0].to == 0
             && s[0].count == 65536,
         "parse 100000:0:65536");
  CHECK (nsfd_idshift_parse ("0:200000:1", &s[1], &err) == 0, "parse 0:200000:1");
  CHECK (nsfd_idshift_apply (s, 2, 100000) == 0, "100000 -> 0");
  CHECK (nsfd_idshift_apply (s, 2, 165535) == 65535, "last id of the range");
  CHECK (nsfd_idshift_apply (s, 2, 165536) == 165536, "past the range: unchanged");
  CHECK (nsfd_idshift_apply (s, 2, 99999) == 99999, "before the range: unchanged");
  CHECK (nsfd_idshift_apply (s, 1, 0) == 0, "first range only: 0 unchanged");
  CHECK (nsfd_idshift_apply (s, 2, 0) == 200000, "second range: 0 -> 200000 (first match wins)");
  static const char *const bad[] = { "", "1:2", "1:2:0", "a:b:c", "1:2:3:4", "-1:0:5", "1:2:3x", "4294967295:0:2",
                                     "1::3" };
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      CHECK (nsfd_idshift_parse (bad[i], &s[0], &err) < 0, "refused: \"%s\"", bad[i]);
      nsfd_error_free (&err);
    }
}

static void
put32 (unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char) v, p[1] = (unsigned char) (v >> 8), p[2] = (unsigned char) (v >> 16),
  p[3] = (unsigned char) (v >> 24);
}

static uint32_t
get32 (const unsigned char *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void
test_values (void)
{
  struct nsfd_idshift s = { 100000, 0, 65536 };
  unsigned char acl[4 + 4 * 8], cap[24];
  size_t len = sizeof (acl);
  /* header, USER_OBJ, USER 100007, GROUP 100008, MASK */
  const unsigned tags[] = { 0x01, 0x02, 0x08, 0x10 };
  const uint32_t ids[] = { 0xffffffff, 100007, 100008, 0xffffffff };

  put32 (acl, 2);
  for (int i = 0; i < 4; i++)
    {
      acl[4 + i * 8] = (unsigned char) tags[i];
      acl[5 + i * 8] = 0;
      acl[6 + i * 8] = 7;
      acl[7 + i * 8] = 0;
      put32 (acl + 8 + i * 8, ids[i]);
    }
  CHECK (nsfd_import_remap_value ("system.posix_acl_access", acl, &len, &s, 1) == 1, "ACL remapped");
  CHECK (get32 (acl + 16) == 7 && get32 (acl + 24) == 8, "named user and group shifted (%u, %u)",
         get32 (acl + 16), get32 (acl + 24));
  CHECK (get32 (acl + 8) == 0xffffffff && get32 (acl + 32) == 0xffffffff, "other entries untouched");
  len = 7;
  CHECK (nsfd_import_remap_value ("system.posix_acl_default", acl, &len, &s, 1) < 0, "a malformed ACL is an error");
  len = sizeof (acl);
  CHECK (nsfd_import_remap_value ("system.posix_acl_access", acl, &len, &s, 0) == 0, "no shift: unchanged");

  memset (cap, 0, sizeof (cap));
  put32 (cap, 0x03000000u);
  put32 (cap + 20, 100000);
  len = 24;
  CHECK (nsfd_import_remap_value ("security.capability", cap, &len, &s, 1) == 1 && len == 20
             && (get32 (cap) & 0xff000000u) == 0x02000000u,
         "a v3 capability for the shifted root becomes v2 (len %zu)", len);
  put32 (cap, 0x03000000u);
  put32 (cap + 20, 100005);
  len = 24;
  CHECK (nsfd_import_remap_value ("security.capability", cap, &len, &s, 1) == 1 && len == 24 && get32 (cap + 20) == 5,
         "a v3 root id is shifted");
  len = 3;
  CHECK (nsfd_import_remap_value ("user.x", cap, &len, &s, 1) == 0, "other attributes untouched");
}

static void
test_quote (void)
{
  char out[64], longp[600];
  CHECK (strcmp (nsfd_import_quote ("a\nb\tc\x01", out, sizeof (out)), "a\\nb\\tc\\x01") == 0, "escaped: %s", out);
  memset (longp, 'x', sizeof (longp) - 1);
  longp[sizeof (longp) - 1] = '\0';
  nsfd_import_quote (longp, out, sizeof (out));
  CHECK (strlen (out) < sizeof (out) && strstr (out, "...") != NULL, "long path cut: %s", out);
}

int
main (void)
{
  test_xattr_rules ();
  test_shift ();
  test_values ();
  test_quote ();
  TAP_DONE ();
}
