/* lib/handshake-*.c and lib/legacy.c: codec round trips and every kind of
 * bad message, fd ownership on error paths, real fds over socketpairs, the
 * legacy protocol, bounded waits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "handshake.h"
#include "tap.h"
#include "testutil.h"

static int
count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  while ((e = readdir (d)) != NULL)
    n += e->d_name[0] != '.';
  closedir (d);
  return n - 1; /* the DIR's own fd */
}

static int
is_open (int fd)
{
  return fcntl (fd, F_GETFD) >= 0;
}

static int
open_ns (const char *name)
{
  char p[64];
  snprintf (p, sizeof (p), "/proc/self/ns/%s", name);
  return open (p, O_RDONLY | O_CLOEXEC);
}

static void
put32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

/* Builds a raw message: header + payload. */
static size_t
raw (uint8_t *b, uint32_t magic, uint16_t version, uint16_t type, const uint8_t *payload, uint32_t plen)
{
  put32 (b, magic);
  b[4] = version & 0xff;
  b[5] = version >> 8;
  b[6] = type & 0xff;
  b[7] = type >> 8;
  put32 (b + 8, plen);
  memcpy (b + 12, payload, plen);
  return 12 + plen;
}

/* An FDS payload with the given labels and id. */
static uint32_t
fds_payload (uint8_t *p, const uint32_t *labels, uint32_t n, const char *id)
{
  uint32_t off = 0, idl = id ? (uint32_t) strlen (id) : 0;
  put32 (p, n);
  off += 4;
  for (uint32_t k = 0; k < n; k++, off += 4)
    put32 (p + off, labels[k]);
  put32 (p + off, idl);
  off += 4;
  if (idl)
    memcpy (p + off, id, idl);
  return off + idl;
}

/* Decodes an FDS message with the given fds; returns decode's result and
 * whether every passed fd was closed afterwards (on error). */
static int
decode_fds (const uint8_t *b, size_t len, int *fds, size_t n, int *all_closed, char **msg)
{
  int copy[16];
  struct nsfd_hs_msg m;
  nsfd_error_t err = NULL;
  int r;

  memcpy (copy, fds, n * sizeof (int));
  r = nsfd_hs_decode (b, len, fds, n, &m, &err);
  *all_closed = 1;
  for (size_t k = 0; k < n; k++)
    if (is_open (copy[k]) && r < 0)
      *all_closed = 0;
  *msg = err ? strdup (nsfd_error_text (err)) : NULL;
  nsfd_error_free (&err);
  nsfd_hs_msg_free (&m);
  return r;
}

