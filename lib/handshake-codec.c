/* The modern handshake's byte codec: no I/O, every field bounded and checked.
 * Layout (little-endian), see docs/protocol.md:
 *   header  u32 magic "NSFD", u16 version, u16 type, u32 payload length
 *   FDS     u32 count, count x u32 CLONE_NEW* label, u32 id length, id bytes
 *   RESULT  i32 status, u32 text length, text bytes (<= NSFD_HS_MAX_TEXT)
 *   REQUEST u32 mask of (1 << enum nsfd_ns_index) */
#include "handshake.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

#define VALID_MASK ((1u << NSFD_NS_COUNT) - 1)

void
nsfd_hs_msg_init (struct nsfd_hs_msg *m)
{
  memset (m, 0, sizeof (*m));
  nsfd_ns_set_init (&m->ns);
}

void
nsfd_hs_msg_free (struct nsfd_hs_msg *m)
{
  if (m == NULL)
    return;
  nsfd_ns_set_close (&m->ns);
  free (m->id);
  free (m->text);
  nsfd_hs_msg_init (m);
}

static void
put_u16 (uint8_t *p, uint16_t v)
{
  p[0] = v & 0xff;
  p[1] = v >> 8;
}

static void
put_u32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (v >> (8 * i)) & 0xff;
}

static uint16_t
get_u16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
get_u32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

/* The payload size of m (and the number of fds and text bytes it carries),
 * or an error for a message that cannot be sent. */
static int
payload_size (const struct nsfd_hs_msg *m, const int *fds_out, size_t *payload, size_t *nfds, size_t *text_len,
              nsfd_error_t *err)
{
  *nfds = *text_len = 0;
  switch (m->type)
    {
    case NSFD_HS_FDS:
      for (int i = 0; i < NSFD_NS_COUNT; i++)
        if (m->ns.fd[i] >= 0)
          (*nfds)++;
      if (*nfds == 0)
        return nsfd_make_error (err, EINVAL, "encoding FDS: no namespace fds to send");
      if (fds_out == NULL)
        return nsfd_make_error (err, EINVAL, "encoding FDS: no room for the fds");
      *text_len = m->id ? strlen (m->id) : 0;
      *payload = 4 + 4 * *nfds + 4 + *text_len;
      return 0;
    case NSFD_HS_RESULT:
      *text_len = m->text ? strlen (m->text) : 0;
      if (*text_len > NSFD_HS_MAX_TEXT)
        *text_len = NSFD_HS_MAX_TEXT; /* a long message is cut, not refused */
      *payload = 4 + 4 + *text_len;
      return 0;
    case NSFD_HS_REQUEST:
      if (m->mask == 0 || (m->mask & ~VALID_MASK))
        return nsfd_make_error (err, EINVAL, "encoding REQUEST: invalid mask 0x%x", m->mask);
      *payload = 4;
      return 0;
    default:
      return nsfd_make_error (err, EINVAL, "encoding: unknown message type %d", (int) m->type);
    }
}

/* u32 count, one u32 CLONE_NEW* label per fd (fds_out in the same order),
 * u32 id length, the id. */
static size_t
encode_fds (const struct nsfd_hs_msg *m, uint8_t *b, size_t nfds, size_t text_len, int *fds_out)
{
  size_t off = 0, k = 0;
  put_u32 (b, (uint32_t) nfds);
  off += 4;
  for (int i = 0; i < NSFD_NS_COUNT; i++)
    if (m->ns.fd[i] >= 0)
      {
        put_u32 (b + off, nsfd_ns_clone_flag (i));
        off += 4;
        fds_out[k++] = m->ns.fd[i];
      }
  put_u32 (b + off, (uint32_t) text_len);
  off += 4;
  if (text_len)
    memcpy (b + off, m->id, text_len);
  return off + text_len;
}

