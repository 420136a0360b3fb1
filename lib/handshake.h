/* The namespace-fd handshake over a Unix socket.
 *
 * Version 1 ("modern") runs on SOCK_SEQPACKET: one message per packet, each
 * starting with a fixed header (magic, version, type, payload length), every
 * field length-checked, fds carried as SCM_RIGHTS and each labelled with its
 * namespace type.  See docs/protocol.md for the byte layout.
 *
 * The origin's protocol ("legacy") runs on SOCK_STREAM: the client writes the
 * bytes 42 (start), 44 (fds), 43 (end); the server answers the 44 with one byte
 * 44 carrying six fds in the order ipc, mnt, net, pid, user, uts. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "error.h"
#include "namespaces.h"

#define NSFD_HS_MAGIC 0x4e534644u   /* "NSFD" */
#define NSFD_HS_VERSION 1
#define NSFD_HS_MAX_MSG 4096
#define NSFD_HS_MAX_TEXT 2048       /* result message text */

enum nsfd_hs_type
{
  NSFD_HS_FDS = 1,      /* namespace fds, labelled, plus an optional id */
  NSFD_HS_RESULT = 2,   /* status (0 or errno) and a message */
  NSFD_HS_REQUEST = 3,  /* ask the peer for its namespace fds (mask) */
};

/* A decoded message; fds live in ns (for NSFD_HS_FDS) and are owned by it. */
struct nsfd_hs_msg
{
  enum nsfd_hs_type type;
  struct nsfd_ns_set ns;      /* NSFD_HS_FDS */
  char *id;                   /* NSFD_HS_FDS: optional sender id, or NULL */
  int32_t status;             /* NSFD_HS_RESULT */
  char *text;                 /* NSFD_HS_RESULT */
  uint32_t mask;              /* NSFD_HS_REQUEST */
};
void nsfd_hs_msg_free (struct nsfd_hs_msg *m);

/* Pure codec, no I/O (unit tests and fuzzers use these).  encode writes at
 * most cap bytes; fds are not part of the bytes: for NSFD_HS_FDS the caller
 * passes the same fds in the same order as the labels.
 * decode takes ownership of the n_fds received fds in every case (closing them
 * on error) and checks each one with NS_GET_NSTYPE against its label. */
int nsfd_hs_encode (const struct nsfd_hs_msg *m, void *buf, size_t cap, size_t *len,
                    int *fds_out, size_t *n_fds_out, nsfd_error_t *err);
int nsfd_hs_decode (const void *buf, size_t len, int *fds, size_t n_fds,
                    struct nsfd_hs_msg *out, nsfd_error_t *err);

/* Socket helpers.  listen: creates a SOCK_SEQPACKET socket at path (which must
 * not exist), chmod mode, chown uid/gid (-1 to leave). */
int nsfd_hs_listen (const char *path, mode_t mode, uid_t uid, gid_t gid, nsfd_error_t *err);
/* Waits at most timeout_ms for a connection; returns the connected fd. */
int nsfd_hs_accept (int listen_fd, unsigned timeout_ms, nsfd_error_t *err);
int nsfd_hs_connect (const char *path, nsfd_error_t *err);
int nsfd_hs_peer_cred (int sock, struct ucred *out, nsfd_error_t *err);

/* One message each way with a bounded wait. */
int nsfd_hs_send (int sock, const struct nsfd_hs_msg *m, nsfd_error_t *err);
int nsfd_hs_recv (int sock, unsigned timeout_ms, struct nsfd_hs_msg *out, nsfd_error_t *err);

/* Legacy protocol. */
enum { NSFD_LEGACY_START = 42, NSFD_LEGACY_END = 43, NSFD_LEGACY_FDS = 44, NSFD_LEGACY_ERROR = 45 };
#define NSFD_LEGACY_NFDS 6
/* The legacy fd order: ipc, mnt, net, pid, user, uts. */
extern const enum nsfd_ns_index nsfd_legacy_order[NSFD_LEGACY_NFDS];
/* Serves one connected client: reads commands until END, answering FDS with
 * the six fds of ns (which must all be present). */
int nsfd_legacy_serve (int client, const struct nsfd_ns_set *ns, unsigned timeout_ms, nsfd_error_t *err);
/* Client side: writes 42,44,43 and receives the six fds into out. */
int nsfd_legacy_request (int sock, unsigned timeout_ms, struct nsfd_ns_set *out, nsfd_error_t *err);

/* Added with the implementation (handshake-*.c, legacy.c). */
#define NSFD_HS_HEADER_SIZE 12      /* u32 magic, u16 version, u16 type, u32 length */
#define NSFD_HS_MAX_FDS 8           /* at most one fd per namespace type */
/* Every timeout_ms argument: 0 means "no limit"; callers that face an
 * untrusted peer pass a real bound. */
#define NSFD_HS_NO_TIMEOUT 0u
/* Zeroes m and marks every fd slot empty (call before filling or decoding). */
void nsfd_hs_msg_init (struct nsfd_hs_msg *m);
/* poll() for events on fd, retrying EINTR against one deadline; ETIMEDOUT
 * when timeout_ms passes, EPIPE on hang-up without data. */
int nsfd_hs_wait (int fd, short events, unsigned timeout_ms, nsfd_error_t *err);