static void
test_codec (void)
{
  uint8_t buf[NSFD_HS_MAX_MSG + 64];
  int fds[NSFD_HS_MAX_FDS];
  size_t len, nfds;
  struct nsfd_hs_msg m, d;
  nsfd_error_t err = NULL;

  /* REQUEST */
  nsfd_hs_msg_init (&m);
  m.type = NSFD_HS_REQUEST;
  m.mask = (1u << NSFD_NS_MNT) | (1u << NSFD_NS_USER);
  CHECK (nsfd_hs_encode (&m, buf, sizeof (buf), &len, NULL, NULL, &err) == 0 && len == 16, "encode REQUEST");
  CHECK (buf[0] == 0x44 && buf[1] == 0x46 && buf[2] == 0x53 && buf[3] == 0x4e, "magic is little-endian NSFD");
  CHECK (nsfd_hs_decode (buf, len, NULL, 0, &d, &err) == 0 && d.type == NSFD_HS_REQUEST && d.mask == m.mask,
         "REQUEST round trip");
  nsfd_hs_msg_free (&d);
  m.mask = 1u << 20;
  CHECK (nsfd_hs_encode (&m, buf, sizeof (buf), &len, NULL, NULL, &err) < 0, "encode refuses a bad mask");
  nsfd_error_free (&err);

  /* RESULT, with an over-long text cut to the limit */
  nsfd_hs_msg_init (&m);
  m.type = NSFD_HS_RESULT;
  m.status = -5;
  m.text = (char *) "mount failed: `/x`";
  CHECK (nsfd_hs_encode (&m, buf, sizeof (buf), &len, NULL, NULL, &err) == 0, "encode RESULT");
  CHECK (nsfd_hs_decode (buf, len, NULL, 0, &d, &err) == 0 && d.status == -5 && d.text
             && strcmp (d.text, m.text) == 0,
         "RESULT round trip");
  nsfd_hs_msg_free (&d);
  m.status = 0;
  m.text = NULL;
  CHECK (nsfd_hs_encode (&m, buf, sizeof (buf), &len, NULL, NULL, &err) == 0
             && nsfd_hs_decode (buf, len, NULL, 0, &d, &err) == 0 && d.text == NULL && d.status == 0,
         "RESULT without text");
  nsfd_hs_msg_free (&d);
  {
    char *big = malloc (3000);
    memset (big, 'x', 2999);
    big[2999] = 0;
    m.text = big;
    CHECK (nsfd_hs_encode (&m, buf, sizeof (buf), &len, NULL, NULL, &err) == 0
               && nsfd_hs_decode (buf, len, NULL, 0, &d, &err) == 0 && strlen (d.text) == NSFD_HS_MAX_TEXT,
           "RESULT text cut to %d", NSFD_HS_MAX_TEXT);
    nsfd_hs_msg_free (&d);
    free (big);
  }
  m.text = (char *) "short";
  CHECK (nsfd_hs_encode (&m, buf, 10, &len, NULL, NULL, &err) < 0, "encode into a small buffer fails");
  nsfd_error_free (&err);

  /* FDS with real namespace fds */
  nsfd_hs_msg_init (&m);
  m.type = NSFD_HS_FDS;
  m.ns.fd[NSFD_NS_MNT] = open_ns ("mnt");
  m.ns.fd[NSFD_NS_UTS] = open_ns ("uts");
  m.id = (char *) "container-1";
  CHECK (nsfd_hs_encode (&m, buf, sizeof (buf), &len, fds, &nfds, &err) == 0 && nfds == 2
             && fds[0] == m.ns.fd[NSFD_NS_MNT] && fds[1] == m.ns.fd[NSFD_NS_UTS],
         "encode FDS lists fds in label order");
  {
    int dups[2] = { dup (fds[0]), dup (fds[1]) };
    CHECK (nsfd_hs_decode (buf, len, dups, 2, &d, &err) == 0 && d.type == NSFD_HS_FDS
               && d.id && strcmp (d.id, "container-1") == 0 && dups[0] == -1 && dups[1] == -1,
           "FDS round trip takes the fds");
    CHECK (d.ns.fd[NSFD_NS_MNT] >= 0 && d.ns.fd[NSFD_NS_UTS] >= 0 && d.ns.fd[NSFD_NS_NET] == -1,
           "decoded fds sit at their types");
    CHECK (nsfd_ns_same (d.ns.fd[NSFD_NS_MNT], m.ns.fd[NSFD_NS_MNT], &err) == 1, "same mnt namespace");
    nsfd_hs_msg_free (&d);
  }

  /* Truncated at every length, and one byte too many. */
  {
    int bad = 0, leaked = 0;
    for (size_t cut = 0; cut < len; cut++)
      {
        int dups[2] = { dup (fds[0]), dup (fds[1]) };
        int keep[2] = { dups[0], dups[1] };
        if (nsfd_hs_decode (buf, cut, dups, 2, &d, &err) == 0)
          bad++;
        nsfd_error_free (&err);
        nsfd_hs_msg_free (&d);
        leaked += is_open (keep[0]) + is_open (keep[1]);
      }
    CHECK (bad == 0, "every truncation of an FDS message is refused");
    CHECK (leaked == 0, "and every fd closed");
  }
  {
    uint8_t longer[NSFD_HS_MAX_MSG + 64];
    memcpy (longer, buf, len);
    longer[len] = 0;
    CHECK (nsfd_hs_decode (longer, len + 1, NULL, 0, &d, &err) < 0, "extra byte refused");
    nsfd_error_free (&err);
  }
  close (m.ns.fd[NSFD_NS_MNT]);
  close (m.ns.fd[NSFD_NS_UTS]);
  m.ns.fd[NSFD_NS_MNT] = m.ns.fd[NSFD_NS_UTS] = -1;
  m.id = NULL;
  CHECK (nsfd_hs_encode (&m, buf, sizeof (buf), &len, fds, &nfds, &err) < 0, "encode FDS without fds fails");
  nsfd_error_free (&err);
}

