#!/usr/bin/env bats
# Exclusive use of a layer (holder.json, docs/layer-format.md "Tested guarantees"):
#
#   - a second container naming a layer in use is refused, the error names the holder,
#     and the first container keeps running with its data (hook mode and wrapper mode);
#   - a holder killed with SIGKILL (the container's init; a wrapper in the middle of
#     create) does not block the next start, and deleting the killed container later
#     does not release the new holder's record;
#   - a record from another boot (a node that crashed) does not block, even when its pid
#     names a live process here; a record of this boot naming a live process does.

load ../lib/common
load ../lib/hook
load ../lib/wrapper
load ../lib/faults

# Hook mode runs on runc, or on crun where runc pre-opens the root.
HRT=$(nsfd_hook_runtime)

# The long-running container: writes /etc/a-data once (and /etc/seen-by-<n> per run),
# then sleeps.
_ARGS="sh -c 'n=\$(cat /proc/sys/kernel/random/uuid); [ -e /etc/a-data ] || echo a >/etc/a-data; echo \$n >>/etc/runs; exec sleep 600'"

_layer () {
	printf '%s/.nsfdsuds/default\n' "$1"
}

# _wait_file RUNTIME ID FILE: retry `exec cat FILE` until it succeeds (bounded, 10 s).
_exec_ok () {
	nsfd_exec "$@"
	((status == 0))
}

_wait_file () {
	nsfd_wait_until 10 _exec_ok "$1" "$2" cat "$3" && return 0
	echo "no $3 in $2: $output" >&2
	return 1
}

_hook_setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN"
	CFG=$(nsfd_hook_config '.mounterLifetimeSeconds = 5')
	B=$(nsfd_tmpdir bundle)
	VOL=$(nsfd_hook_volume)
	nsfd_hook_bundle "$B" "$CFG" --hook-stderr --mount "$VOL:/data" --annotation nsfdsuds.io/persist=/data --args "$_ARGS"
	mkdir -p "$B/rootfs/data"
	SNAP=$(nsfd_tmpdir .snap)/before
	nsfd_fault_snapshot "$SNAP"
}

@test "exclusive: hook mode ($HRT): a second container is refused naming the holder; the first keeps its data" {
	_hook_setup
	local a b
	a=$(nsfd_unique_id exa)
	b=$(nsfd_unique_id exb)
	nsfd_create_start "$HRT" "$B" "$a"
	_wait_file "$HRT" "$a" /etc/a-data
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$a" ]

	nsfd_hook_stderr_take >/dev/null
	nsfd_create_start "$HRT" "$B" "$b" || true
	output+=$'\n'$(nsfd_hook_stderr_take)
	echo "second: $status: $output"
	[ "$status" -ne 0 ]
	[[ $output == *"in use by container \\\"$a\\\""* || $output == *"in use by container \"$a\""* ]]
	nsfd_wait_no_rundir "$b" 10
	# The first is untouched: running, its record, its data, and it still writes.
	[ "$(nsfd_container_state "$HRT" "$a")" = running ]
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$a" ]
	nsfd_exec "$HRT" "$a" sh -c 'cat /etc/a-data && echo more >/etc/a-more && cat /etc/a-more'
	[ "$status" -eq 0 ]
	[ "$output" = $'a\nmore' ]
	[ "$(cat "$(_layer "$VOL")/upper/etc/a-more")" = more ]

	nsfd_delete "$HRT" "$a"
	nsfd_delete "$HRT" "$b" || true
	[ ! -e "$(_layer "$VOL")/holder.json" ]
	# Now it is free.
	nsfd_create_start "$HRT" "$B" "$b"
	_wait_file "$HRT" "$b" /etc/a-more
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$b" ]
	nsfd_delete "$HRT" "$b"
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$b" "$SNAP"
}

