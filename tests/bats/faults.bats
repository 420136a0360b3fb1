#!/usr/bin/env bats
# Faults: the hook and the wrapper killed (SIGKILL) at each of their fault points
# (lib/fault.h; needs a build configured with -DNSFD_TEST_FAULTS=ON, otherwise every
# test here skips). For each point, a container whose layer already holds files from an
# earlier successful run is started with NSFDSUDS_TEST_FAULT=<point>, and then:
#
#   - the start fails and the container's command did not run (it would have run on a
#     throw-away root): no /marker-ran in the image, no new line in the layer's one;
#   - within a bounded wait no nsfdsuds process, no <runDir>/<id>, no mount is left
#     (hook mode: by the runtime's own failure path, which runs poststop; wrapper mode:
#     after the `delete --force` an engine sends after any failed create);
#   - a holder.json left behind is stale (names a dead process) and blocks nothing;
#   - every file written earlier is still in the layer, unchanged;
#   - the next start without the fault works and sees the old files.
#
# NSFD_FAULT_REPORT=FILE appends one line per point: what was left right after the fault.

# run-all.sh and the sid runner build the fault points into a build of their own
# (NSFD_FAULT_BUILD_DIR); the suite's main build stays a normal one.
[[ -n ${NSFD_FAULT_BUILD_DIR:-} ]] && export NSFD_BUILD_DIR=$NSFD_FAULT_BUILD_DIR
load ../lib/common
load ../lib/hook
load ../lib/wrapper
load ../lib/faults

# Hook mode runs on runc, or on crun where runc pre-opens the root.
HRT=$(nsfd_hook_runtime)
_hrt_version () {
	if [[ $HRT == runc ]]; then echo "$NSFD_RUNC_VERSION"; else echo "$NSFD_CRUN_VERSION"; fi
}

_report () {
	[[ -n ${NSFD_FAULT_REPORT:-} ]] && printf '%s\n' "$*" >>"$NSFD_FAULT_REPORT"
	return 0
}

# The holder, if any, must not name a live process.
_assert_holder_not_live () {
	local h=$1/.nsfdsuds/default/holder.json pid start
	[[ -e $h ]] || return 0
	pid=$(jq -r .pid "$h")
	start=$(jq -r .pidStartTime "$h")
	if [[ $(_nsfd_pid_starttime "$pid") == "$start" ]] &&
		[[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
		echo "holder.json names a live process:" >&2
		cat "$h" >&2
		return 1
	fi
}

_marker_lines () {
	local f=$1/.nsfdsuds/default/upper/marker-ran
	[[ -f $f ]] && wc -l <"$f" || echo 0
}

# crun (1.28) runs no poststop hook after a failed create (runc does, on its failure
# path), and after a kill at these points nothing else removes <runDir>/<id>: the
# directory (and at some points the mounter's socket) is left behind. Nothing of it runs
# any more, so the next create of that id takes it over (lib/rundir.c): there the retry
# reuses the id and must succeed and leave nothing.
_crun_leaves_rundir () {
	case $1 in
	runtime-after-rundir | mounter-after-accept | worker-before-reply | agent-after-send) return 0 ;;
	esac
	return 1
}

# _hook_fault POINT: hook mode on $HRT (runc where it pivots by path, else crun).
_hook_fault () {
	local point=$1 cfg b vol id0 id1 id2 snap old left leftover=0
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN"
	nsfd_skip_unless_fault_build
	[[ $HRT == crun ]] && _crun_leaves_rundir "$point" && leftover=1
	# A short handshake and mounter lifetime keep the bounded waits short.
	cfg=$(nsfd_hook_config '.mounterLifetimeSeconds = 3 | .handshakeTimeoutSeconds = 3')
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_hook_volume)
	nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "/bin/sh /nsfd-fault.sh"
	mkdir -p "$b/rootfs/data"
	nsfd_fault_script "$b/rootfs"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_fault_snapshot "$snap"

	id0=$(nsfd_unique_id hf0)
	nsfd_run_container "$HRT" "$b" "$id0"
	echo "first run: $status: $output"
	[ "$status" -eq 0 ]
	nsfd_expect_line run=first
	nsfd_delete "$HRT" "$id0"
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$id0" "$snap"
	old=$(nsfd_layer_digest "$vol")
	[ "$(_marker_lines "$vol")" -eq 1 ]

	nsfd_hook_env "$b" "NSFDSUDS_TEST_FAULT=$point"
	id1=$(nsfd_unique_id hf1)
	nsfd_create_start "$HRT" "$b" "$id1" || true
	echo "fault $point: status $status: $output"
	[ "$status" -ne 0 ]
	local fst=$status
	left="rundir=$([[ -e /run/nsfdsuds/$id1 ]] && echo yes || echo no)"
	left+=" holder=$([[ -e $vol/.nsfdsuds/default/holder.json ]] && echo yes || echo no)"
	left+=" procs=$(nsfd_nsfd_pids | wc -l)"
	# Nothing ran on a throw-away root, nor in the overlay.
	[ ! -e "$b/rootfs/marker-ran" ]
	[ "$(_marker_lines "$vol")" -eq 1 ]
	nsfd_wait_no_nsfd_pids 10
	if ((leftover)); then
		# Only the runtime directory may stay, with nothing of it running.
		local after
		after=$(nsfd_tmpdir .snap)/left
		nsfd_fault_snapshot "$after"
		nsfd_assert_mounts_equal "$snap" "$after"
		[ -z "$(nsfd_nsfd_pids)" ]
		left+=" (crun: left for the retry under the same id)"
	else
		nsfd_wait_no_rundir "$id1" 10
		nsfd_fault_assert_clean "$id1" "$snap"
	fi
	_assert_holder_not_live "$vol"
	_report "hook $HRT $(_hrt_version) $point: exit $fst; right after: $left; after wait: holder=$([[ -e $vol/.nsfdsuds/default/holder.json ]] && echo stale || echo no)"
	nsfd_delete "$HRT" "$id1" || true
	[ "$(nsfd_layer_digest "$vol")" = "$old" ]

	nsfd_hook_env "$b"
	id2=$(nsfd_unique_id hf2)
	((leftover)) && id2=$id1
	nsfd_run_container "$HRT" "$b" "$id2"
	echo "after the fault: $status: $output"
	[ "$status" -eq 0 ]
	nsfd_expect_line run=later
	nsfd_expect_line old=old
	nsfd_expect_line db=rows
	nsfd_expect_line gone=absent
	nsfd_expect_line rootfs-magic=794c7630
	nsfd_delete "$HRT" "$id2"
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$id2" "$snap"
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
	[ "$(_marker_lines "$vol")" -eq 2 ]
}