static void
test_bad_messages (void)
{
  uint8_t b[NSFD_HS_MAX_MSG * 2], p[NSFD_HS_MAX_MSG * 2];
  uint32_t labels[16];
  struct nsfd_hs_msg d;
  nsfd_error_t err = NULL;
  int fds[16], closed;
  char *msg = NULL;
  size_t len;
  uint32_t pl;

  put32 (p, 1u << NSFD_NS_MNT);
  len = raw (b, 0x12345678, 1, NSFD_HS_REQUEST, p, 4);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "wrong magic refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "magic", "message says magic");
  nsfd_error_free (&err);
  len = raw (b, NSFD_HS_MAGIC, 2, NSFD_HS_REQUEST, p, 4);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "wrong version refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "version 2", "message says version");
  nsfd_error_free (&err);
  len = raw (b, NSFD_HS_MAGIC, 1, 99, p, 4);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "unknown type refused");
  nsfd_error_free (&err);
  len = raw (b, NSFD_HS_MAGIC, 1, 0, p, 4);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "type 0 refused");
  nsfd_error_free (&err);
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_REQUEST, p, 4);
  put32 (b + 8, 8);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "payload length larger than received refused");
  nsfd_error_free (&err);
  put32 (b + 8, 2);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "payload length smaller than received refused");
  nsfd_error_free (&err);
  put32 (p, 0);
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_REQUEST, p, 4);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "empty REQUEST mask refused");
  nsfd_error_free (&err);
  memset (p, 0, sizeof (p));
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_RESULT, p, NSFD_HS_MAX_MSG);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "oversized message refused");
  CHECK (err && err->status == EMSGSIZE, "as EMSGSIZE");
  nsfd_error_free (&err);
  /* RESULT text longer than allowed, and text with a NUL */
  put32 (p, 0);
  put32 (p + 4, NSFD_HS_MAX_TEXT + 1);
  memset (p + 8, 'a', NSFD_HS_MAX_TEXT + 1);
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_RESULT, p, 8 + NSFD_HS_MAX_TEXT + 1);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "RESULT text over the limit refused");
  nsfd_error_free (&err);
  put32 (p + 4, 3);
  memcpy (p + 8, "a\0b", 3);
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_RESULT, p, 11);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "RESULT text with NUL refused");
  nsfd_error_free (&err);
  put32 (p + 4, 100);
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_RESULT, p, 11);
  CHECK (nsfd_hs_decode (b, len, NULL, 0, &d, &err) < 0, "RESULT text running past the end refused");
  nsfd_error_free (&err);

  /* Garbage: random bytes never decode, never crash. */
  {
    int accepted = 0;
    srand (42);
    for (int round = 0; round < 2000; round++)
      {
        size_t n = (size_t) (rand () % 64);
        for (size_t k = 0; k < n; k++)
          b[k] = (uint8_t) rand ();
        if (round % 2)
          put32 (b, NSFD_HS_MAGIC); /* get past the magic half the time */
        if (nsfd_hs_decode (b, n, NULL, 0, &d, &err) == 0 && d.type == NSFD_HS_FDS)
          accepted++;
        nsfd_error_free (&err);
        nsfd_hs_msg_free (&d);
      }
    CHECK (accepted == 0, "2000 garbage messages: no FDS accepted without fds");
  }

  /* fds on a message type that carries none */
  fds[0] = open_ns ("mnt");
  put32 (p, 1u << NSFD_NS_MNT);
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_REQUEST, p, 4);
  CHECK (decode_fds (b, len, fds, 1, &closed, &msg) < 0 && closed, "REQUEST with an fd refused, fd closed");
  free (msg);

  /* wrong fd counts */
  labels[0] = CLONE_NEWNS;
  labels[1] = CLONE_NEWNET;
  pl = fds_payload (p, labels, 2, "x");
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_FDS, p, pl);
  fds[0] = open_ns ("mnt");
  CHECK (decode_fds (b, len, fds, 1, &closed, &msg) < 0 && closed, "2 labels, 1 fd: refused, fd closed");
  CHECK_STR_CONTAINS (msg, "2 labels but 1 fds", "message gives both counts");
  free (msg);
  fds[0] = open_ns ("mnt");
  fds[1] = open_ns ("net");
  fds[2] = open_ns ("uts");
  CHECK (decode_fds (b, len, fds, 3, &closed, &msg) < 0 && closed, "2 labels, 3 fds: refused, fds closed");
  free (msg);
  CHECK (decode_fds (b, len, fds, 0, &closed, &msg) < 0, "2 labels, no fds: refused");
  free (msg);

  /* duplicate labels */
  labels[1] = CLONE_NEWNS;
  pl = fds_payload (p, labels, 2, NULL);
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_FDS, p, pl);
  fds[0] = open_ns ("mnt");
  fds[1] = open_ns ("mnt");
  CHECK (decode_fds (b, len, fds, 2, &closed, &msg) < 0 && closed, "duplicate labels refused, fds closed");
  CHECK_STR_CONTAINS (msg, "duplicate", "message says duplicate");
  free (msg);

  /* unknown label */
  labels[0] = 0x1000;
  pl = fds_payload (p, labels, 1, NULL);
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_FDS, p, pl);
  fds[0] = open_ns ("mnt");
  CHECK (decode_fds (b, len, fds, 1, &closed, &msg) < 0 && closed, "unknown label refused");
  free (msg);

  /* more than 8 fds */
  {
    const char *names[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts", "mnt" };
    for (int k = 0; k < 9; k++)
      {
        labels[k] = nsfd_ns_clone_flag (nsfd_ns_from_name (names[k]));
        fds[k] = open_ns (names[k]);
      }
    pl = fds_payload (p, labels, 9, NULL);
    len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_FDS, p, pl);
    CHECK (decode_fds (b, len, fds, 9, &closed, &msg) < 0 && closed, "9 fds refused, all closed");
    free (msg);
  }

  /* fds that are not namespaces, or not of their label's type */
  labels[0] = CLONE_NEWNS;
  labels[1] = CLONE_NEWUTS;
  pl = fds_payload (p, labels, 2, "id");
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_FDS, p, pl);
  {
    int pp[2];
    CHECK (pipe2 (pp, O_CLOEXEC) == 0, "pipe");
    fds[0] = pp[0];
    fds[1] = open_ns ("uts");
    CHECK (decode_fds (b, len, fds, 2, &closed, &msg) < 0 && closed, "pipe labelled mnt refused, fds closed");
    CHECK_STR_CONTAINS (msg, "not a namespace", "message says not a namespace");
    free (msg);
    close (pp[1]);
  }
  {
    char tmpl[] = "/tmp/A-test-hs-XXXXXX";
    fds[0] = open_ns ("mnt");
    fds[1] = mkstemp (tmpl);
    unlink (tmpl);
    CHECK (decode_fds (b, len, fds, 2, &closed, &msg) < 0 && closed, "regular file labelled uts refused");
    free (msg);
  }
  fds[0] = open_ns ("net");
  fds[1] = open_ns ("uts");
  CHECK (decode_fds (b, len, fds, 2, &closed, &msg) < 0 && closed, "net fd labelled mnt refused");
  CHECK_STR_CONTAINS (msg, "is a net namespace, expected mnt", "message names both types");
  free (msg);
  fds[0] = open_ns ("mnt");
  fds[1] = open_ns ("uts");
  CHECK (decode_fds (b, len, fds, 2, &closed, &msg) == 0, "the same message with the right fds is accepted");
  free (msg);
  /* trailing bytes after the id */
  p[pl] = 'z';
  len = raw (b, NSFD_HS_MAGIC, 1, NSFD_HS_FDS, p, pl + 1);
  fds[0] = open_ns ("mnt");
  fds[1] = open_ns ("uts");
  CHECK (decode_fds (b, len, fds, 2, &closed, &msg) < 0 && closed, "trailing bytes refused");
  free (msg);
}

