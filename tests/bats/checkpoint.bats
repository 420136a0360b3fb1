#!/usr/bin/env bats
# Checkpoint and restore (CRIU) of containers with a persistent root, through the runtime
# wrapper with runc and crun: the restored processes continue on their layer, on this
# "node" or on another one (the volume copied to another path, another bundle and id); a
# checkpoint is refused on another layer, a changed image or a layer used since, unless
# nsfdsuds.io/restore-any-layer; the wrapper killed at each step of a restore leaves
# nothing behind. Needs a CRIU that passes `criu check` (the sid tree's 4.2.1; the host's
# 3.17 fails on this kernel): otherwise every test skips with criu's own message.
# docs/checkpoint.md.

[[ -n ${NSFD_FAULT_BUILD_DIR:-} && ${NSFD_CKPT_FAULTS:-0} == 1 ]] && export NSFD_BUILD_DIR=$NSFD_FAULT_BUILD_DIR
load ../lib/common
load ../lib/hook
load ../lib/wrapper
load ../lib/faults

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_RUNTIME_BIN"
	_skip_unless_criu
}

teardown () {
	nsfd_wrapper_teardown
}

_skip_unless_criu () {
	local msg
	command -v criu >/dev/null || skip "criu is not installed"
	msg=$(timeout 60 criu check 2>&1 </dev/null 3>&-) || skip "criu check fails: $(tail -n1 <<<"$msg")"
}

# The container: a counter only in memory (written to /counter for the test to read) and
# a log held open on fd 3 in the persistent root. Its stdio are the container's own
# /dev/null: CRIU cannot dump files of the host's that the container does not see.
_COUNTER='exec </dev/null >/dev/null 2>&1; mkdir -p /var/log; exec 3>>/var/log/app.log; i=0; while :; do i=$((i+1)); echo $i >/counter; echo $i >&3; sleep 0.2; done'

# _ckpt_bundle DIR VOL [ANNOTATION...]
_ckpt_bundle () {
	local b=$1 vol=$2 a
	shift 2
	local -a ann=(--annotation nsfdsuds.io/persist=/data)
	for a; do ann+=(--annotation "$a"); done
	mkdir -p "$vol"
	# The host's network namespace: CRIU locks a container's own network with
	# iptables-restore, which the tree does not have (docs/checkpoint.md).
	nsfd_bundle "$b" --mount "$vol:/data" "${ann[@]}" --args "sh -c '$_COUNTER'" \
		--jq '.linux.namespaces |= map(select(.type != "network"))'
	mkdir -p "$b/rootfs/data"
}

# nsfd_wrapper_setup, and for crun its default state root: crun 1.28 checkpoints the
# shared empty directory of masked paths under the default root whatever --root says,
# and its restore then fails ("mnt: No mapping for ...": containers/crun#2239).
_setup () {
	nsfd_wrapper_setup "$1"
	if [[ $1 == crun ]]; then
		NSFD_W_ROOT=/run/crun
		mkdir -p "$NSFD_W_ROOT"
	fi
}

_upper () { printf '%s/.nsfdsuds/%s/upper\n' "$1" "${2:-default}"; }
_counter () { cat "$(_upper "$1")/counter" 2>/dev/null || echo 0; }

# _wait_counter VOL MIN: bounded wait until the counter in VOL's layer is >= MIN.
_wait_counter () {
	local i
	for ((i = 0; i < 100; i++)); do
		(($(_counter "$1") >= $2)) && return 0
		sleep 0.1
	done
	echo "counter in $1 stayed at $(_counter "$1") (wanted >= $2)" >&2
	return 1
}

# _checkpoint ID IMG [OPTIONS...]
_checkpoint () {
	local id=$1 img=$2
	shift 2
	mkdir -p "$img.work"
	nsfd_wrapper checkpoint --image-path "$img" --work-path "$img.work" "$@" "$id"
	echo "checkpoint $id: $status: $output"
	((status == 0)) || _criu_log "$img.work"/dump.log
	return 0
}

# The end of a CRIU log, for a failure's message.
_criu_log () {
	local f
	for f; do
		[[ -f $f ]] && { echo "--- $f"; grep -E 'Error|error|Warn' "$f" | tail -n 15; }
	done
	return 0
}

