#!/usr/bin/env bats
# Hostile peers of the handshake (docs/security.md, "Hostile inputs"). A container is
# created with nsfdsuds-hook at createRuntime, so its mounter waits on
# /run/nsfdsuds/<id>/socket, and with a gate at createContainer that holds the real
# agent back until the test has attacked the mounter (tests/lib/security.bash). Each
# attack must be refused with a reason sent back to the attacker, and leave the mounter
# exactly as it was (alive, socket in place, the same open files: every fd it was sent
# is closed), the volume unchanged, nothing mounted in the container's namespace or on
# the host. Then the gate opens and the real container must still get its persistent
# root. runc 1.1.5 on the host; crun where runc pre-opens the root (sid).
#
# Also here: a mounter whose container dies before createContainer, and an agent whose
# mounter never answers.

load ../lib/common
load ../lib/hook
load ../lib/security

setup () {
	nsfd_hook_setup
	command -v python3 >/dev/null || skip "needs python3"
}

teardown () {
	sec_teardown
}

# _held_mounter [HANDSHAKE_SECONDS] [nsfd_bundle options]: a container held at the
# gate. Sets rt, cfg, vol, b, id, snap, and the "before" pictures.
_held_mounter () {
	local hs=${1:-10}
	shift || true
	rt=$(sec_rt)
	cfg=$(sec_config "$hs")
	vol=$(nsfd_hook_volume)
	b=$(nsfd_tmpdir bundle)
	sec_gated_bundle "$b" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "sh -c 'stat -f -c %t /; echo persisted >/root/x'" "$@"
	mkdir -p "$b/rootfs/data"
	chown --reference="$b/rootfs" "$b/rootfs/data"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id hs-$rt)
	sec_gated_create "$rt" "$b" "$id"
	fds_before=$(_mounter_files)
	vol_before=$(nsfd_tree_digest "$vol")
	ns_before=$(_container_mounts)
	[ -n "$fds_before" ]
	[ -n "$ns_before" ]
}

# The container's mount table, seen through the gate process (in its namespaces).
_container_mounts () {
	awk '{ $1 = ""; $2 = ""; print }' "/proc/$SEC_GATE_PID/mountinfo" | LC_ALL=C sort
}

# The mounter's open files that are not sockets. Sockets are left out: besides its
# listening socket it may hold a connection to /dev/log, which comes and goes with
# whoever provides /dev/log (other test files bind one while they run).
_mounter_files () {
	sec_mounter_fds | grep -v '^socket:' || true
}

# After an attack: nothing changed anywhere, and the mounter still waits. It holds no
# namespace fd and no pipe (every fd it was sent is closed) and the same files as
# before; the peer saw the connection closed (checked by the callers).
_mounter_unharmed () {
	local after i
	[[ -d /proc/$SEC_MPID && $(awk '{ print $3 }' "/proc/$SEC_MPID/stat") != Z ]] ||
		{ echo "the mounter is gone"; return 1; }
	[ -S "$SEC_SOCK" ]
	after=$(sec_mounter_fds)
	if grep -E '^(cgroup|ipc|mnt|net|pid|time|user|uts):\[|^pipe:' <<<"$after"; then
		echo "the mounter kept fds it was sent"
		return 1
	fi
	after=$(_mounter_files)
	diff <(echo "$fds_before") <(echo "$after") || { echo "the mounter's open files changed"; return 1; }
	after=$(nsfd_tree_digest "$vol")
	diff <(echo "$vol_before") <(echo "$after") || { echo "the volume changed"; return 1; }
	after=$(_container_mounts)
	diff <(echo "$ns_before") <(echo "$after") || { echo "the container's mounts changed"; return 1; }
	local now
	now=$(nsfd_tmpdir .snap)/now
	nsfd_hook_snapshot "$now"
	nsfd_assert_mounts_equal "$snap" "$now"
}

# _refused_reply TEXT: the attacker got TEXT as the mounter's answer, then the mounter
# closed the connection.
_refused_reply () {
	[[ $output == *"reply: status="*" text=$1"* ]] || { echo "no answer saying: $1"; return 1; }
	[[ $output == *"server closed: yes"* ]] || { echo "the mounter kept the connection open"; return 1; }
}

# Open the gate: the real agent hands over, the container starts on its persistent
# root (an overlay), writes into the layer, and everything goes away with it.
_real_container_starts () {
	local cmd d
	cmd=$(nsfd_runtime_cmd "$rt")
	d=$(nsfd_tmpdir .runtime)
	sec_open_gate
	echo "create: status $SEC_CREATE_STATUS"; cat "$d/$id.err"
	[ "$SEC_CREATE_STATUS" -eq 0 ]
	timeout -k 5 30 $cmd start "$id" </dev/null >/dev/null 2>&1 3>&-
	nsfd_wait_state "$rt" "$id" stopped 20
	echo "container said:"; cat "$d/$id.out"
	grep -qx 794c7630 "$d/$id.out"
	[ "$(cat "$vol/.nsfdsuds/default/upper/root/x")" = persisted ]
	nsfd_delete "$rt" "$id"
	nsfd_wait_gone "$SEC_MPID" 5
	sec_assert_no_leftovers "$id" "$snap"
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
}

