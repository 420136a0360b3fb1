#!/bin/bash
# The whole suite on a Debian 12 machine, as root:
#
#   tests/run-all.sh [--host-only | --sid-only] [--asan] [--no-asan] [--no-fuzz]
#                    [--filter REGEX] [--no-deps]
#
#   1. tests/install-deps.sh (skipped with --no-deps)
#   2. configure + build into build/ (RelWithDebInfo) and, for faults.bats, build-faults/
#      (-DNSFD_TEST_FAULTS=ON), then ctest
#   3. tests/bats/*.bats on the host (TAP)
#   4. the same files in the Debian sid tree (tests/sid/run-sid-suite.sh)
#   5. the sanitizer pass: an ASan+UBSan build (build-asan/), its ctest and the host bats
#      files again against it (--no-asan skips it; --asan also runs the sid tree with it)
#   6. a short fuzzing pass: every libFuzzer target for 10 s (tests/fuzz/run.sh;
#      --no-fuzz skips it)
#   7. a final leak check on the host (tests/bats/zz-final-leak-check.bats)
#
# --filter REGEX runs only the bats files whose name matches (the leak check always runs).
# Before the end it lists the skip reasons of all bats runs, grouped, with counts per run.
# The last line is "N passed, N failed, N skipped" over ctest and both bats runs; the exit
# status is non-zero if anything failed. Logs go to $NSFD_LOG_DIR (default build*/test-logs).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
host=1 sid=1 asan=1 asan_sid=0 fuzz=1 deps=1 filter=''
while (($#)); do
	case $1 in
	--host-only) sid=0; shift ;;
	--sid-only) host=0; shift ;;
	--asan) asan=1; asan_sid=1; shift ;;
	--no-asan) asan=0; asan_sid=0; shift ;;
	--no-fuzz) fuzz=0; shift ;;
	--filter) filter=$2; shift 2 ;;
	--no-deps) deps=0; shift ;;
	-h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-all: unknown option $1" >&2; exit 2 ;;
	esac
done
[[ $(id -u) == 0 ]] || { echo "run-all: must run as root" >&2; exit 2; }

start=$SECONDS
build=$repo/build
asan_build=$repo/build-asan
cmake_opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
logs=${NSFD_LOG_DIR:-$build/test-logs}

passed=0 failed=0 skipped=0
phase () { printf '\n=== %s (%ds)\n' "$*" "$((SECONDS - start))"; }
count () { # NAME PASSED FAILED SKIPPED
	printf '%s: %d passed, %d failed, %d skipped\n' "$1" "$2" "$3" "$4"
	passed=$((passed + $2)) failed=$((failed + $3)) skipped=$((skipped + $4))
}

# The TAP logs of this run, as "NAME<tab>LOG", and lines about skipped unit tests, for
# the skip summary at the end.
tap_logs=() ctest_skip_lines=()

ctest_skips () { # NAME LOG SKIPPED
	(($3)) || return 0
	ctest_skip_lines+=("$(printf '%4d  unit tests: %s (reasons in %s)  (%s %d)' "$3" \
		"$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$2" | paste -sd ' ')" "$2" "$1" "$3")")
}

# Counts from a TAP log; tests the plan announced but that never reported count as failed.
count_tap () { # NAME LOG STATUS
	local name=$1 log=$2 st=$3 ok nok skip plan=0 results
	tap_logs+=("$name"$'\t'"$log")
	ok=$(grep -c '^ok ' "$log" || true)
	skip=$(grep -Ec '^ok .* # (skip|SKIP)' "$log" || true)
	nok=$(grep -c '^not ok ' "$log" || true)
	while read -r n; do plan=$((plan + n)); done < <(sed -n 's/^1\.\.\([0-9]\+\)$/\1/p' "$log")
	results=$((ok + nok))
	if ((results < plan)); then
		echo "$name: $((plan - results)) planned tests did not report"
		nok=$((nok + plan - results))
	fi
	if ((st != 0 && nok == 0)); then
		echo "$name: bats exited with status $st without a failing test"
		nok=1
	fi
	count "$name" $((ok - skip)) "$nok" "$skip"
}

if ((deps)); then
	phase "dependencies"
	"$repo/tests/install-deps.sh"
fi
mkdir -p "$logs"

# Which bats files run; the leak check is not one of them, it runs at the end.
bats_files=()
for f in "$repo"/tests/bats/*.bats; do
	b=${f##*/}
	[[ $b == zz-final-leak-check.bats ]] && continue
	[[ -n $filter && ! $b =~ $filter ]] && continue
	bats_files+=("$f")
done
leak_check=$repo/tests/bats/zz-final-leak-check.bats