@test "exclusive: hook mode ($HRT): a holder whose init was SIGKILLed does not block; its delete keeps the new record" {
	_hook_setup
	local a b pid
	a=$(nsfd_unique_id exka)
	b=$(nsfd_unique_id exkb)
	nsfd_create_start "$HRT" "$B" "$a"
	_wait_file "$HRT" "$a" /etc/a-data
	pid=$(jq -r .pid "$(_layer "$VOL")/holder.json")
	[ "$pid" = "$($(nsfd_runtime_cmd "$HRT") state "$a" | jq -r .pid)" ]
	kill -KILL "$pid"
	nsfd_wait_state "$HRT" "$a" stopped 10
	# Not deleted (no poststop yet): the record still names a, but its process is gone.
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$a" ]

	nsfd_create_start "$HRT" "$B" "$b"
	_wait_file "$HRT" "$b" /etc/a-data
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$b" ]
	# a's poststop runs now; it must not release b's hold.
	nsfd_delete "$HRT" "$a"
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$b" ]
	[ "$(nsfd_container_state "$HRT" "$b")" = running ]
	nsfd_delete "$HRT" "$b"
	[ ! -e "$(_layer "$VOL")/holder.json" ]
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$a" "$SNAP"
	nsfd_fault_assert_clean "$b" "$SNAP"
}

@test "exclusive: hook mode ($HRT): a record from another boot does not block; one of this boot with a live pid does" {
	_hook_setup
	local a b sleeper start
	a=$(nsfd_unique_id exba)
	b=$(nsfd_unique_id exbb)
	# Make the layer (a short run), then forge records.
	nsfd_create_start "$HRT" "$B" "$a"
	_wait_file "$HRT" "$a" /etc/a-data
	nsfd_delete "$HRT" "$a"
	[ ! -e "$(_layer "$VOL")/holder.json" ]

	# This boot, a live process (ours), another container: refused, naming it.
	sleep 600 </dev/null >/dev/null 2>&1 3>&- &
	sleeper=$!
	nsfd_track_pid "$sleeper"
	start=$(_nsfd_pid_starttime "$sleeper")
	nsfd_write_holder "$VOL" container=crashed-node-web-0 "bootId=$(cat /proc/sys/kernel/random/boot_id)" \
		pid="$sleeper" pidStartTime="$start" mode=hook since=2026-01-01T00:00:00Z
	nsfd_hook_stderr_take >/dev/null
	nsfd_create_start "$HRT" "$B" "$b" || true
	output+=$'\n'$(nsfd_hook_stderr_take)
	echo "live record: $status: $output"
	[ "$status" -ne 0 ]
	[[ $output == *crashed-node-web-0* ]]
	nsfd_delete "$HRT" "$b" || true
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = crashed-node-web-0 ]

	# The same record from another boot (a crashed node; the pid and start time even
	# match a live process here): stale.
	nsfd_write_holder "$VOL" container=crashed-node-web-0 bootId=00000000-1111-2222-3333-444444444444 \
		pid="$sleeper" pidStartTime="$start" mode=hook since=2026-01-01T00:00:00Z
	nsfd_create_start "$HRT" "$B" "$b"
	_wait_file "$HRT" "$b" /etc/a-data
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$b" ]
	[ "$(jq -r .bootId "$(_layer "$VOL")/holder.json")" = "$(cat /proc/sys/kernel/random/boot_id)" ]
	nsfd_delete "$HRT" "$b"
	[ ! -e "$(_layer "$VOL")/holder.json" ]

	# An unreadable record is stale too.
	echo 'not json' >"$(_layer "$VOL")/holder.json"
	nsfd_create_start "$HRT" "$B" "$a"
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$a" ]
	nsfd_delete "$HRT" "$a"
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$b" "$SNAP"
}

# --- wrapper mode --------------------------------------------------------------------

_wrapper_setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_RUNTIME_BIN"
	nsfd_wrapper_setup runc
	B=$(nsfd_tmpdir bundle)
	VOL=$NSFD_W_VOLS/vol
	mkdir -p "$VOL"
	nsfd_bundle "$B" --mount "$VOL:/data" --annotation nsfdsuds.io/persist=/data --args "$_ARGS"
	mkdir -p "$B/rootfs/data"
	SNAP=$(nsfd_tmpdir .snap)/before
	nsfd_fault_snapshot "$SNAP"
}

_wexec_ok () {
	nsfd_wrapper_exec "$@"
	((status == 0))
}

_wwait_file () {
	nsfd_wait_until 10 _wexec_ok "$1" cat "$2" && return 0
	echo "no $2 in $1: $output" >&2
	return 1
}