static void
test_socketpair (void)
{
  int sv[2], before = count_fds ();
  struct nsfd_hs_msg m, d;
  nsfd_error_t err = NULL;

  CHECK (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "seqpacket socketpair");
  nsfd_hs_msg_init (&m);
  CHECK (nsfd_ns_open_self ((1u << NSFD_NS_COUNT) - 1, &m.ns, &err) == 0, "open own namespaces");
  m.type = NSFD_HS_FDS;
  m.id = (char *) "pair";
  CHECK (nsfd_hs_send (sv[0], &m, &err) == 0, "send FDS with real namespace fds");
  CHECK (nsfd_hs_recv (sv[1], 2000, &d, &err) == 0 && d.type == NSFD_HS_FDS, "receive FDS");
  {
    int all = 1, cloexec = 1;
    for (int i = 0; i < NSFD_NS_COUNT; i++)
      {
        if (m.ns.fd[i] < 0)
          continue;
        if (d.ns.fd[i] < 0 || nsfd_ns_same (d.ns.fd[i], m.ns.fd[i], &err) != 1)
          all = 0;
        else if (!(fcntl (d.ns.fd[i], F_GETFD) & FD_CLOEXEC))
          cloexec = 0;
      }
    CHECK (all, "every received fd is the same namespace as sent");
    CHECK (cloexec, "received fds are close-on-exec");
  }
  nsfd_hs_msg_free (&d);
  m.id = NULL;
  nsfd_hs_msg_free (&m);

  /* RESULT back */
  m.type = NSFD_HS_RESULT;
  m.status = 0;
  m.text = (char *) "ok";
  CHECK (nsfd_hs_send (sv[1], &m, &err) == 0 && nsfd_hs_recv (sv[0], 2000, &d, &err) == 0
             && d.type == NSFD_HS_RESULT && strcmp (d.text, "ok") == 0,
         "RESULT over the socket");
  nsfd_hs_msg_free (&d);

  /* Raw abuse: too many fds, an oversized packet. */
  {
    int nine[9];
    union
    {
      char buf[CMSG_SPACE (sizeof (nine))];
      struct cmsghdr a;
    } c;
    uint8_t byte[12] = { 0 };
    struct iovec iov = { byte, sizeof (byte) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof (c.buf) };
    struct cmsghdr *cm;
    memset (&c, 0, sizeof (c));
    cm = CMSG_FIRSTHDR (&mh);
    for (int k = 0; k < 9; k++)
      nine[k] = open_ns ("mnt");
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN (sizeof (nine));
    memcpy (CMSG_DATA (cm), nine, sizeof (nine));
    CHECK (sendmsg (sv[0], &mh, 0) == 12, "raw send with 9 fds");
    for (int k = 0; k < 9; k++)
      close (nine[k]);
    CHECK (nsfd_hs_recv (sv[1], 2000, &d, &err) < 0, "9 fds refused");
    nsfd_error_free (&err);
  }
  {
    static uint8_t big[NSFD_HS_MAX_MSG + 100];
    raw (big, NSFD_HS_MAGIC, 1, NSFD_HS_RESULT, big + 12, NSFD_HS_MAX_MSG + 88 - 12);
    CHECK (send (sv[0], big, sizeof (big), 0) == (ssize_t) sizeof (big), "raw oversized send");
    CHECK (nsfd_hs_recv (sv[1], 2000, &d, &err) < 0 && err->status == EMSGSIZE, "oversized packet refused (MSG_TRUNC)");
    nsfd_error_free (&err);
  }

  /* Bounded waits: nobody writes. */
  {
    struct timespec t0, t1;
    long ms;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    CHECK (nsfd_hs_recv (sv[1], 200, &d, &err) < 0 && err->status == ETIMEDOUT, "silent peer times out");
    clock_gettime (CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK (ms >= 150 && ms < 2000, "after about 200 ms (%ld)", ms);
    nsfd_error_free (&err);
  }
  close (sv[0]);
  CHECK (nsfd_hs_recv (sv[1], 2000, &d, &err) < 0 && err->status == EPIPE, "closed peer reported");
  nsfd_error_free (&err);
  close (sv[1]);
  CHECK (count_fds () == before, "no fd leaked (%d before, %d after)", before, count_fds ());
}

static void
test_listen_connect (void)
{
  char dir[] = "/tmp/A-test-hs-XXXXXX", path[128];
  nsfd_error_t err = NULL;
  struct ucred cred;
  struct stat st;
  int l, c, a;

  CHECK (mkdtemp (dir) != NULL, "temp dir");
  snprintf (path, sizeof (path), "%s/sock", dir);
  l = nsfd_hs_listen (path, 0640, (uid_t) -1, (gid_t) -1, &err);
  CHECK (l >= 0, "listen");
  CHECK (stat (path, &st) == 0 && (st.st_mode & 07777) == 0640, "socket mode 0640");
  CHECK (nsfd_hs_listen (path, 0600, (uid_t) -1, (gid_t) -1, &err) < 0, "second listen on an existing path fails");
  nsfd_error_free (&err);
  CHECK (nsfd_hs_accept (l, 100, &err) < 0 && err->status == ETIMEDOUT, "accept times out");
  nsfd_error_free (&err);
  c = nsfd_hs_connect (path, &err);
  CHECK (c >= 0, "connect");
  a = nsfd_hs_accept (l, 1000, &err);
  CHECK (a >= 0, "accept");
  CHECK (nsfd_hs_peer_cred (a, &cred, &err) == 0 && cred.pid == getpid (), "peer credentials");
  close (a);
  close (c);
  close (l);
  unlink (path);
  CHECK (nsfd_hs_connect (path, &err) < 0 && err->status == ENOENT, "connect to a missing socket");
  nsfd_error_free (&err);
  {
    char longp[200];
    memset (longp, 'a', sizeof (longp) - 1);
    longp[sizeof (longp) - 1] = 0;
    CHECK (nsfd_hs_connect (longp, &err) < 0 && err->status == ENAMETOOLONG, "too long a path");
    nsfd_error_free (&err);
  }
  rmdir (dir);
}

/* Runs nsfd_legacy_serve in a child on one end; returns the child's pid. */
static pid_t
legacy_server (int sock, int other)
{
  pid_t pid = fork ();
  if (pid == 0)
    {
      struct nsfd_ns_set ns;
      nsfd_error_t err = NULL;
      close (other);
      if (nsfd_ns_open_self ((1u << NSFD_NS_COUNT) - 1, &ns, &err) < 0)
        _exit (2);
      _exit (nsfd_legacy_serve (sock, &ns, 2000, &err) == 0 ? 0 : 1);
    }
  return pid;
}

static int
child_status (pid_t pid)
{
  int st = tu_wait (pid);
  return WIFEXITED (st) ? WEXITSTATUS (st) : 100;
}

/* Feeds bytes to a legacy server and returns its verdict. */
static int
legacy_script (const unsigned char *bytes, size_t n, int close_after)
{
  int sv[2];
  pid_t pid;
  CHECK (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "stream socketpair");
  pid = legacy_server (sv[1], sv[0]);
  close (sv[1]);
  if (write (sv[0], bytes, n) != (ssize_t) n)
    return -1;
  if (close_after)
    shutdown (sv[0], SHUT_WR);
  {
    int r = child_status (pid);
    close (sv[0]);
    return r;
  }
}

static void
test_legacy (void)
{
  int sv[2], before = count_fds ();
  struct nsfd_ns_set got;
  nsfd_error_t err = NULL;
  pid_t pid;

  CHECK (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "stream socketpair");
  pid = legacy_server (sv[1], sv[0]);
  close (sv[1]);
  CHECK (nsfd_legacy_request (sv[0], 2000, &got, &err) == 0, "legacy request over a socketpair");
  {
    int ok = 1;
    for (int k = 0; k < NSFD_LEGACY_NFDS; k++)
      {
        enum nsfd_ns_index i = nsfd_legacy_order[k];
        int mine = open_ns (nsfd_ns_name (i));
        if (got.fd[i] < 0 || nsfd_ns_same (got.fd[i], mine, &err) != 1)
          ok = 0;
        close (mine);
      }
    CHECK (ok, "six fds, each the right namespace");
    CHECK (got.fd[NSFD_NS_CGROUP] == -1 && got.fd[NSFD_NS_TIME] == -1, "no cgroup or time fd in legacy");
  }
  CHECK (child_status (pid) == 0, "legacy server finished with success");
  nsfd_ns_set_close (&got);
  close (sv[0]);

  {
    const unsigned char fds_first[] = { 44, 42, 43 }, dup_start[] = { 42, 42 }, end_first[] = { 43 },
                        bad[] = { 42, 7 }, client_err[] = { 42, 45 }, start_only[] = { 42 },
                        twice[] = { 42, 44, 44, 43 };
    CHECK (legacy_script (fds_first, 3, 0) == 1, "fds before start refused");
    CHECK (legacy_script (dup_start, 2, 0) == 1, "duplicate start refused");
    CHECK (legacy_script (end_first, 1, 0) == 1, "end before start refused");
    CHECK (legacy_script (bad, 2, 0) == 1, "invalid command refused");
    CHECK (legacy_script (client_err, 2, 0) == 1, "client error reported as failure");
    CHECK (legacy_script (start_only, 1, 1) == 1, "end of stream before end refused");
    CHECK (legacy_script (twice, 4, 0) == 0, "two fds commands are served twice");
  }

  /* A server that never answers: bounded wait. */
  CHECK (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "stream socketpair");
  CHECK (nsfd_legacy_request (sv[0], 200, &got, &err) < 0 && err->status == ETIMEDOUT, "silent server times out");
  nsfd_error_free (&err);
  /* A server that sends five fds. */
  {
    int five[5];
    union
    {
      char buf[CMSG_SPACE (sizeof (five))];
      struct cmsghdr a;
    } c;
    unsigned char cmd = 44, in[3];
    struct iovec iov = { &cmd, 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof (c.buf) };
    struct cmsghdr *cm;
    memset (&c, 0, sizeof (c));
    cm = CMSG_FIRSTHDR (&mh);
    const char *names[] = { "ipc", "mnt", "net", "pid", "user" };
    for (int k = 0; k < 5; k++)
      five[k] = open_ns (names[k]);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN (sizeof (five));
    memcpy (CMSG_DATA (cm), five, sizeof (five));
    CHECK (read (sv[1], in, 3) == 3 && in[0] == 42 && in[1] == 44 && in[2] == 43,
           "client wrote 42 44 43 (leftover from the timed-out request)");
    CHECK (sendmsg (sv[1], &mh, 0) == 1, "raw send of five fds");
    for (int k = 0; k < 5; k++)
      close (five[k]);
    CHECK (nsfd_legacy_request (sv[0], 2000, &got, &err) < 0, "five fds refused");
    CHECK_STR_CONTAINS (nsfd_error_text (err), "ancillary", "message says ancillary data");
    nsfd_error_free (&err);
  }
  /* A server that sends six fds in the wrong order. */
  {
    int six[6];
    union
    {
      char buf[CMSG_SPACE (sizeof (six))];
      struct cmsghdr a;
    } c;
    unsigned char cmd = 44;
    struct iovec iov = { &cmd, 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof (c.buf) };
    struct cmsghdr *cm;
    memset (&c, 0, sizeof (c));
    cm = CMSG_FIRSTHDR (&mh);
    const char *names[] = { "mnt", "ipc", "net", "pid", "user", "uts" };
    for (int k = 0; k < 6; k++)
      six[k] = open_ns (names[k]);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN (sizeof (six));
    memcpy (CMSG_DATA (cm), six, sizeof (six));
    CHECK (sendmsg (sv[1], &mh, 0) == 1, "raw send of six fds, mnt first");
    for (int k = 0; k < 6; k++)
      close (six[k]);
    CHECK (nsfd_legacy_request (sv[0], 2000, &got, &err) < 0, "wrong order refused");
    nsfd_error_free (&err);
  }
  close (sv[0]);
  close (sv[1]);
  CHECK (count_fds () == before, "no fd leaked (%d before, %d after)", before, count_fds ());
}

int
main (void)
{
  signal (SIGPIPE, SIG_IGN);
  test_codec ();
  test_bad_messages ();
  test_socketpair ();
  test_listen_connect ();
  test_legacy ();
  TAP_DONE ();
}
