#!/bin/bash
# bench/layers.sh: `nsfdsuds layer import` against `cp -a --preserve=all` of the same
# tree, run alternately in one run (docs/performance.md, "Layer tools").
#
#   sudo bench/layers.sh [--build DIR] [--files N] [--rounds N] [--keep]   (DIR default: build)
#
# The tree: N files (default 100000) of 1 to 8 KiB in directories of 100, every tenth
# with a user xattr, every hundredth hard-linked, a symlink per directory. Each round
# runs both in a rotated order onto the same filesystem; the copy is removed (untimed)
# after each. import ends with syncfs (a layer must be durable before it gets its
# name), so cp is also timed followed by `sync -f`. Medians, ratio of medians, and the
# median of the per-round ratios; peak RSS of import with 10x and 1x the files.
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
	*) echo "usage: $0 [--build DIR] [--files N] [--rounds N] [--keep]" >&2; exit 2 ;;
	esac
done
[[ $(id -u) == 0 ]] || { echo "bench/layers.sh: must run as root" >&2; exit 1; }
CLI=$(realpath "$BUILD/cli/nsfdsuds")
[[ -x $CLI ]] || { echo "bench/layers.sh: no $CLI (build first)" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/nsfd-bench-layers.XXXXXX)
cleanup () { ((KEEP)) || rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT

make_tree () {
	python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root)
blob = os.urandom(8192)
for i in range(n):
    d = os.path.join(root, "d%05d" % (i // 100))
    if i % 100 == 0:
        os.mkdir(d)
        os.symlink("f%07d" % i, os.path.join(d, "link"))
    p = os.path.join(d, "f%07d" % i)
    with open(p, "wb") as f:
        f.write(blob[: 1024 + (i * 37) % 7168])
    if i % 10 == 0:
        os.setxattr(p, "user.bench", b"v%d" % i)
    if i % 100 == 1:
        os.link(p, p + ".hl")
PY
}

now () { printf '%s\n' "$EPOCHREALTIME"; }

median () { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

run_import () {
	local vol=$WORK/vol-$1
	mkdir -p "$vol"
	"$CLI" layer import --quiet --upper "$WORK/tree" "$vol"
}
run_cp () { cp -a --preserve=all "$WORK/tree" "$WORK/cp-$1"; }
run_cp_sync () { cp -a --preserve=all "$WORK/tree" "$WORK/cps-$1" && sync -f "$WORK/cps-$1"; }

echo "building a tree of $FILES files in $WORK ..."
make_tree "$WORK/tree" "$FILES"
du -sh "$WORK/tree" | sed 's/^/tree: /'
# Warm the page cache for everyone alike.
cp -a --preserve=all "$WORK/tree" "$WORK/warm" && rm -rf "$WORK/warm"

declare -A T=()
variants=(import cp cp_sync)
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < ${#variants[@]}; k++)); do
		v=${variants[(k + r) % ${#variants[@]}]}
		t0=$(now)
		"run_$v" "$r" >/dev/null
		t1=$(now)
		T[$v]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
		rm -rf --one-file-system "$WORK/vol-$r" "$WORK/cp-$r" "$WORK/cps-$r"
	done
	echo "round $((r + 1))/$ROUNDS: import, cp, cp+sync (s): $(for v in "${variants[@]}"; do t=${T[$v]% }; printf '%s ' "${t##* }"; done)"
done

paired () {
	local -a a b
	read -r -a a <<<"${T[$1]}"
	read -r -a b <<<"${T[$2]}"
	for ((i = 0; i < ${#a[@]}; i++)); do awk -v x="${a[i]}" -v y="${b[i]}" 'BEGIN { print x / y }'; done | median
}

m_import=$(tr ' ' '\n' <<<"${T[import]}" | grep . | median)
m_cp=$(tr ' ' '\n' <<<"${T[cp]}" | grep . | median)
m_cps=$(tr ' ' '\n' <<<"${T[cp_sync]}" | grep . | median)
printf '\n%-28s %10s %12s %8s\n' "variant ($FILES files)" "median s" "ratio" "paired"
printf '%-28s %10.3f %12s %8s\n' "nsfdsuds layer import" "$m_import" "" ""
printf '%-28s %10.3f %12.2f %8.2f\n' "cp -a --preserve=all" "$m_cp" \
	"$(awk -v a="$m_import" -v b="$m_cp" 'BEGIN { print a / b }')" "$(paired import cp)"
printf '%-28s %10.3f %12.2f %8.2f\n' "cp -a --preserve=all; sync -f" "$m_cps" \
	"$(awk -v a="$m_import" -v b="$m_cps" 'BEGIN { print a / b }')" "$(paired import cp_sync)"
echo "(ratio: import median / cp median; paired: median of per-round ratios)"

# Memory: peak RSS with the tree and with a tree a tenth its size.
mkdir -p "$WORK/vol-rss" "$WORK/vol-rss-small"
rss_big=$(/usr/bin/time -f %M "$CLI" layer import --quiet --upper "$WORK/tree" "$WORK/vol-rss" 2>&1 >/dev/null | tail -1)
make_tree "$WORK/small" "$((FILES / 10))"
rss_small=$(/usr/bin/time -f %M "$CLI" layer import --quiet --upper "$WORK/small" "$WORK/vol-rss-small" 2>&1 >/dev/null | tail -1)
echo "peak RSS of import: $rss_big KiB ($FILES files), $rss_small KiB ($((FILES / 10)) files)"
