#!/bin/bash
# bench/layers.sh: the layer tools against the standard tools on the same tree, run
# alternately in one run (docs/performance.md, "Layer tools"):
#   nsfdsuds layer import --upper TREE   against  cp -a --preserve=all TREE  (and cp; sync -f)
#   nsfdsuds layer export LAYER -o FILE  against  tar --xattrs -cf FILE -C TREE .
#                                        (and tar then sha256sum FILE: what getting the
#                                         digest export prints costs with the standard tools)
#
#   sudo bench/layers.sh [--build DIR] [--files N] [--rounds N] [--keep]   (DIR default: build)
#
# The tree, written as overlayfs writes an upper: N files (default 100000) in directories
# of 100, sizes 0 to 8 KiB (every 50th 64 KiB), a user xattr on every tenth, every hundredth
# a hard link, a symlink per directory, a whiteout (0:0 character device) every 500 files
# and an opaque directory every 1000. Each round runs every variant once, the order
# rotated; what a variant wrote is removed (untimed) and the disk synced (untimed) before
# the next. Wall time and CPU time (user + system, all threads) are both taken: on a busy
# machine a tool that uses two cores loses more than one that uses one. import ends with syncfs (a layer must be durable before it gets its name), so
# cp is also timed followed by `sync -f`; export and tar are not synced. Prints medians,
# the ratio of the medians and the median of the per-round ratios (paired), and the peak
# RSS of import and export with the tree and with one a tenth its size.
set -euo pipefail

BUILD=build
FILES=100000
ROUNDS=5
KEEP=0
while (($#)); do
	case $1 in
	--build) BUILD=$2; shift 2 ;;
	--files) FILES=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--build DIR] [--files N] [--rounds N] [--keep]" >&2; exit 2 ;;
	esac