int
nsfd_hs_encode (const struct nsfd_hs_msg *m, void *buf, size_t cap, size_t *len,
                int *fds_out, size_t *n_fds_out, nsfd_error_t *err)
{
  uint8_t *b = buf, *p = b + NSFD_HS_HEADER_SIZE;
  size_t payload = 0, nfds, text_len;

  if (n_fds_out)
    *n_fds_out = 0;
  if (payload_size (m, fds_out, &payload, &nfds, &text_len, err) < 0)
    return -1;
  if (NSFD_HS_HEADER_SIZE + payload > NSFD_HS_MAX_MSG)
    return nsfd_make_error (err, EMSGSIZE, "encoding: message of %zu bytes exceeds %d",
                            NSFD_HS_HEADER_SIZE + payload, NSFD_HS_MAX_MSG);
  if (NSFD_HS_HEADER_SIZE + payload > cap)
    return nsfd_make_error (err, ENOBUFS, "encoding: buffer of %zu bytes too small", cap);

  put_u32 (b, NSFD_HS_MAGIC);
  put_u16 (b + 4, NSFD_HS_VERSION);
  put_u16 (b + 6, (uint16_t) m->type);
  put_u32 (b + 8, (uint32_t) payload);
  if (m->type == NSFD_HS_FDS)
    {
      encode_fds (m, p, nfds, text_len, fds_out);
      if (n_fds_out)
        *n_fds_out = nfds;
    }
  else if (m->type == NSFD_HS_RESULT)
    {
      put_u32 (p, (uint32_t) m->status);
      put_u32 (p + 4, (uint32_t) text_len);
      if (text_len)
        memcpy (p + 8, m->text, text_len);
    }
  else
    put_u32 (p, m->mask);
  *len = NSFD_HS_HEADER_SIZE + payload;
  return 0;
}

/* A length-prefixed string: bounded by the payload, no NUL inside. */
static int
take_string (const uint8_t *p, size_t avail, size_t max, const char *what, char **out,
             size_t *used, nsfd_error_t *err)
{
  uint32_t n;

  if (avail < 4)
    return nsfd_make_error (err, EBADMSG, "%s length missing", what);
  n = get_u32 (p);
  if (n > max)
    return nsfd_make_error (err, EBADMSG, "%s of %u bytes exceeds %zu", what, n, max);
  if (n > avail - 4)
    return nsfd_make_error (err, EBADMSG, "%s of %u bytes runs past the message", what, n);
  if (memchr (p + 4, '\0', n) != NULL)
    return nsfd_make_error (err, EBADMSG, "%s contains a NUL byte", what);
  *out = NULL;
  if (n > 0)
    {
      *out = strndup ((const char *) p + 4, n);
      if (*out == NULL)
        return nsfd_make_error (err, ENOMEM, "copying %s", what);
    }
  *used = 4 + n;
  return 0;
}

static int
decode_fds (const uint8_t *p, size_t plen, int *fds, size_t n_fds, struct nsfd_hs_msg *out,
            nsfd_error_t *err)
{
  int idx[NSFD_HS_MAX_FDS];
  uint32_t count, seen = 0;
  size_t off, used;
  int r;

  if (plen < 4)
    return nsfd_make_error (err, EBADMSG, "FDS: count missing");
  count = get_u32 (p);
  if (count == 0 || count > NSFD_HS_MAX_FDS)
    return nsfd_make_error (err, EBADMSG, "FDS: invalid fd count %u (1..%d)", count, NSFD_HS_MAX_FDS);
  if (count != n_fds)
    return nsfd_make_error (err, EBADMSG, "FDS: %u labels but %zu fds received", count, n_fds);
  if (plen < 4 + 4 * (size_t) count)
    return nsfd_make_error (err, EBADMSG, "FDS: labels run past the message");
  for (uint32_t k = 0; k < count; k++)
    {
      uint32_t label = get_u32 (p + 4 + 4 * k);
      int i = nsfd_ns_from_clone_flag (label);
      if (i < 0)
        return nsfd_make_error (err, EBADMSG, "FDS: unknown namespace label 0x%x", label);
      if (seen & (1u << i))
        return nsfd_make_error (err, EBADMSG, "FDS: duplicate %s namespace", nsfd_ns_name (i));
      seen |= 1u << i;
      idx[k] = i;
    }
  off = 4 + 4 * (size_t) count;
  r = take_string (p + off, plen - off, NSFD_HS_MAX_MSG, "FDS id", &out->id, &used, err);
  if (r < 0)
    return r;
  if (off + used != plen)
    return nsfd_make_error (err, EBADMSG, "FDS: %zu trailing bytes", plen - off - used);
  for (uint32_t k = 0; k < count; k++)
    {
      r = nsfd_ns_check_type (fds[k], idx[k], err);
      if (r < 0)
        return nsfd_error_wrap (err, "FDS: fd #%u", k);
    }
  /* Everything checked: hand the fds over. */
  for (uint32_t k = 0; k < count; k++)
    {
      out->ns.fd[idx[k]] = fds[k];
      fds[k] = -1;
    }
  return 0;
}

