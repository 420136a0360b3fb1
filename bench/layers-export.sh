#!/bin/bash
# bench/layers-export.sh: `nsfdsuds layer export` of a large upper against
# `tar --xattrs -c` of the same tree, run alternately (A B A B ...).
#
#   bench/layers-export.sh [--files N] [--rounds N] [--build DIR] [--keep]
#
# The tree: N files (default 100000) in directories of 100, sizes 0..8 KiB
# (1/50 of them 64 KiB), every 10th with a user xattr, every 100th hard-linked,
# some whiteouts and opaque directories, as overlayfs writes them. Both write to
# a file on the same filesystem as the tree (GNU tar skips reading the files
# when its output is /dev/null). Prints the medians, the ratio of the medians,
# the median of the per-round ratios, and the peak RSS of each.
# Needs root (whiteouts, trusted xattrs), setfattr, GNU tar, python3.
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=100000 ROUNDS=5 BUILD=${NSFD_BUILD_DIR:-$REPO/build} KEEP=0
while (($#)); do
	case $1 in
	--files) FILES=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "bench/layers-export.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
CLI=$BUILD/cli/nsfdsuds
[[ -x $CLI ]] || { echo "bench/layers-export.sh: not built: $CLI" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench/layers-export.sh: needs root" >&2; exit 2; }

WORK=$(mktemp -d /var/tmp/nsfd-bench-export.XXXXXX)
cleanup () { ((KEEP)) && echo "kept $WORK" || rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
L=$WORK/vol/.nsfdsuds/default
mkdir -p "$L/upper" "$L/work"
chmod 0700 "$WORK/vol/.nsfdsuds" "$L" "$L/work"
printf '{"format": 1, "xattrs": "trusted", "createdAt": "2026-01-01T00:00:00Z", "createdBy": "bench"}\n' >"$L/layer.json"

echo "building a tree of $FILES files in $L/upper ..."
python3 - "$L/upper" "$FILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(42)
blob = os.urandom(65536)
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // 100))
    if i % 100 == 0:
        os.mkdir(d)
        if i % 1000 == 0:
            os.setxattr(d, "trusted.overlay.opaque", b"y")
    p = os.path.join(d, "f%05d" % i)
    if i % 100 == 99:
        os.link(os.path.join(d, "f%05d" % (i - 1)), p)
        continue
    size = 65536 if i % 50 == 0 else random.randint(0, 8192)
    with open(p, "wb") as f:
        f.write(blob[:size])
    if i % 10 == 0:
        os.setxattr(p, "user.bench", b"%d" % i)
    if i % 500 == 1:
        os.mknod(os.path.join(d, "wh%05d" % i), 0o600 | 0o20000, os.makedev(0, 0))
EOF
du -sh "$L/upper" | sed 's/^/tree: /'

# One timed run: wall seconds and peak RSS (KiB) of CMD... via GNU time's format
# if present, else bash's clock only.
run_one () {
	local out=$1 t0 t1
	shift
	rm -f "$out"
	sync
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
	t1=$EPOCHREALTIME
	echo "$(bc -l <<<"$t1 - $t0") $(cat "$WORK/rss")"
}

command -v bc >/dev/null || { echo "bench/layers-export.sh: needs bc" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "bench/layers-export.sh: needs /usr/bin/time (package time)" >&2; exit 2; }
# A warm-up of each, so both start with the tree in the page cache.
run_one "$WORK/a.tar" "$CLI" layer export "$L" -o "$WORK/a.tar" --quiet >/dev/null
run_one "$WORK/b.tar" tar --xattrs -cf "$WORK/b.tar" -C "$L/upper" . >/dev/null
ls -l "$WORK/a.tar" "$WORK/b.tar" | awk '{print "size: " $5 " " $9}'
: >"$WORK/results"
for ((r = 1; r <= ROUNDS; r++)); do
	read -r ta ma < <(run_one "$WORK/a.tar" "$CLI" layer export "$L" -o "$WORK/a.tar" --quiet)
	read -r tb mb < <(run_one "$WORK/b.tar" tar --xattrs -cf "$WORK/b.tar" -C "$L/upper" .)
	echo "$ta $tb $ma $mb" >>"$WORK/results"
	printf 'round %d: export %.3f s (%d KiB), tar %.3f s (%d KiB)\n' "$r" "$ta" "$ma" "$tb" "$mb"
done
python3 - "$WORK/results" <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
ea, ta = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
ratio = statistics.median(r[0] / r[1] for r in rows)
print(f"median: nsfdsuds layer export {ea:.3f} s, tar --xattrs -c {ta:.3f} s")
print(f"ratio of medians {ea / ta:.2f}x, median of per-round ratios {ratio:.2f}x")
print(f"peak RSS: export {max(r[2] for r in rows):.0f} KiB, tar {max(r[3] for r in rows):.0f} KiB")
EOF