# One suite root and id prefix for the whole run, host and sid alike.
export NSFD_SUITE_TMP
NSFD_SUITE_TMP=$(mktemp -d /tmp/nsfd-suite.XXXXXX)
# A user-namespaced container's root (host uid 100000) must traverse to its bundle.
chmod 755 "$NSFD_SUITE_TMP"
export NSFD_SUITE_CACHE=$NSFD_SUITE_TMP/.cache
export NSFD_ID_PREFIX
NSFD_ID_PREFIX=nsfdt$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export NSFD_BUILD_DIR=$build
export NSFD_LEAK_BUILD_DIRS="$build $build-faults $asan_build $repo/build-sid $repo/build-sid-asan $repo/build-sid-faults"
export NSFD_LEAK_BASELINE=$NSFD_SUITE_TMP/.cache/baseline
mkdir -p "$NSFD_LEAK_BASELINE"
find /run/nsfdsuds -type s 2>/dev/null | sort >"$NSFD_LEAK_BASELINE/sockets" || true
# The suite root goes at exit, also when interrupted, but only if nothing is mounted
# below it any more.
remove_suite_root () {
	if [[ -z $(awk -v d="$NSFD_SUITE_TMP/" 'index($5, d) == 1' /proc/self/mountinfo) ]]; then
		rm -rf --one-file-system "$NSFD_SUITE_TMP"
	else
		echo "run-all: leaving $NSFD_SUITE_TMP, something is still mounted below it" >&2
	fi
}
trap remove_suite_root EXIT
echo "suite root $NSFD_SUITE_TMP, container id prefix $NSFD_ID_PREFIX, logs in $logs"

bats_timeout=${NSFD_BATS_TIMEOUT:-1200}