static int
decode_body (const uint8_t *b, size_t len, int *fds, size_t n_fds, struct nsfd_hs_msg *out,
             nsfd_error_t *err)
{
  uint32_t magic, plen;
  uint16_t version, type;
  const uint8_t *p = b + NSFD_HS_HEADER_SIZE;
  size_t used;
  int r;

  if (len > NSFD_HS_MAX_MSG)
    return nsfd_make_error (err, EMSGSIZE, "message of %zu bytes exceeds %d", len, NSFD_HS_MAX_MSG);
  if (len < NSFD_HS_HEADER_SIZE)
    return nsfd_make_error (err, EBADMSG, "truncated message (%zu bytes, header needs %d)", len,
                            NSFD_HS_HEADER_SIZE);
  magic = get_u32 (b);
  version = get_u16 (b + 4);
  type = get_u16 (b + 6);
  plen = get_u32 (b + 8);
  if (magic != NSFD_HS_MAGIC)
    return nsfd_make_error (err, EBADMSG, "bad magic 0x%08x", magic);
  if (version != NSFD_HS_VERSION)
    return nsfd_make_error (err, EPROTONOSUPPORT, "unsupported protocol version %u", version);
  if ((size_t) plen != len - NSFD_HS_HEADER_SIZE)
    return nsfd_make_error (err, EBADMSG, "payload length %u does not match the %zu bytes received",
                            plen, len - NSFD_HS_HEADER_SIZE);
  if (type != NSFD_HS_FDS && n_fds != 0)
    return nsfd_make_error (err, EBADMSG, "message type %u carries %zu unexpected fds", type, n_fds);

  out->type = type;
  switch (type)
    {
    case NSFD_HS_FDS:
      return decode_fds (p, plen, fds, n_fds, out, err);
    case NSFD_HS_RESULT:
      if (plen < 4)
        return nsfd_make_error (err, EBADMSG, "RESULT: status missing");
      out->status = (int32_t) get_u32 (p);
      r = take_string (p + 4, plen - 4, NSFD_HS_MAX_TEXT, "RESULT text", &out->text, &used, err);
      if (r < 0)
        return r;
      if (4 + used != plen)
        return nsfd_make_error (err, EBADMSG, "RESULT: %zu trailing bytes", plen - 4 - used);
      return 0;
    case NSFD_HS_REQUEST:
      if (plen != 4)
        return nsfd_make_error (err, EBADMSG, "REQUEST: payload of %u bytes, expected 4", plen);
      out->mask = get_u32 (p);
      if (out->mask == 0 || (out->mask & ~VALID_MASK))
        return nsfd_make_error (err, EBADMSG, "REQUEST: invalid mask 0x%x", out->mask);
      return 0;
    default:
      return nsfd_make_error (err, EBADMSG, "unknown message type %u", type);
    }
}

int
nsfd_hs_decode (const void *buf, size_t len, int *fds, size_t n_fds, struct nsfd_hs_msg *out,
                nsfd_error_t *err)
{
  int r;

  nsfd_hs_msg_init (out);
  if (buf == NULL && len > 0)
    r = nsfd_make_error (err, EINVAL, "decode: no buffer");
  else
    r = decode_body (buf, len, fds, n_fds, out, err);
  /* Ownership of every received fd was ours: whatever was not handed over
   * is closed, on success (none left) and on every error. */
  for (size_t k = 0; k < n_fds; k++)
    nsfd_closep (&fds[k]);
  if (r < 0)
    nsfd_hs_msg_free (out);
  return r;
}
