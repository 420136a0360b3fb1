#!/bin/bash
# The bats suite inside a Debian sid tree: runc 1.3.6 (pre-opened root), crun 1.28.
#
#   tests/sid/run-sid-suite.sh [--tree DIR] [--asan] [BATS_FILE...]
#
# Outside the tree: makes or reuses the tree (make-tree.sh), then re-runs itself in it
# through enter.sh. Inside: builds the project into build-sid (the tree's glibc differs
# from the host's), exports NSFD_SID=1, NSFD_SUITE=sid and the runtime versions, and runs
# the given bats files (default: tests/bats/*.bats) with zz-final-leak-check.bats last,
# as TAP on stdout, then the skip reasons grouped (TAP comments, "# skipped N: REASON"). A failed build is reported as a "not ok" line and the bats files still
# run (tests that need the binaries skip). Exit status: non-zero if anything failed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tree=${NSFD_SID_TREE:-/var/cache/nsfdsuds-test/sid}
asan=0 inside=0
while (($#)); do
	case $1 in
	--tree) tree=$2; shift 2 ;;
	--asan) asan=1; shift ;;
	--inside) inside=1; shift ;;
	--) shift; break ;;
	-*) echo "run-sid-suite: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done

if ((inside == 0)); then
	tree=$("$repo/tests/sid/make-tree.sh" "$tree" | tail -n1)
	# Held shared for the whole run: make-tree.sh does not change a tree in use.
	exec {lock_fd}<>"$tree.lock"
	flock -s "$lock_fd"
	args=(--inside)
	((asan)) && args+=(--asan)
	exec "$repo/tests/sid/enter.sh" "$tree" -- /bin/bash "$repo/tests/sid/run-sid-suite.sh" "${args[@]}" "$@"
fi

# --- inside the tree ---
cd "$repo"
build=$repo/build-sid
cmake_opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSFD_BUILD_TESTS=OFF)
if ((asan)); then
	build=$repo/build-sid-asan
	cmake_opts+=(-DNSFD_SANITIZE=ON)
fi

rc=0
mkdir -p "$build"
build_log=$build/build.log
echo "# sid: building into $build"
if cmake -S "$repo" -B "$build" "${cmake_opts[@]}" >"$build_log" 2>&1 &&
	cmake --build "$build" -j2 >>"$build_log" 2>&1; then
	build_ok=1
else
	build_ok=0
	rc=1
	sed 's/^/# /' "$build_log" | tail -n 30
fi

# The fault points go into a build of their own, for faults.bats.
if ((build_ok)) && cmake -S "$repo" -B "$build-faults" "${cmake_opts[@]}" -DNSFD_TEST_FAULTS=ON \
	>>"$build_log" 2>&1 && cmake --build "$build-faults" -j2 >>"$build_log" 2>&1; then
	export NSFD_FAULT_BUILD_DIR=$build-faults
else
	echo "# sid: the fault build failed (log: $build_log)"
	unset NSFD_FAULT_BUILD_DIR
fi

export NSFD_SID=1 NSFD_SUITE=sid
export NSFD_BUILD_DIR=$build
export NSFD_RUNC_VERSION NSFD_CRUN_VERSION
NSFD_RUNC_VERSION=$(runc --version | awk 'NR == 1 { v = $3; sub(/[+~-].*/, "", v); print v }')
NSFD_CRUN_VERSION=$(crun --version | awk 'NR == 1 { print $3 }')
# /tmp is this namespace's own tmpfs: nothing here outlives the run.
export NSFD_SUITE_TMP=/tmp/nsfd-suite-sid
export NSFD_SUITE_CACHE=$NSFD_SUITE_TMP/.cache
export NSFD_ID_PREFIX=${NSFD_ID_PREFIX:-nsfdt}
export NSFD_LEAK_BUILD_DIRS="$build $build-faults"
unset NSFD_LEAK_BASELINE RUNC CRUN
mkdir -p "$NSFD_SUITE_TMP"
echo "# sid: runc $NSFD_RUNC_VERSION, crun $NSFD_CRUN_VERSION, bats $(bats --version | awk '{ print $2 }')"

files=()
if (($#)); then
	files=("$@")
else
	for f in "$repo"/tests/bats/*.bats; do
		[[ ${f##*/} == zz-final-leak-check.bats ]] || files+=("$f")
	done
fi
files+=("$repo/tests/bats/zz-final-leak-check.bats")

# Numbered after the bats results so the TAP stays parseable by line. The TAP is kept
# (on this namespace's /tmp) for the skip reasons at the end.
tap=/tmp/nsfd-sid-suite.$$.tap
bats --tap "${files[@]}" </dev/null | tee "$tap" || rc=1
echo
# The skip reasons, grouped, as TAP comments (run-all.sh groups them over all its runs).
sed -En 's/^ok [0-9]+ .* # (skip|SKIP) *(.*)$/\2/p' "$tap" | sort | uniq -c | sort -s -k1,1nr |
	sed 's/^ *\([0-9]*\) /# skipped \1: /'
rm -f "$tap"
if ((build_ok == 0)); then
	echo "not ok - sid: build of $build failed (log: $build_log)"
fi
exit $rc
