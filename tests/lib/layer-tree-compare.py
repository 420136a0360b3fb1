#!/usr/bin/env python3
"""Compares two directory trees file by file, never following a symlink:
type, mode, owner, content, link target, device number, xattrs (but
trusted.overlay.*), and hard-link groups.  Prints each difference; exit 0
when none, 1 otherwise.  Written for the layer tests (tests/bats/
layer-inspect.bats): independent of the code under test.

usage: layer-tree-compare.py A B [--ignore-root]
"""
import hashlib
import os
import stat
import sys


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in names:
        if n.startswith("trusted.overlay."):
            continue
        out[n] = os.getxattr(path, n, follow_symlinks=False)
    return out


def describe(root, rel):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    d = {
        "type": stat.S_IFMT(st.st_mode),
        "mode": stat.S_IMODE(st.st_mode),
        "owner": (st.st_uid, st.st_gid),
        "xattrs": xattrs(p),
    }
    if stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        # O_NOFOLLOW|O_NONBLOCK: what lstat called a file is opened as one.
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        d["content"] = h.hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        d["target"] = os.readlink(p)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = st.st_rdev
    return d, (st.st_dev, st.st_ino, st.st_nlink)


def walk(root):
    """rel path -> (description, inode key); every directory listed."""
    out = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        d, ino = describe(root, rel)
        out[rel] = (d, ino)
        if d["type"] == stat.S_IFDIR:
            for name in os.listdir(os.path.join(root, rel) if rel else root):
                stack.append(os.path.join(rel, name) if rel else name)
    return out


def link_groups(tree):
    groups = {}
    for rel, (d, (dev, ino, nlink)) in tree.items():
        if d["type"] != stat.S_IFDIR and nlink > 1:
            groups.setdefault((dev, ino), []).append(rel)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def main():
    a, b = sys.argv[1], sys.argv[2]
    ignore_root = "--ignore-root" in sys.argv[3:]
    ta, tb = walk(a), walk(b)
    problems = []
    for rel in sorted(set(ta) | set(tb)):
        shown = "/" + rel
        if rel == "" and ignore_root:
            continue
        if rel not in ta:
            problems.append(f"only in {b}: {shown!r}")
        elif rel not in tb:
            problems.append(f"only in {a}: {shown!r}")
        elif ta[rel][0] != tb[rel][0]:
            da, db = ta[rel][0], tb[rel][0]
            keys = sorted(k for k in set(da) | set(db) if da.get(k) != db.get(k))
            for k in keys:
                problems.append(f"{shown!r}: {k}: {da.get(k)!r} != {db.get(k)!r}")
    ga, gb = link_groups(ta), link_groups(tb)
    if ga != gb:
        problems.append(f"hard-link groups differ: {ga} != {gb}")
    for p in problems:
        print(p)
    print(f"compared {len(ta)} and {len(tb)} entries, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
