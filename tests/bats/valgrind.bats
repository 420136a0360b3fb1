#!/usr/bin/env bats
# valgrind memcheck on the hook's and the runtime wrapper's main paths
# (tests/valgrind/memcheck.sh, docs/fuzzing.md): no memory error, nothing
# "definitely" or "indirectly lost", no "still reachable" block of ours.

load ../lib/common

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN" "$NSFD_RUNTIME_BIN"
	command -v valgrind >/dev/null || skip "valgrind not installed"
	command -v busybox >/dev/null || skip "busybox-static not installed"
	# valgrind cannot run a sanitizer build (NSFD_SANITIZE=ON).
	if ldd "$NSFD_HOOK_BIN" 2>/dev/null | grep -q 'libasan\|libubsan'; then
		skip "$NSFD_HOOK_BIN is an ASan/UBSan build"
	fi
}

@test "valgrind: hook (idle, runc container, createRuntime error path) and wrapper main paths are clean" {
	local scenarios="idle hook wrapper" runc_cmd
	# runc 1.3.6+ pivots into a pre-opened root: hook mode refuses it by design.
	nsfd_runc_preopens_root && scenarios="idle wrapper"
	runc_cmd=$(command -v runc) || skip "runc not installed"
	run env NSFD_BUILD_DIR="$NSFD_BUILD_DIR" RUNC="$runc_cmd" NSFD_VG_SCENARIOS="$scenarios" \
		timeout -k 10 600 "$NSFD_REPO/tests/valgrind/memcheck.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"memcheck: ok:"* ]]
	[[ $output != *FAIL* ]]
}