done
[[ $(id -u) == 0 ]] || { echo "bench/layers.sh: must run as root" >&2; exit 1; }
CLI=$(realpath "$BUILD/cli/nsfdsuds")
[[ -x $CLI ]] || { echo "bench/layers.sh: no $CLI (build first)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench/layers.sh: needs /usr/bin/time (package time)" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/nsfd-bench-layers.XXXXXX)
cleanup () { ((KEEP)) && echo "kept $WORK" || rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT

# make_layer VOLUME N: a layer "default" in VOLUME whose upper holds the tree.
make_layer () {
	local l=$1/.nsfdsuds/default
	mkdir -p "$l/upper" "$l/work"
	chmod 0700 "$1/.nsfdsuds" "$l" "$l/work"
	printf '{"format": 1, "xattrs": "trusted", "createdAt": "2026-01-01T00:00:00Z", "createdBy": "bench"}\n' >"$l/layer.json"
	python3 - "$l/upper" "$2" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(42)
blob = os.urandom(65536)
for i in range(n):
    d = os.path.join(root, "d%05d" % (i // 100))
    if i % 100 == 0:
        os.mkdir(d)
        os.symlink("f%07d" % i, os.path.join(d, "link"))
        if i % 1000 == 0:
            os.setxattr(d, "trusted.overlay.opaque", b"y")
    p = os.path.join(d, "f%07d" % i)
    if i % 100 == 99:
        os.link(os.path.join(d, "f%07d" % (i - 1)), p)
        continue
    size = 65536 if i % 50 == 0 else random.randint(0, 8192)
    with open(p, "wb") as f:
        f.write(blob[:size])
    if i % 10 == 0:
        os.setxattr(p, "user.bench", b"v%d" % i)
    if i % 500 == 1:
        os.mknod(os.path.join(d, "wh%07d" % i), 0o600 | 0o20000, os.makedev(0, 0))
PY
}

median () { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

SRC=$WORK/src
LAYER=$SRC/.nsfdsuds/default
TREE=$LAYER/upper
run_import () { mkdir -p "$WORK/vol-$1" && "$CLI" layer import --quiet --upper "$TREE" "$WORK/vol-$1"; }
run_cp () { cp -a --preserve=all "$TREE" "$WORK/cp-$1"; }
run_cp_sync () { cp -a --preserve=all "$TREE" "$WORK/cps-$1" && sync -f "$WORK/cps-$1"; }
run_export () { "$CLI" layer export --quiet "$LAYER" -o "$WORK/export-$1.tar"; }
run_tar () { tar --xattrs -cf "$WORK/tar-$1.tar" -C "$TREE" .; }
run_tar_sha () { tar --xattrs -cf "$WORK/tars-$1.tar" -C "$TREE" . && sha256sum "$WORK/tars-$1.tar"; }
remove_outputs () {
	rm -rf --one-file-system "$WORK/vol-$1" "$WORK/cp-$1" "$WORK/cps-$1" \
		"$WORK/export-$1.tar" "$WORK/tar-$1.tar" "$WORK/tars-$1.tar"
	sync
}

echo "building a tree of $FILES files in $TREE ..."
make_layer "$SRC" "$FILES"
du -sh "$TREE" | sed 's/^/tree: /'
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm the page cache for everyone alike (and check that each variant works).
for v in import cp export tar; do "run_$v" warm >/dev/null; done
ls -l "$WORK/export-warm.tar" "$WORK/tar-warm.tar" | awk '{ print "size: " $5 " " $9 }'
remove_outputs warm

# CPU seconds (user + system) of this shell's children so far, from `times` (run in this
# shell, not in a subshell, whose children would be others).
child_cpu () {
	times >"$WORK/times"
	awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } print s }' "$WORK/times"
}

declare -A T=() C=()
variants=(import cp cp_sync export tar tar_sha)
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < ${#variants[@]}; k++)); do
		v=${variants[(k + r) % ${#variants[@]}]}
		child_cpu >"$WORK/c0"
		t0=$EPOCHREALTIME
		"run_$v" "$r" >/dev/null
		t1=$EPOCHREALTIME
		child_cpu >"$WORK/c1"
		read -r c0 <"$WORK/c0"
		read -r c1 <"$WORK/c1"
		T[$v]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
		C[$v]+="$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }') "
		remove_outputs "$r"
	done
	printf 'round %d/%d (s):' "$((r + 1))" "$ROUNDS"
	for v in "${variants[@]}"; do t=${T[$v]% }; printf ' %s %s' "$v" "${t##* }"; done
	echo "  (load $(cut -d' ' -f1 /proc/loadavg))"
done

paired () {
	local -a a b
	read -r -a a <<<"${T[$1]}"
	read -r -a b <<<"${T[$2]}"
	for ((i = 0; i < ${#a[@]}; i++)); do awk -v x="${a[i]}" -v y="${b[i]}" 'BEGIN { print x / y }'; done | median
}
med () { tr ' ' '\n' <<<"${T[$1]}" | grep . | median; }
cpu () { tr ' ' '\n' <<<"${C[$1]}" | grep . | median; }
# row LABEL VARIANT [OURS]: the variant's medians (wall, CPU), and OURS' ratios to it.
row () {
	local m
	m=$(med "$2")
	if [[ -n ${3:-} ]]; then
		printf '%-34s %10.3f %8.2f %8.2f %8.2f\n' "$1" "$m" "$(awk -v a="$(med "$3")" -v b="$m" 'BEGIN { print a / b }')" \
			"$(paired "$3" "$2")" "$(cpu "$2")"
	else
		printf '%-34s %10.3f %8s %8s %8.2f\n' "$1" "$m" "" "" "$(cpu "$2")"
	fi
}
printf '\n%-34s %10s %8s %8s %8s\n' "variant ($FILES files, $ROUNDS rounds)" "median s" "ratio" "paired" "CPU s"
row "nsfdsuds layer import" import
row "cp -a --preserve=all" cp import
row "cp -a --preserve=all; sync -f" cp_sync import
row "nsfdsuds layer export" export
row "tar --xattrs -c" tar export
row "tar --xattrs -c; sha256sum" tar_sha export
echo "(ratio: ours' median / its median; paired: median of the per-round ratios;"
echo " CPU: median user + system seconds, all threads and child processes)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# Memory: peak RSS with the tree and with a tree a tenth its size.
rss () { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
make_layer "$WORK/small" "$((FILES / 10))"
mkdir -p "$WORK/vol-rss" "$WORK/vol-rss-small"
echo "peak RSS of import: $(rss "$CLI" layer import --quiet --upper "$TREE" "$WORK/vol-rss") KiB ($FILES files)," \
	"$(rss "$CLI" layer import --quiet --upper "$WORK/small/.nsfdsuds/default/upper" "$WORK/vol-rss-small") KiB ($((FILES / 10)) files)"
rm -rf --one-file-system "$WORK/vol-rss" "$WORK/vol-rss-small"
echo "peak RSS of export: $(rss "$CLI" layer export --quiet "$LAYER" -o "$WORK/rss.tar") KiB ($FILES files)," \
	"$(rss "$CLI" layer export --quiet "$WORK/small/.nsfdsuds/default" -o "$WORK/rss.tar") KiB ($((FILES / 10)) files)"