# --- who may connect -------------------------------------------------------------------

@test "security handshake: another uid (nobody) cannot even connect" {
	_held_mounter
	run setpriv --reuid 65534 --regid 65534 --clear-groups -- "$SEC_PYTHON" "$SEC_PEER" "$SEC_SOCK" own-ns --id "$id"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "connect: EACCES" ]
	_mounter_unharmed
	_real_container_starts
}

@test "security handshake: root on the host sending its own namespaces is refused" {
	_held_mounter
	run sec_peer "$SEC_SOCK" own-ns --id "$id"
	echo "$output"
	[ "${lines[0]}" = "connect: ok" ]
	_refused_reply "the mount namespace sent is not the one of container \"$id\""
	[[ $output == *"reply: status=1 "* ]]
	_mounter_unharmed
	_real_container_starts
}

@test "security handshake: host root is not a user-namespaced container's root" {
	_held_mounter 10 --userns
	run sec_peer "$SEC_SOCK" own-ns --id "$id"
	echo "$output"
	[ "${lines[0]}" = "connect: ok" ]
	_refused_reply "refused: not this container's root user"
	[[ $output == *"reply: status=1 "* ]]
	_mounter_unharmed
	_real_container_starts
}

# The right uid (the container's mapped root) from outside the container.
@test "security handshake: the container's host uid with other namespaces is refused" {
	_held_mounter 10 --userns
	run setpriv --reuid "$NSFD_USERNS_HOST_ID" --regid "$NSFD_USERNS_HOST_ID" --clear-groups -- \
		"$SEC_PYTHON" "$SEC_PEER" "$SEC_SOCK" own-ns --id "$id"
	echo "$output"
	[ "${lines[0]}" = "connect: ok" ]
	_refused_reply "the mount namespace sent is not the one of container \"$id\""
	[[ $output == *"reply: status=1 "* ]]
	_mounter_unharmed
	_real_container_starts
}

@test "security handshake: namespaces sent for another container id are refused" {
	_held_mounter
	run sec_peer "$SEC_SOCK" own-ns --id "${id}-other"
	echo "$output"
	_refused_reply "refused: expected this container's namespaces"
	_mounter_unharmed
	_real_container_starts
}

# --- what is sent ----------------------------------------------------------------------------

@test "security handshake: a pipe labelled as a mount namespace is refused" {
	_held_mounter
	run sec_peer "$SEC_SOCK" pipe
	echo "$output"
	_refused_reply 'FDS: fd #0: fd '
	[[ $output == *" is not a namespace (expected mnt)"* ]]
	_mounter_unharmed
	_real_container_starts
}

@test "security handshake: a net namespace labelled as a mount namespace is refused" {
	_held_mounter
	run sec_peer "$SEC_SOCK" mislabel
	echo "$output"
	_refused_reply 'FDS: fd #0: fd '
	[[ $output == *" is a net namespace, expected mnt"* ]]
	_mounter_unharmed
	_real_container_starts
}

@test "security handshake: 9 fds (one more than allowed) are refused" {
	_held_mounter
	run sec_peer "$SEC_SOCK" many 9
	echo "$output"
	_refused_reply 'FDS: invalid fd count 9 (1..8)'
	_mounter_unharmed
	_real_container_starts
}

@test "security handshake: 200 fds are refused and none is kept" {
	_held_mounter
	run sec_peer "$SEC_SOCK" many 200
	echo "$output"
	# The kernel fills the receiver's room (9 fds and padding) and truncates the rest.
	[[ $output == *"text=more than 9 fds received"* || $output == *"text=control data truncated (too many fds)"* ]]
	_refused_reply ''
	[[ $output == *"reply: status=71 "* ]]
	_mounter_unharmed
	_real_container_starts
}

@test "security handshake: garbage bytes are refused" {
	_held_mounter
	run sec_peer "$SEC_SOCK" garbage
	echo "$output"
	_refused_reply 'bad magic 0x0a090807'
	_mounter_unharmed
	_real_container_starts
}

@test "security handshake: an oversized message is refused" {
	_held_mounter
	run sec_peer "$SEC_SOCK" oversize
	echo "$output"
	_refused_reply 'message larger than 4096 bytes'
	_mounter_unharmed
	_real_container_starts
}