# _wrapper_fault POINT: the wrapper (env NSFDSUDS_TEST_FAULT) around the suite's runc.
_wrapper_fault () {
	local point=$1 b vol id0 id1 id2 snap old left
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_RUNTIME_BIN"
	nsfd_skip_unless_fault_build
	nsfd_wrapper_setup runc
	b=$(nsfd_tmpdir bundle)
	vol=$NSFD_W_VOLS/vol
	mkdir -p "$vol"
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "/bin/sh /nsfd-fault.sh"
	mkdir -p "$b/rootfs/data"
	nsfd_fault_script "$b/rootfs"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_fault_snapshot "$snap"

	id0=$(nsfd_unique_id wf0)
	nsfd_track_container "$(_nsfd_wrapper_cmdline)" "$id0"
	nsfd_wrapper run --bundle "$b" "$id0"
	echo "first run: $status: $output"
	[ "$status" -eq 0 ]
	nsfd_expect_line run=first
	nsfd_wrapper_gone "$id0" "$vol"
	old=$(nsfd_layer_digest "$vol")
	[ "$(_marker_lines "$vol")" -eq 1 ]

	id1=$(nsfd_unique_id wf1)
	NSFDSUDS_TEST_FAULT=$point nsfd_wrapper_create "$b" "$id1"
	echo "fault $point: status $status: $output"
	[ "$status" -ne 0 ]
	local fst=$status
	left="rundir=$([[ -e $NSFD_W_RUNDIR/$id1 ]] && echo yes || echo no)"
	left+=" holder=$([[ -e $vol/.nsfdsuds/default/holder.json ]] && echo yes || echo no)"
	left+=" state=$(nsfd_wrapper_state "$id1")"
	[ ! -e "$b/rootfs/marker-ran" ]
	[ "$(_marker_lines "$vol")" -eq 1 ]
	# The wrapper's mount namespace went with it: the host never saw the overlay.
	nsfd_fault_snapshot "$snap.fault"
	nsfd_assert_mounts_equal "$snap" "$snap.fault"
	_assert_holder_not_live "$vol"
	# What an engine does after a failed create (containerd's shim: delete --force).
	nsfd_wrapper delete --force "$id1"
	echo "delete --force: $status: $output"
	[ "$status" -eq 0 ]
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$id1" "$snap"
	_assert_holder_not_live "$vol"
	_report "wrapper runc $NSFD_RUNC_VERSION $point: exit $fst; right after: $left; after delete --force: holder=$([[ -e $vol/.nsfdsuds/default/holder.json ]] && echo stale || echo no)"
	[ "$(nsfd_layer_digest "$vol")" = "$old" ]

	id2=$(nsfd_unique_id wf2)
	nsfd_track_container "$(_nsfd_wrapper_cmdline)" "$id2"
	nsfd_wrapper run --bundle "$b" "$id2"
	echo "after the fault: $status: $output"
	[ "$status" -eq 0 ]
	nsfd_expect_line run=later
	nsfd_expect_line old=old
	nsfd_expect_line db=rows
	nsfd_expect_line gone=absent
	nsfd_expect_line rootfs-magic=794c7630
	nsfd_wrapper_gone "$id2" "$vol"
	nsfd_fault_assert_clean "$id2" "$snap"
	[ "$(_marker_lines "$vol")" -eq 2 ]
}

@test "faults: hook runtime-after-acquire" { _hook_fault runtime-after-acquire; }
@test "faults: hook runtime-after-rundir" { _hook_fault runtime-after-rundir; }
@test "faults: hook runtime-after-fork" { _hook_fault runtime-after-fork; }
@test "faults: hook mounter-after-accept" { _hook_fault mounter-after-accept; }
@test "faults: hook worker-after-setns" { _hook_fault worker-after-setns; }
@test "faults: hook worker-after-attach" { _hook_fault worker-after-attach; }
@test "faults: hook worker-after-carry" { _hook_fault worker-after-carry; }
@test "faults: hook worker-before-reply" { _hook_fault worker-before-reply; }
@test "faults: hook agent-after-send" { _hook_fault agent-after-send; }
@test "faults: wrapper wrapper-after-acquire" { _wrapper_fault wrapper-after-acquire; }
@test "faults: wrapper wrapper-after-overlay" { _wrapper_fault wrapper-after-overlay; }
@test "faults: wrapper wrapper-before-exec" { _wrapper_fault wrapper-before-exec; }
@test "faults: wrapper wrapper-after-runtime" { _wrapper_fault wrapper-after-runtime; }
