#!/bin/bash
# Builds the libFuzzer targets and runs each for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 20; 0 only replays the seed corpus (a quick
# regression check).  TARGETs are names such as oci-state (default: all).
# Environment:
#   NSFD_FUZZ_BUILD_DIR  build directory (default: <repo>/build-fuzz), configured
#                        with CC=clang -DNSFD_FUZZ=ON when not configured yet
#   NSFD_FUZZ_WORK       where corpora, crash artifacts and logs go
#                        (default: <build dir>/fuzz-work); kept between runs so a
#                        later run continues from the corpus an earlier one grew
#   NSFD_FUZZ_JOBS       targets run at the same time (default 1)
# Prints one line per target (executions, coverage, corpus size) and exits
# non-zero when any target found a crash, leak, UB or timeout; the input that
# triggered it is in $NSFD_FUZZ_WORK/artifacts/ (see docs/fuzzing.md).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
all_targets=(oci-state oci-config policy config hs-decode legacy runtime-args)

secs=${1:-20}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2; }
shift || true
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
	[[ -f $here/fuzz-$t.c ]] || { echo "fuzz: unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2; }
done

build=${NSFD_FUZZ_BUILD_DIR:-$repo/build-fuzz}
work=${NSFD_FUZZ_WORK:-$build/fuzz-work}
jobs=${NSFD_FUZZ_JOBS:-1}

# clang alone is not enough: the libFuzzer runtime is in libclang-rt-14-dev on
# Debian 12 (a Recommends of clang, so --no-install-recommends leaves it out).
command -v clang >/dev/null || { echo "fuzz: clang not found (apt-get install clang)" >&2; exit 2; }
probe=$(mktemp -d /tmp/nsfd-fuzz-probe.XXXXXX)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput (const unsigned char *d, unsigned long s) { (void) d; (void) s; return 0; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
	cat "$probe/err" >&2
	echo "fuzz: clang cannot link a libFuzzer binary; install the runtime: apt-get install libclang-rt-14-dev" >&2
	exit 2
fi

if [[ ! -f $build/CMakeCache.txt ]]; then
	CC=clang cmake -S "$repo" -B "$build" -DNSFD_FUZZ=ON -DNSFD_BUILD_TESTS=OFF >"$probe/cmake.log" 2>&1 ||
		{ cat "$probe/cmake.log" >&2; exit 2; }
elif ! grep -q '^NSFD_FUZZ:BOOL=ON' "$build/CMakeCache.txt"; then
	cmake -S "$repo" -B "$build" -DNSFD_FUZZ=ON >"$probe/cmake.log" 2>&1 || { cat "$probe/cmake.log" >&2; exit 2; }
fi
bins=()
for t in "${targets[@]}"; do bins+=(--target "fuzz-$t"); done
cmake --build "$build" -j2 "${bins[@]}" >"$probe/build.log" 2>&1 || { tail -n 40 "$probe/build.log" >&2; exit 2; }

mkdir -p "$work/artifacts" "$work/logs"

dict_for () {
	case $1 in
	oci-state | oci-config) echo "$here/dict/oci.dict" ;;
	config) echo "$here/dict/config.dict" ;;
	policy) echo "$here/dict/policy.dict" ;;
	runtime-args) echo "$here/dict/runtime-args.dict" ;;
	esac
}

# One target: grows $work/corpus/<t> (new inputs are written to the first
# directory only, so the seeds in the source tree are never touched).
run_one () {
	local t=$1 bin="$build/tests/fuzz/fuzz-$t" log="$work/logs/$t.log" dict
	local -a opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-")
	mkdir -p "$work/corpus/$t"
	dict=$(dict_for "$t")
	[[ -n $dict ]] && opts+=(-dict="$dict")
	if ((secs == 0)); then opts+=(-runs=0); else opts+=(-max_total_time="$secs"); fi
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" "${opts[@]}" "$work/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
}

summary () {
	local t=$1 rc=$2 log="$work/logs/$t.log" execs rate cov ft units
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	units=$(find "$work/corpus/$t" -type f | wc -l)
	printf '%-13s %-6s execs=%-10s exec/s=%-7s cov=%-5s ft=%-6s corpus=%s\n' "$t" \
		"$( ((rc == 0)) && echo ok || echo FAIL)" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$units"
	if ((rc != 0)); then
		echo "---- $t: exit $rc, log $log, artifacts:" >&2
		ls "$work/artifacts/$t-"* 2>/dev/null >&2 || true
		grep -E -m 20 'ERROR|SUMMARY|runtime error|==[0-9]+==|#[0-9]+ 0x' "$log" >&2 || tail -n 30 "$log" >&2
	fi
}

echo "fuzz: ${#targets[@]} target(s), ${secs}s each, $jobs at a time; work dir $work"
failed=0
declare -A pid_of
running=0
for t in "${targets[@]}"; do
	if ((running >= jobs)); then
		wait -n || true
		running=$((running - 1))
	fi
	( rc=0; run_one "$t" || rc=$?; echo "$rc" >"$work/logs/$t.rc" ) &
	pid_of[$t]=$!
	running=$((running + 1))
done
wait
for t in "${targets[@]}"; do
	rc=$(cat "$work/logs/$t.rc" 2>/dev/null || echo 1)
	summary "$t" "$rc"
	((rc == 0)) || failed=1
done
exit "$failed"
