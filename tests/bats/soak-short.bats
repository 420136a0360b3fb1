#!/usr/bin/env bats
# Short soak (tests/soak/soak.sh): 10 create/start/stop/delete cycles of an activated
# container on one layer; every cycle's line must be in the layer, and the mount table,
# <runDir>/<id>, the nsfdsuds processes and the shell's fds must end as they started.
# Hook mode runs where runc pivots by path (the host suite, runc 1.1.5); wrapper mode
# runs in the sid suite (runc 1.3.6, pre-opened root). The long run: soak.sh 200 MODE.

load ../lib/common
load ../lib/faults

_soak () {
	local mode=$1 tmp id cmd
	tmp=$(nsfd_tmpdir soak)
	id=$(nsfd_unique_id "soak-$mode")
	if [[ $mode == hook ]]; then
		cmd="$RUNC --root $tmp/state"
	else
		cmd="env NSFDSUDS_RUNTIME=$(command -v "$RUNC") NSFDSUDS_CONFIG=$tmp/config.json $NSFD_RUNTIME_BIN --root $tmp/state"
	fi
	nsfd_track_container "$cmd" "$id"
	status=0
	NSFD_SOAK_TMP=$tmp NSFD_SOAK_ID=$id NSFD_SOAK_NO_BUILD=1 NSFD_SOAK_SID_BUILD=$NSFD_BUILD_DIR \
		timeout -k 5 300 "$NSFD_REPO/tests/soak/soak.sh" 10 "$mode" </dev/null >"$tmp.out" 2>&1 3>&- || status=$?
	cat "$tmp.out"
	rm -f "$tmp.out"
	[ "$status" -eq 0 ]
}

@test "soak: 10 cycles in hook mode (runc $NSFD_RUNC_VERSION)" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN"
	nsfd_runc_preopens_root && skip "runc $NSFD_RUNC_VERSION pivots into a pre-opened root: hook mode refuses it"
	_soak hook
}

@test "soak: 10 cycles in wrapper mode (runc $NSFD_RUNC_VERSION, sid suite)" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_RUNTIME_BIN"
	[[ $NSFD_SUITE == sid ]] || skip "wrapper-mode soak runs in the sid suite (runc 1.3.6)"
	_soak wrapper
}
