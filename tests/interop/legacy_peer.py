#!/usr/bin/env python3
"""Independent peers for nsfdsuds, written from docs/protocol.md only.

  legacy_peer.py client SOCKET         origin client: send 42 44 43, receive six
                                       fds, print "<index> <readlink of fd>"
  legacy_peer.py server SOCKET         origin server: serve one client with the
                                       six fds of /proc/self/ns/{ipc,mnt,net,pid,user,uts}
  legacy_peer.py modern-client SOCKET [TYPE,...]
                                       protocol v1 client: REQUEST, print the FDS
                                       reply as "<type> <readlink of fd>"
  legacy_peer.py modern-server SOCKET  protocol v1 server: answer one REQUEST
"""
import os
import socket
import struct
import sys

START, END, FDS, ERROR = 42, 43, 44, 45
LEGACY_ORDER = ["ipc", "mnt", "net", "pid", "user", "uts"]

MAGIC, VERSION = 0x4E534644, 1
T_FDS, T_RESULT, T_REQUEST = 1, 2, 3
# enum nsfd_ns_index order (REQUEST mask bits) and CLONE_NEW* labels
TYPES = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]
CLONE = {"cgroup": 0x02000000, "ipc": 0x08000000, "mnt": 0x00020000, "net": 0x40000000,
         "pid": 0x20000000, "time": 0x00000080, "user": 0x10000000, "uts": 0x04000000}


def legacy_client(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(bytes([START, FDS, END]))
    msg, fds, flags, _ = socket.recv_fds(s, 1, 6)
    if msg != bytes([FDS]) or len(fds) != 6 or flags & socket.MSG_CTRUNC:
        sys.exit("bad reply: %r, %d fds, flags %#x" % (msg, len(fds), flags))
    for i, fd in enumerate(fds):
        print(LEGACY_ORDER[i], os.readlink("/proc/self/fd/%d" % fd))


def legacy_server(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    fds = [os.open("/proc/self/ns/" + n, os.O_RDONLY) for n in LEGACY_ORDER]
    ls.listen(1)
    c, _ = ls.accept()
    c.settimeout(10)
    started = False
    try:
        while True:
            b = c.recv(1)
            if not b:
                sys.exit("client closed before end")
            cmd = b[0]
            if cmd == START and not started:
                started = True
            elif cmd == FDS and started:
                socket.send_fds(c, [bytes([FDS])], fds)
            elif cmd == END and started:
                return
            else:
                sys.exit("protocol error: byte %d (started=%s)" % (cmd, started))
    finally:
        c.close()
        ls.close()
        os.unlink(path)


def pack(mtype, payload):
    return struct.pack("<IHHI", MAGIC, VERSION, mtype, len(payload)) + payload


def unpack(data):
    if len(data) < 12:
        sys.exit("short message")
    magic, version, mtype, plen = struct.unpack_from("<IHHI", data)
    if magic != MAGIC or version != VERSION or plen != len(data) - 12:
        sys.exit("bad header %#x %d %d" % (magic, version, plen))
    return mtype, data[12:]


def modern_client(path, types):
    mask = 0
    for t in types.split(","):
        mask |= 1 << TYPES.index(t)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    s.send(pack(T_REQUEST, struct.pack("<I", mask)))
    data, fds, flags, _ = socket.recv_fds(s, 4096, 8)
    mtype, p = unpack(data)
    if mtype == T_RESULT:
        status, n = struct.unpack_from("<iI", p)
        sys.exit("server refused: %d %s" % (status, p[8:8 + n].decode()))
    count, = struct.unpack_from("<I", p)
    labels = struct.unpack_from("<%dI" % count, p, 4)
    idlen, = struct.unpack_from("<I", p, 4 + 4 * count)
    if count != len(fds) or 8 + 4 * count + idlen != len(p):
        sys.exit("bad FDS payload")
    name = {v: k for k, v in CLONE.items()}
    for label, fd in zip(labels, fds):
        print(name[label], os.readlink("/proc/self/fd/%d" % fd))
    print("id", p[8 + 4 * count:].decode())


def modern_server(path):
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ls.bind(path)
    ls.listen(1)
    c, _ = ls.accept()
    c.settimeout(10)
    mtype, p = unpack(c.recv(4096))
    if mtype != T_REQUEST or len(p) != 4:
        sys.exit("expected REQUEST")
    mask, = struct.unpack("<I", p)
    names = [t for i, t in enumerate(TYPES) if mask & (1 << i) and os.path.exists("/proc/self/ns/" + t)]
    fds = [os.open("/proc/self/ns/" + n, os.O_RDONLY) for n in names]
    ident = b"python-peer"
    payload = struct.pack("<I%dI" % len(names), len(names), *[CLONE[n] for n in names])
    payload += struct.pack("<I", len(ident)) + ident
    socket.send_fds(c, [pack(T_FDS, payload)], fds)
    c.close()
    ls.close()
    os.unlink(path)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "client":
        legacy_client(path)
    elif mode == "server":
        legacy_server(path)
    elif mode == "modern-client":
        modern_client(path, sys.argv[3] if len(sys.argv) > 3 else ",".join(TYPES))
    elif mode == "modern-server":
        modern_server(path)
    else:
        sys.exit(__doc__)
