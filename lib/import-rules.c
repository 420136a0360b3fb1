#include "import-rules.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
nsfd_idshift_parse (const char *s, struct nsfd_idshift *out, nsfd_error_t *err)
{
  unsigned long v[3];
  const char *p = s;
  char *end;

  for (int i = 0; i < 3; i++)
    {
      if (*p < '0' || *p > '9')
        goto bad;
      errno = 0;
      v[i] = strtoul (p, &end, 10);
      if (errno || v[i] > UINT32_MAX || (i < 2 && *end != ':') || (i == 2 && *end != '\0'))
        goto bad;
      p = end + 1;
    }
  if (v[2] == 0 || v[0] + v[2] - 1 > UINT32_MAX - 1 || v[1] + v[2] - 1 > UINT32_MAX - 1)
    goto bad;
  out->from = v[0];
  out->to = v[1];
  out->count = v[2];
  return 0;
bad:
  return nsfd_make_error (err, EINVAL, "invalid --shift \"%s\" (expected FROM:TO:COUNT, e.g. 100000:0:65536)", s);
}

unsigned long
nsfd_idshift_apply (const struct nsfd_idshift *s, size_t n, unsigned long id)
{
  for (size_t i = 0; i < n; i++)
    if (id >= s[i].from && id - s[i].from < s[i].count)
      return s[i].to + (id - s[i].from);
  return id;
}

static enum nsfd_xattr_action
overlay_rule (const char *ns, const char *x, char *out, size_t cap)
{
  static const char *const drop[] = { "origin", "impure", "nlink", "uuid", "upper", "whiteouts", "verity" };

  if (strncmp (x, "overlay.", 8) == 0)
    {
      /* Escaped: the merged view shows <ns>.overlay.<rest>.  In the trusted
       * format a trusted.overlay.* name must stay escaped; a user.overlay.*
       * name is an ordinary attribute there. */
      if (strcmp (ns, "user") == 0)
        snprintf (out, cap, "user.%s", x);
      else
        snprintf (out, cap, "trusted.overlay.%s", x);
      return NSFD_XA_COPY;
    }
  if (strcmp (x, "opaque") == 0)
    return NSFD_XA_OPAQUE;
  if (strcmp (x, "whiteout") == 0)
    return NSFD_XA_WHITEOUT;
  if (strcmp (x, "redirect") == 0)
    return NSFD_XA_REDIRECT;
  if (strcmp (x, "metacopy") == 0)
    return NSFD_XA_METACOPY;
  if (strcmp (x, "protattr") == 0)
    {
      snprintf (out, cap, "trusted.overlay.protattr");
      return NSFD_XA_COPY;
    }
  for (size_t i = 0; i < sizeof (drop) / sizeof (drop[0]); i++)
    if (strcmp (x, drop[i]) == 0)
      return NSFD_XA_DROP;
  return NSFD_XA_UNKNOWN;
}

enum nsfd_xattr_action
nsfd_import_xattr_rule (const char *name, char *out, size_t cap)
{
  if (strncmp (name, "trusted.overlay.", 16) == 0)
    return overlay_rule ("trusted", name + 16, out, cap);
  if (strncmp (name, "user.overlay.", 13) == 0)
    return overlay_rule ("user", name + 13, out, cap);
  if (snprintf (out, cap, "%s", name) >= (int) cap)
    return NSFD_XA_UNKNOWN;
  return NSFD_XA_COPY;
}

#define ACL_VERSION 2
#define ACL_USER 0x02
#define ACL_GROUP 0x08
#define VFS_CAP_REVISION_2 0x02000000u
#define VFS_CAP_REVISION_3 0x03000000u
#define VFS_CAP_REVISION_MASK 0xff000000u

static uint32_t
get32 (const unsigned char *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void
put32 (unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char) v;
  p[1] = (unsigned char) (v >> 8);
  p[2] = (unsigned char) (v >> 16);
  p[3] = (unsigned char) (v >> 24);
}

/* Little-endian: a header (u32 version) and entries (u16 tag, u16 perm, u32 id). */
static int
remap_acl (unsigned char *val, size_t len, const struct nsfd_idshift *s, size_t n)
{
  int changed = 0;
  if (len < 4 || (len - 4) % 8 != 0 || get32 (val) != ACL_VERSION)
    return -1;
  for (size_t off = 4; off < len; off += 8)
    {
      unsigned tag = (unsigned) val[off] | (unsigned) val[off + 1] << 8;
      if (tag == ACL_USER || tag == ACL_GROUP)
        {
          uint32_t id = get32 (val + off + 4);
          uint32_t to = (uint32_t) nsfd_idshift_apply (s, n, id);
          if (to != id)
            {
              put32 (val + off + 4, to);
              changed = 1;
            }
        }
    }
  return changed;
}

int
nsfd_import_remap_value (const char *name, unsigned char *val, size_t *len, const struct nsfd_idshift *s,
                         size_t n)
{
  if (n == 0)
    return 0;
  if (strcmp (name, "system.posix_acl_access") == 0 || strcmp (name, "system.posix_acl_default") == 0)
    return remap_acl (val, *len, s, n);
  /* A v3 capability (u32 magic, 2 x {permitted, inheritable}, u32 rootid). */
  if (strcmp (name, "security.capability") == 0 && *len == 24
      && (get32 (val) & VFS_CAP_REVISION_MASK) == VFS_CAP_REVISION_3)
    {
      uint32_t root = get32 (val + 20);
      uint32_t to = (uint32_t) nsfd_idshift_apply (s, n, root);
      if (to == root)
        return 0;
      if (to == 0)
        {
          /* A capability for the host's root is the plain v2 form. */
          put32 (val, (get32 (val) & ~VFS_CAP_REVISION_MASK) | VFS_CAP_REVISION_2);
          *len = 20;
        }
      else
        put32 (val + 20, to);
      return 1;
    }
  return 0;
}

const char *
nsfd_import_quote (const char *path, char *out, size_t cap)
{
  size_t o = 0, n = strlen (path), i = 0;
  size_t keep = cap > 64 ? (cap - 16) / 8 : 4; /* each byte may take 4 chars; head and tail */

  if (cap < 8)
    return "";
  while (i < n && o + 5 < cap)
    {
      unsigned char c = (unsigned char) path[i];
      if (n > 2 * keep && i == keep)
        {
          o += (size_t) snprintf (out + o, cap - o, "...");
          i = n - keep;
          continue;
        }
      if (c == '\n')
        o += (size_t) snprintf (out + o, cap - o, "\\n");
      else if (c == '\t')
        o += (size_t) snprintf (out + o, cap - o, "\\t");
      else if (c < 0x20 || c == 0x7f || c == '\\' || c == '"')
        o += (size_t) snprintf (out + o, cap - o, c == '\\' || c == '"' ? "\\%c" : "\\x%02x", c);
      else
        out[o++] = (char) c;
      i++;
    }
  out[o < cap ? o : cap - 1] = '\0';
  return out;
}