# A client connects first and says nothing. The mounter serves one connection at a
# time: it must drop this one after handshakeTimeoutSeconds (3 here) and then serve
# the real agent, which arrives meanwhile and waits in the backlog.
@test "security handshake: a client that stalls is dropped and the real agent is served" {
	local peer_out pp
	_held_mounter 3
	peer_out=$(nsfd_tmpdir)/stall.out
	sec_peer "$SEC_SOCK" stall 0 >"$peer_out" 2>&1 &
	pp=$!
	nsfd_track_pid "$pp"
	# Let the stalling client be accepted first.
	nsfd_wait_until 5 grep -q 'connect: ok' "$peer_out"
	_real_container_starts
	wait "$pp"
	cat "$peer_out"
	grep -q 'reply: status=71 text=waiting for a handshake message: no answer from the peer within 3000 ms' "$peer_out"
	grep -q 'server closed: yes' "$peer_out"
}

# --- bounded waits on both sides -------------------------------------------------------------

# The runtime fails before createContainer (a createContainer hook ahead of ours exits
# 1), so nobody ever connects. poststop is not registered: the mounter must notice on
# its own (the container's init is gone) and clean up: socket and runtime dir removed,
# layer released, process gone, long before mounterLifetimeSeconds (60 s).
@test "security handshake: a mounter whose container never reaches createContainer cleans up" {
	local rt cfg vol b id snap sync rec mpid t0
	rt=$(sec_rt)
	cfg=$(sec_config 10 60)
	vol=$(nsfd_hook_volume)
	sync=$(sec_sync)
	id=$(nsfd_unique_id never-$rt)
	b=$(nsfd_tmpdir bundle)
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "echo MARKER-RAN" \
		--hook createRuntime "$NSFD_HOOK_BIN" --config "$cfg" createRuntime \
		--hook createContainer /bin/sh -c "cat $NSFD_HOOK_RUNDIR/$id/record >$sync/record; exit 1" \
		--hook-env PATH=/usr/bin:/bin \
		--hook createContainer "$NSFD_HOOK_BIN" --config "$cfg" createContainer
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	t0=$SECONDS
	nsfd_run_container "$rt" "$b" "$id"
	echo "status $status"; echo "$output"
	[ "$status" -ne 0 ]
	[[ $output != *MARKER-RAN* ]]
	cat "$sync/record"
	mpid=$(jq -r .mounterPid "$sync/record")
	[ "$mpid" -gt 1 ]
	nsfd_wait_gone "$mpid" 5
	[ $((SECONDS - t0)) -lt 20 ]
	[ ! -e "$NSFD_HOOK_RUNDIR/$id" ]
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
	[ -z "$(ls -A "$vol/.nsfdsuds/default/upper")" ]
	nsfd_delete "$rt" "$id" || true
	sec_assert_no_leftovers "$id" "$snap"
}

# _agent_vs_fake MODE: the agent (createContainer, run directly) talks to a fake
# mounter at a socket of a test runDir. Sets status/output, sec_elapsed.
_agent_vs_fake () {
	local mode=$1 run cfg st fake_out pp
	run=$(sec_short_dir)
	chmod 0711 "$run"
	cfg=$(sec_config 1)
	# The agent only needs the socket path: point runDir at the test's.
	sed -i "s|^{|{\"runDir\":\"$run\",|" "$cfg"
	id=$(nsfd_unique_id agent-$mode)
	mkdir -m 0711 "$run/$id"
	fake_out=$(nsfd_tmpdir)/fake.out
	sec_peer "$run/$id/socket" fake-mounter "$mode" 20 >"$fake_out" 2>&1 &
	pp=$!
	nsfd_track_pid "$pp"
	nsfd_wait_until 5 test -S "$run/$id/socket" || true
	st=$(nsfd_tmpdir .hook)/state.json
	sec_state "$id" /nonexistent 1 >"$st"
	sec_hook "$cfg" createContainer "$st"
	cat "$fake_out"
	kill "$pp" 2>/dev/null || true
}

@test "security handshake: an agent whose mounter never answers gives up with a clear error" {
	_agent_vs_fake silent
	# handshakeTimeoutSeconds 1: the agent waits 2 x 1 s + 1 s for the mounter's work.
	sec_assert_refused "createContainer: the container cannot get its persistent root: waiting for the mounter's answer: waiting for a handshake message: no answer from the peer within 3000 ms"
	awk -v e="$sec_elapsed" 'BEGIN { exit !(e >= 2.9 && e < 6) }'
}

@test "security handshake: an agent whose mounter hangs up gives up with a clear error" {
	_agent_vs_fake close
	# Depending on when the hang-up lands: the send or the wait for the answer fails.
	sec_assert_refused "createContainer: the container cannot get its persistent root: "
	[[ $output == *"sending the container's namespaces to the mounter: "* ||
		$output == *"waiting for the mounter's answer: "* ]]
	awk -v e="$sec_elapsed" 'BEGIN { exit !(e < 4) }'
}

@test "security handshake: an agent whose mounter answers garbage refuses it" {
	_agent_vs_fake garbage
	sec_assert_refused "waiting for the mounter's answer: bad magic 0xffffffff"
	awk -v e="$sec_elapsed" 'BEGIN { exit !(e < 4) }'
}