if ((host)); then
	phase "build ($build)"
	if cmake -S "$repo" -B "$build" "${cmake_opts[@]}" >"$logs/build.log" 2>&1 &&
		cmake --build "$build" -j2 >>"$logs/build.log" 2>&1; then
		echo "build: ok"
		# The fault points (lib/fault.h) go into a build of their own, for faults.bats.
		if cmake -S "$repo" -B "$build-faults" "${cmake_opts[@]}" -DNSFD_TEST_FAULTS=ON -DNSFD_BUILD_TESTS=OFF \
			>>"$logs/build.log" 2>&1 && cmake --build "$build-faults" -j2 >>"$logs/build.log" 2>&1; then
			export NSFD_FAULT_BUILD_DIR=$build-faults
			echo "fault build: ok ($build-faults)"
		else
			echo "fault build: FAILED (log: $logs/build.log)"
			count "fault build" 0 1 0
		fi
		phase "ctest"
		ctest_st=0
		(cd "$build" && ctest --output-on-failure -j2 --timeout 300) 2>&1 | tee "$logs/ctest.log" || ctest_st=$?
		total=$(sed -n 's/.* tests failed out of \([0-9]\+\)$/\1/p' "$logs/ctest.log" | tail -n1)
		cfail=$(sed -n 's/.*, \([0-9]\+\) tests\{0,1\} failed out of .*/\1/p' "$logs/ctest.log" | tail -n1)
		cskip=$(grep -c '(Skipped)$' "$logs/ctest.log" || true)
		total=${total:-0} cfail=${cfail:-0}
		if ((total == 0)) && ! grep -q 'No tests were found' "$logs/ctest.log"; then
			echo "ctest: no summary line (status $ctest_st)"
			cfail=1
		fi
		count ctest $((total - cfail - cskip)) "$cfail" "$cskip"
		ctest_skips ctest "$logs/ctest.log" "$cskip"
	else
		tail -n 40 "$logs/build.log"
		echo "build: FAILED (log: $logs/build.log); host tests that need the binaries will skip"
		count build 0 1 0
	fi

	# The sid tree before the host's bats when it will be used anyway: the host's CRI
	# tests take their api.proto from it (bookworm packages none), so a fresh machine
	# runs the same host tests as one with the tree cached. A failure here is reported by
	# the sid phase, which tries again.
	if ((sid)) && ((${#bats_files[@]})); then
		phase "sid tree"
		if "$repo/tests/sid/make-tree.sh" >"$logs/sid-tree.log" 2>&1; then
			echo "sid tree: $(tail -n1 "$logs/sid-tree.log")"
		else
			echo "sid tree: not made (log: $logs/sid-tree.log); host tests that need it skip"
		fi
	fi

	phase "bats on the host (${#bats_files[@]} files)"
	host_st=0
	if ((${#bats_files[@]})); then
		timeout -k 10 "$bats_timeout" bats --tap "${bats_files[@]}" </dev/null 2>&1 |
			tee "$logs/bats-host.tap" || host_st=$?
		echo
		count_tap "bats host" "$logs/bats-host.tap" "$host_st"
	fi
fi

if ((sid)) && ((${#bats_files[@]} == 0)); then
	echo "no bats file matches '$filter': skipping the sid tree"
elif ((sid)); then
	phase "bats in the sid tree"
	sid_st=0
	# run-sid-suite.sh appends the leak check itself.
	timeout -k 10 "$bats_timeout" "$repo/tests/sid/run-sid-suite.sh" \
		"${bats_files[@]}" </dev/null 2>&1 | tee "$logs/bats-sid.tap" || sid_st=$?
	echo
	count_tap "bats sid" "$logs/bats-sid.tap" "$sid_st"
fi

# The sanitizer pass: the same C code built with AddressSanitizer and UBSan (any report
# aborts the process, so a test notices), its unit tests, then the host's bats files.
if ((asan)) && ((host)); then
	phase "ASan+UBSan build ($asan_build)"
	if cmake -S "$repo" -B "$asan_build" "${cmake_opts[@]}" -DNSFD_SANITIZE=ON >"$logs/build-asan.log" 2>&1 &&
		cmake --build "$asan_build" -j2 >>"$logs/build-asan.log" 2>&1; then
		echo "asan build: ok"
		asan_ctest_st=0
		(cd "$asan_build" && ctest --output-on-failure -j2 --timeout 300) 2>&1 | tee "$logs/ctest-asan.log" ||
			asan_ctest_st=$?
		total=$(sed -n 's/.* tests failed out of \([0-9]\+\)$/\1/p' "$logs/ctest-asan.log" | tail -n1)
		cfail=$(sed -n 's/.*, \([0-9]\+\) tests\{0,1\} failed out of .*/\1/p' "$logs/ctest-asan.log" | tail -n1)
		cskip=$(grep -c '(Skipped)$' "$logs/ctest-asan.log" || true)
		total=${total:-0} cfail=${cfail:-0}
		((total > 0)) || cfail=1
		((asan_ctest_st == 0)) || ((cfail > 0)) || cfail=1
		count "ctest asan" $((total - cfail - cskip)) "$cfail" "$cskip"
		ctest_skips "ctest asan" "$logs/ctest-asan.log" "$cskip"
		if ((${#bats_files[@]})); then
			phase "bats on the host, ASan+UBSan build"
			asan_st=0
			NSFD_BUILD_DIR=$asan_build timeout -k 10 "$bats_timeout" bats --tap "${bats_files[@]}" </dev/null 2>&1 |
				tee "$logs/bats-host-asan.tap" || asan_st=$?
			echo
			count_tap "bats host asan" "$logs/bats-host-asan.tap" "$asan_st"
		fi
	else
		tail -n 40 "$logs/build-asan.log"
		echo "asan build: FAILED (log: $logs/build-asan.log)"
		count "asan build" 0 1 0
	fi
fi
if ((asan_sid)) && ((sid)) && ((${#bats_files[@]})); then
	phase "bats in the sid tree, ASan+UBSan build"
	sid_asan_st=0
	timeout -k 10 "$bats_timeout" "$repo/tests/sid/run-sid-suite.sh" --asan \
		"${bats_files[@]}" </dev/null 2>&1 | tee "$logs/bats-sid-asan.tap" || sid_asan_st=$?
	echo
	count_tap "bats sid asan" "$logs/bats-sid-asan.tap" "$sid_asan_st"
fi

if ((fuzz)) && ((host)) && [[ -z $filter ]]; then
	phase "fuzzing, 10 s per target"
	fuzz_st=0
	NSFD_FUZZ_WORK=$logs/fuzz-work "$repo/tests/fuzz/run.sh" 10 2>&1 | tee "$logs/fuzz.log" || fuzz_st=$?
	fz_ok=$(grep -Ec '^[a-z-]+ +ok ' "$logs/fuzz.log" || true)
	if ((fuzz_st == 0)); then
		count "fuzz" "$fz_ok" 0 0
	else
		count "fuzz" "$fz_ok" 1 0
	fi
fi

phase "final leak check (host)"
leak_st=0
bats --tap "$leak_check" </dev/null 2>&1 | tee "$logs/leak-check.tap" || leak_st=$?
echo
count_tap "leak check" "$logs/leak-check.tap" "$leak_st"

# Every skipped bats test, grouped by its reason ("ok N name # skip REASON"): how many,
# and in which runs (host, sid, host asan, ...), most frequent first.
skip_summary () {
	local entry
	local -a args=()
	for entry in "${tap_logs[@]}"; do
		args+=("suite=${entry%%$'\t'*}" "${entry#*$'\t'}")
	done
	((${#args[@]})) || args=(/dev/null)
	awk '
		/^ok [0-9]+ .* # (skip|SKIP)( |$)/ {
			r = $0
			sub(/.* # (skip|SKIP) */, "", r)
			if (r == "") r = "(no reason given)"
			s = suite
			sub(/^bats /, "", s)
			if (!(r in total)) order[++n] = r
			total[r]++
			if (!((r, s) in per)) suites[r] = suites[r] (suites[r] == "" ? "" : "\t") s
			per[r, s]++
		}
		END {
			for (i = 1; i <= n; i++) {
				r = order[i]
				k = split(suites[r], sl, "\t")
				w = ""
				for (j = 1; j <= k; j++) w = w (j > 1 ? ", " : "") sl[j] " " per[r, sl[j]]
				printf "%d\t%s\t%s\n", total[r], r, w
			}
		}' "${args[@]}" | sort -t$'\t' -s -k1,1nr | awk -F'\t' '{ printf "%4d  %s  (%s)\n", $1, $2, $3 }'
	((${#ctest_skip_lines[@]} == 0)) || printf '%s\n' "${ctest_skip_lines[@]}"
}

if ((skipped)); then
	phase "skipped, by reason"
	skip_summary
fi

phase "done"
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