# _restore BUNDLE ID IMG: restore --detach, tracked for cleanup.
_restore () {
	local b=$1 id=$2 img=$3
	nsfd_track_container "$NSFD_W_REAL --root $NSFD_W_ROOT" "$id"
	nsfd_track_container "$(_nsfd_wrapper_cmdline)" "$id"
	_nsfd_track wrapper-id "$id"
	mkdir -p "$img.rwork"
	nsfd_wrapper restore --image-path "$img" --work-path "$img.rwork" --bundle "$b" --detach \
		--pid-file "$NSFD_W_DIR/$id.pid" "$id"
	echo "restore $id: $status: $output"
	((status == 0)) || _criu_log "$img.rwork"/restore.log
	if ((status != 0)) && [[ -n ${NSFD_CKPT_DEBUG:-} ]]; then mkdir -p "$NSFD_CKPT_DEBUG"; cp -a "$img.rwork" "$img.work" "$NSFD_CKPT_DEBUG/" || true; fi
	return 0
}

_gen () { cat "$1/.nsfdsuds/${2:-default}/generation"; }

# The log holds 1..N, one per line, with no restart: the same file was appended to.
_assert_log_continuous () {
	local log=$1 n
	n=$(wc -l <"$log")
	[ "$n" -ge 2 ] || { echo "log $log has $n lines"; return 1; }
	[ "$(seq 1 "$n")" = "$(cat "$log")" ] || { echo "log $log is not 1..$n:"; tail "$log"; return 1; }
}

# --- restore on the same node, default stop -----------------------------------------

_same_node () {
	local rt=$1 b vol id img c1 ino before
	_setup "$rt"
	b=$(nsfd_tmpdir bundle)
	vol=$NSFD_W_VOLS/vol
	img=$(nsfd_tmpdir)/img
	id=$(nsfd_unique_id "cr-$rt")
	_ckpt_bundle "$b" "$vol"
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"

	nsfd_wrapper_create_start "$b" "$id"
	_wait_counter "$vol" 5
	[ "$(_gen "$vol")" = 1 ]
	_checkpoint "$id" "$img"
	[ "$status" -eq 0 ]
	# The record: this layer, its image, its generation.
	jq . "$img/nsfdsuds-checkpoint.json"
	[ "$(jq -r .layerName "$img/nsfdsuds-checkpoint.json")" = default ]
	[ "$(jq -r .generation "$img/nsfdsuds-checkpoint.json")" = 1 ]
	[ "$(jq -r .leftRunning "$img/nsfdsuds-checkpoint.json")" = false ]
	[ "$(jq -r .lowerId "$img/nsfdsuds-checkpoint.json")" = "$(jq -r .lowerId "$vol/.nsfdsuds/default/layer.json")" ]
	[ "$(jq -r .layerPath "$img/nsfdsuds-checkpoint.json")" = "$(realpath "$vol/.nsfdsuds/default")" ]
	# Stopped: the processes are gone, the layer is free.
	nsfd_wrapper_gone "$id" "$vol"
	c1=$(_counter "$vol")
	ino=$(stat -c %i "$(_upper "$vol")/var/log/app.log")
	sleep 0.5
	[ "$(_counter "$vol")" = "$c1" ]

	_restore "$b" "$id" "$img"
	[ "$status" -eq 0 ]
	[ "$(nsfd_wrapper_state "$id")" = running ]
	[[ $(nsfd_wrapper_holder "$vol") == *"\"$id\""* ]]
	[ "$(jq -r .pid "$vol/.nsfdsuds/default/holder.json")" = "$(cat "$NSFD_W_DIR/$id.pid")" ]
	[ "$(_gen "$vol")" = 2 ]
	# The memory counter goes on from where it was; the log is the same file.
	_wait_counter "$vol" $((c1 + 5))
	[ "$(stat -c %i "$(_upper "$vol")/var/log/app.log")" = "$ino" ]
	nsfd_wrapper_exec "$id" sh -c 'awk "\$5 == \"/\" { for (i = 6; \$i != \"-\"; i++); print \$(i + 1) }" /proc/self/mountinfo; ls -A /data'
	[ "$status" -eq 0 ]
	[ "$output" = overlay ]
	nsfd_wrapper_stop_delete "$id"
	nsfd_wrapper_gone "$id" "$vol"
	_assert_log_continuous "$(_upper "$vol")/var/log/app.log"
	nsfd_assert_mounts_equal "$before"
	[ ! -e "$b/rootfs/counter" ]
}

@test "checkpoint: runc: restore on the same node continues on the layer" { _same_node runc; }
@test "checkpoint: crun: restore on the same node continues on the layer" { _same_node crun; }
