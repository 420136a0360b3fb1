#!/usr/bin/env bats
# The benchmark (bench/run.sh) in its smoke mode: 1-2 rounds of everything with tiny
# sizes, so that CI notices when it stops working. Timings are never asserted: the
# machine is shared and the figures of a smoke run mean nothing.

load ../lib/common

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN" "$NSFD_RUNTIME_BIN"
	command -v cc >/dev/null || skip "no C compiler (bench/rusage-exec.c)"
	# The benchmark compares hook mode on runc; a runc that pre-opens the root
	# refuses hook mode by design (the host suite runs it).
	nsfd_runc_preopens_root && skip "runc $NSFD_RUNC_VERSION pre-opens the root: the benchmark's hook-mode runs need an older runc"
	true
}

@test "bench: run.sh --smoke completes and prints the table" {
	local out
	out=$(nsfd_tmpdir)/bench.out
	# run.sh has a work dir and cleanup of its own; its container ids start with nsfdH-bench-.
	run timeout -k 10 300 "$NSFD_REPO/bench/run.sh" --smoke --build "$NSFD_BUILD_DIR" 3>&-
	printf '%s\n' "$output" >"$out"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^1\. Start cost' "$out"
	grep -q '^runc: our hook, active ' "$out"
	grep -q '^crun: our hook, active ' "$out"
	grep -q '^runc via nsfdsuds-runtime, active ' "$out"
	grep -q '^2\. Scaling' "$out"
	grep -q 'linear fit: .* us per extra mount' "$out"
	grep -q '^3\. Concurrency' "$out"
	grep -q '^active bursts with a failed container: 0 of' "$out"
	# Each hook-mode and wrapper target is printed with its floor under it.
	[ "$(grep -c '^  floor: ' "$out")" -eq 5 ]
	grep -q '^runc: null hook x3 + volume bind ' "$out"
	grep -q '^4\. Peak RSS' "$out"
	grep -q '^mounter (incl. its mount worker) *[1-9]' "$out"
	grep -q '^hook createContainer (the agent) *[1-9]' "$out"
	grep -q 'nsfdsuds-hook' "$out"
	grep -q '^all runs succeeded' "$out"
	# Nothing left behind: no container of this run, no work dir, nothing mounted there.
	local work ids
	work=$(sed -n 's/^work directory: \([^ ]*\) .*/\1/p' "$out")
	ids=$(sed -n 's/.*container ids: \(.*\)-N$/\1/p' "$out")
	[ -n "$work" ] && [ -n "$ids" ]
	[ ! -e "$work" ]
	! runc list -q 2>/dev/null | grep -q "^$ids-"
	! grep -qF " $work/" /proc/self/mountinfo
}
