#!/usr/bin/env python3
"""Hostile peers of the hook's namespace-fd handshake (docs/protocol.md, modern v1).

Written from docs/protocol.md, independently of lib/handshake-*.c, for
tests/bats/security-handshake.bats. Every action prints what happened, one
"key: value" line each, and exits 0 when it could play its part (a refusal is
the expected outcome, not an error); exit 2 on bad usage.

  hostile_peer.py SOCKET probe
        connect only; "connect: ok" or "connect: <errno name>"
  hostile_peer.py SOCKET own-ns [--id ID] [--types mnt,user,...]
        send FDS with this process's own namespaces (default: every type)
  hostile_peer.py SOCKET pipe
        send FDS labelled "mnt" that carries a pipe
  hostile_peer.py SOCKET mislabel
        send this process's net namespace labelled "mnt"
  hostile_peer.py SOCKET many N
        send N fds (copies of /proc/self/ns/mnt) with N "mnt" labels
  hostile_peer.py SOCKET garbage
        send 64 bytes that are not a message
  hostile_peer.py SOCKET oversize
        send one 8192-byte packet with a valid header
  hostile_peer.py SOCKET stall SECONDS
        connect, send nothing for SECONDS, then read what the server says
  hostile_peer.py SOCKET fake-mounter MODE [SECONDS]
        bind SOCKET and play a mounter that never answers: MODE silent (accept,
        read the agent's message, say nothing), close (accept, close at once),
        garbage (answer with bytes that are not a message); exits after SECONDS
        (default 30) or after one client in modes close and garbage

After sending, the client waits at most 15 s for the server's answer and prints
"reply: status=<errno> text=<text>", "reply: closed" or "reply: timeout"; after
an answer, "server closed: yes" once the server has closed the connection
(waits at most 5 s).
"""
import errno
import os
import socket
import struct
import sys
import time

MAGIC, VERSION = 0x4E534644, 1
T_FDS, T_RESULT = 1, 2
CLONE = {"cgroup": 0x02000000, "ipc": 0x08000000, "mnt": 0x00020000, "net": 0x40000000,
         "pid": 0x20000000, "time": 0x00000080, "user": 0x10000000, "uts": 0x04000000}
ORDER = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]
REPLY_WAIT = 15.0


def pack(mtype, payload):
    return struct.pack("<IHHI", MAGIC, VERSION, mtype, len(payload)) + payload


def fds_payload(labels, ident=b""):
    return (struct.pack("<I", len(labels)) + b"".join(struct.pack("<I", l) for l in labels)
            + struct.pack("<I", len(ident)) + ident)


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(path)
    except OSError as e:
        print("connect: %s" % errno.errorcode.get(e.errno, str(e.errno)))
        sys.stdout.flush()
        sys.exit(0)
    print("connect: ok")
    sys.stdout.flush()
    return s


def send(s, data, fds=()):
    try:
        if fds:
            socket.send_fds(s, [data], list(fds))
        else:
            s.send(data)
        print("sent: %d bytes, %d fds" % (len(data), len(fds)))
    except OSError as e:
        print("sent: failed (%s)" % errno.errorcode.get(e.errno, str(e.errno)))
    sys.stdout.flush()


def read_reply(s, wait=REPLY_WAIT):
    s.settimeout(wait)
    try:
        data, fds, _flags, _ = socket.recv_fds(s, 4096, 8)
    except socket.timeout:
        print("reply: timeout")
        return
    except OSError as e:
        print("reply: error %s" % errno.errorcode.get(e.errno, str(e.errno)))
        return
    for fd in fds:
        os.close(fd)
    if not data:
        print("reply: closed")
        return
    if len(data) < 20:
        print("reply: short %r" % data)
        return
    magic, version, mtype, plen = struct.unpack_from("<IHHI", data)
    if magic != MAGIC or mtype != T_RESULT:
        print("reply: unexpected %r" % data[:32])
        return
    status, tlen = struct.unpack_from("<iI", data, 12)
    text = data[20:20 + tlen].decode("utf-8", "replace")
    print("reply: status=%d text=%s" % (status, text))
    sys.stdout.flush()
    # The server must let go of the connection after its answer.
    s.settimeout(5)
    try:
        more = s.recv(4096)
        print("server closed: %s" % ("yes" if not more else "no, sent %r" % more[:32]))
    except socket.timeout:
        print("server closed: no (still open after 5 s)")
    except OSError as e:
        print("server closed: yes (%s)" % errno.errorcode.get(e.errno, str(e.errno)))


def own_ns(path, args):
    ident, types = b"", list(ORDER)
    while args:
        if args[0] == "--id":
            ident = args[1].encode()
        elif args[0] == "--types":
            types = args[1].split(",")
        else:
            usage()
        args = args[2:]
    fds, labels = [], []
    for t in types:
        try:
            fds.append(os.open("/proc/self/ns/" + t, os.O_RDONLY))
        except FileNotFoundError:
            continue  # e.g. no time namespace on this kernel
        labels.append(CLONE[t])
    s = connect(path)
    send(s, pack(T_FDS, fds_payload(labels, ident)), fds)
    read_reply(s)


def fake_mounter(path, mode, seconds):
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ls.bind(path)
    ls.listen(8)
    print("listening: %s" % path)
    sys.stdout.flush()
    deadline = time.monotonic() + seconds
    held = []
    while time.monotonic() < deadline:
        ls.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            c, _ = ls.accept()
        except socket.timeout:
            break
        print("accepted")
        sys.stdout.flush()
        if mode == "close":
            c.close()
            return
        if mode == "garbage":
            c.send(b"\xff" * 32)
            time.sleep(1)
            c.close()
            return
        held.append(c)  # silent: keep it open, say nothing
    for c in held:
        c.close()


def usage():
    sys.stderr.write(__doc__)
    sys.exit(2)


def main(argv):
    if len(argv) < 3:
        usage()
    path, action, args = argv[1], argv[2], argv[3:]
    if action == "probe":
        connect(path).close()
    elif action == "own-ns":
        own_ns(path, args)
    elif action == "pipe":
        r, w = os.pipe()
        s = connect(path)
        send(s, pack(T_FDS, fds_payload([CLONE["mnt"]])), [r])
        read_reply(s)
    elif action == "mislabel":
        fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        s = connect(path)
        send(s, pack(T_FDS, fds_payload([CLONE["mnt"]])), [fd])
        read_reply(s)
    elif action == "many":
        n = int(args[0])
        fd = os.open("/proc/self/ns/mnt", os.O_RDONLY)
        s = connect(path)
        send(s, pack(T_FDS, fds_payload([CLONE["mnt"]] * n)), [fd] * n)
        read_reply(s)
    elif action == "garbage":
        s = connect(path)
        send(s, bytes(range(7, 71)))
        read_reply(s)
    elif action == "oversize":
        s = connect(path)
        send(s, pack(T_FDS, b"\0" * (8192 - 12)))
        read_reply(s)
    elif action == "stall":
        s = connect(path)
        time.sleep(float(args[0]))
        read_reply(s)
    elif action == "fake-mounter":
        fake_mounter(path, args[0], float(args[1]) if len(args) > 1 else 30.0)
    else:
        usage()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