@test "exclusive: wrapper mode (runc $NSFD_RUNC_VERSION): a second container is refused naming the holder; the first keeps its data" {
	_wrapper_setup
	local a b
	a=$(nsfd_unique_id ewa)
	b=$(nsfd_unique_id ewb)
	nsfd_wrapper_create_start "$B" "$a"
	_wwait_file "$a" /etc/a-data
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$a" ]
	[ "$(jq -r .pid "$(_layer "$VOL")/holder.json")" = "$(cat "$NSFD_W_DIR/$a.pid")" ]

	nsfd_wrapper_create "$B" "$b"
	echo "second: $status: $output"
	[ "$status" -ne 0 ]
	[[ $output == *"in use by container \"$a\""* ]]
	nsfd_wrapper delete --force "$b"
	nsfd_wrapper_gone "$b"
	[ "$(nsfd_wrapper_state "$a")" = running ]
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$a" ]
	nsfd_wrapper_exec "$a" sh -c 'cat /etc/a-data && echo more >/etc/a-more && cat /etc/a-more'
	[ "$status" -eq 0 ]
	[ "$output" = $'a\nmore' ]
	[ "$(cat "$(_layer "$VOL")/upper/etc/a-more")" = more ]

	nsfd_wrapper_stop_delete "$a"
	nsfd_wrapper_gone "$a" "$VOL"
	nsfd_wrapper_create_start "$B" "$b"
	_wwait_file "$b" /etc/a-more
	nsfd_wrapper_stop_delete "$b"
	nsfd_wrapper_gone "$b" "$VOL"
	nsfd_fault_assert_clean "$b" "$SNAP"
}

@test "exclusive: wrapper mode (runc $NSFD_RUNC_VERSION): a SIGKILLed init does not block; its delete keeps the new record" {
	_wrapper_setup
	local a b pid
	a=$(nsfd_unique_id ewka)
	b=$(nsfd_unique_id ewkb)
	nsfd_wrapper_create_start "$B" "$a"
	_wwait_file "$a" /etc/a-data
	pid=$(jq -r .pid "$(_layer "$VOL")/holder.json")
	kill -KILL "$pid"
	nsfd_wrapper_wait_state "$a" stopped 10

	nsfd_wrapper_create_start "$B" "$b"
	_wwait_file "$b" /etc/a-data
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$b" ]
	nsfd_wrapper delete "$a"
	[ "$status" -eq 0 ]
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$b" ]
	[ "$(nsfd_wrapper_state "$b")" = running ]
	nsfd_wrapper_stop_delete "$b"
	nsfd_wrapper_gone "$a"
	nsfd_wrapper_gone "$b" "$VOL"
	nsfd_fault_assert_clean "$b" "$SNAP"
}

@test "exclusive: wrapper mode: a wrapper SIGKILLed in the middle of create does not block" {
	_wrapper_setup
	local a b slow wpid
	a=$(nsfd_unique_id ewma)
	b=$(nsfd_unique_id ewmb)
	# A runtime that stays in create until killed (the wrapper gives it PDEATHSIG).
	slow=$(nsfd_tmpdir)/slow-runtime
	cat >"$slow" <<-EOF
	#!/bin/sh
	echo \$\$ >$(nsfd_tmpdir)/slow.pid
	exec sleep 600
	EOF
	chmod 755 "$slow"
	NSFDSUDS_RUNTIME=$slow NSFDSUDS_CONFIG=$NSFD_W_CONFIG "$NSFD_RUNTIME_BIN" --root "$NSFD_W_ROOT" \
		create --bundle "$B" "$a" </dev/null >/dev/null 2>&1 3>&- &
	wpid=$!
	nsfd_track_pid "$wpid"
	nsfd_wait_until 10 test -s "$(nsfd_tmpdir)/slow.pid"
	# Mid-create: the wrapper holds the layer.
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$a" ]
	[ "$(jq -r .pid "$(_layer "$VOL")/holder.json")" = "$wpid" ]
	kill -KILL "$wpid"
	wait "$wpid" || true
	nsfd_wait_gone "$(cat "$(nsfd_tmpdir)/slow.pid")" 10

	# The host never saw the wrapper's overlay; the next start goes ahead.
	nsfd_assert_mounts_equal "$SNAP"
	nsfd_wrapper_create_start "$B" "$b"
	_wwait_file "$b" /etc/runs
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$b" ]
	# The engine's cleanup of the failed create.
	nsfd_wrapper delete --force "$a"
	[ "$status" -eq 0 ]
	[ "$(jq -r .container "$(_layer "$VOL")/holder.json")" = "$b" ]
	nsfd_wrapper_gone "$a"
	nsfd_wrapper_stop_delete "$b"
	nsfd_wrapper_gone "$b" "$VOL"
	nsfd_fault_assert_clean "$b" "$SNAP"
}
