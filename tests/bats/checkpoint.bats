#!/usr/bin/env bats
# Checkpoint and restore (CRIU) of containers with a persistent root, through the runtime
# wrapper with runc and crun: the restored processes continue on their layer, on this
# "node" or on another one (the volume copied to another path, another bundle and id); a
# checkpoint is refused on another layer, a changed image or a layer used since, unless
# nsfdsuds.io/restore-any-layer; the wrapper killed at each step of a restore leaves
# nothing behind. Needs a CRIU that passes `criu check` (the sid tree's 4.2.1; the host's
# 3.17 fails on this kernel): otherwise every test skips with criu's own message.
# docs/checkpoint.md.

# The fault points (restore faults below) are in a build of their own; its binaries behave
# as the normal ones unless NSFDSUDS_TEST_FAULT is set.
[[ -n ${NSFD_FAULT_BUILD_DIR:-} ]] && export NSFD_BUILD_DIR=$NSFD_FAULT_BUILD_DIR
bats_require_minimum_version 1.5.0
load ../lib/common
load ../lib/hook
load ../lib/wrapper
load ../lib/faults
load ../lib/engines

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_RUNTIME_BIN"
	_skip_unless_criu
	_skip_unless_plain_checkpoint
}

teardown () {
	nsfd_podman_cleanup
	nsfd_wrapper_teardown
	_cgroup2_cleanup
}

_skip_unless_criu () {
	local msg
	command -v criu >/dev/null || skip "criu is not installed"
	msg=$(timeout 60 criu check 2>&1 </dev/null 3>&-) || skip "criu check fails: $(tail -n1 <<<"$msg")"
}

# CRIU can pass `criu check` and still be unable to dump here (seen on a shared machine: a
# dump stalling for minutes at its start). Once per run, the real runc checkpoints and
# restores a plain container, without nsfdsuds; when that fails, this environment cannot
# run these tests and they skip with the step that failed and CRIU's reason. A failure of
# ours with a working plain checkpoint still fails the test.
_skip_unless_plain_checkpoint () {
	local cache=$NSFD_SUITE_CACHE/criu-plain-checkpoint b id img rt step st=0
	if [[ ! -f $cache ]]; then
		b=$(nsfd_tmpdir preflight)
		img=$(nsfd_tmpdir preflight-img)
		id=$(nsfd_unique_id ckpre)
		rt=$(nsfd_runtime_cmd runc)
		nsfd_bundle "$b" --args "sh -c 'exec </dev/null >/dev/null 2>&1; while :; do sleep 0.2; done'" \
			--jq '.linux.namespaces |= map(select(.type != "network"))'
		nsfd_track_container runc "$id"
		step=run
		timeout -k 5 30 $rt run -d --bundle "$b" "$id" </dev/null >/dev/null 2>&1 3>&- &&
			step=checkpoint &&
			timeout -k 5 60 $rt checkpoint --image-path "$img" --work-path "$img" "$id" </dev/null >/dev/null 2>&1 3>&- &&
			step=restore &&
			timeout -k 5 60 $rt restore -d --image-path "$img" --work-path "$img" --bundle "$b" "$id" \
				</dev/null >/dev/null 2>&1 3>&- || st=$?
		timeout -k 5 30 $rt delete -f "$id" </dev/null >/dev/null 2>&1 3>&- || true
		if ((st == 0)); then
			echo ok >"$cache"
		else
			_plain_failure "$step" "$st" "$img" >"$cache"
		fi
	fi
	[[ $(cat "$cache") == ok ]] ||
		skip "CRIU cannot checkpoint and restore a plain runc container here: $(cat "$cache")"
}

# _plain_failure STEP STATUS IMG: one line, the step, how it ended, CRIU's last error.
# CRIU logs "rlimit: Can't setup RLIMIT_NOFILE for self" as an error on every dump and
# restore where root cannot raise RLIMIT_NOFILE (no CAP_SYS_RESOURCE in the bounding set)
# and carries on: that line is never the reason.
_plain_failure () {
	local step=$1 st=$2 img=$3 log
	case $step in
	checkpoint) log=$img/dump.log ;;
	restore) log=$img/restore.log ;;
	esac
	if ((st == 124 || st == 137)); then
		printf 'runc %s timed out' "$step"
	else
		printf 'runc %s exited with status %s' "$step" "$st"
	fi
	[[ -n ${log:-} && -f $log ]] &&
		grep -E 'Error' "$log" | grep -v 'Can.t setup RLIMIT_NOFILE' | tail -n 1 | sed 's/^/: /' | tr -d '\n'
	echo
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
		_CRUN_USED=1
	fi
}

# The tree runs crun on the cgroup v1 hierarchies (enter.sh), so its containers stay in
# the root of the host's cgroup2 hierarchy. CRIU (default soft mode) dumps a task's cgroup
# with every cgroup below it, and crun's restore re-creates that below /<id> in every
# hierarchy, cgroup2 included, where nothing removes it (crun does not see cgroup2 here):
# each crun restore copied the whole host cgroup2 tree once more (352,000 directories
# after a dozen runs; CRIU then spent minutes walking them in every dump). After each
# test that used crun, the cgroup2 directories named after the suite's
# containers go, depth first (rmdir: only empty cgroups), through a cgroup2 mount of this
# namespace's own.
_cgroup2_cleanup () {
	local m d rc=0
	[[ -n ${_CRUN_USED:-} ]] || return 0
	# Not nsfd_tmpdir: the test's own cleanup has run by now.
	m=$(mktemp -d "$NSFD_SUITE_CACHE/cgroup2.XXXXXX")
	if ! mount -t cgroup2 nsfd-cg2 "$m"; then
		rmdir "$m"
		return 0
	fi
	for d in "$m/$NSFD_ID_PREFIX"-*; do
		[[ -d $d ]] || continue
		find "$d" -depth -type d -exec rmdir {} + || rc=1
	done
	umount "$m"
	rmdir "$m"
	((rc == 0)) || echo "cgroup2 directories of the suite's containers could not all be removed" >&2
	return $rc
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
	# runc and crun take seconds around CRIU's own 0.1 s; CRIU has been seen to stall for
	# 40 s at its start on this shared machine.
	NSFD_RUN_TIMEOUT=180 nsfd_wrapper checkpoint --image-path "$img" --work-path "$img.work" "$@" "$id"
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
	NSFD_RUN_TIMEOUT=180 nsfd_wrapper restore --image-path "$img" --work-path "$img.rwork" --bundle "$b" --detach \
		--pid-file "$NSFD_W_DIR/$id.pid" "$id"
	echo "restore $id: $status: $output"
	((status == 0)) || _criu_log "$img.rwork"/restore.log
	return 0
}

_gen () { cat "$1/.nsfdsuds/${2:-default}/generation" 2>/dev/null || echo none; }

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
	_checkpoint "$id" "$img" --no-such-option
	[ "$status" -ne 0 ]
	[ "$(nsfd_wrapper_state "$id")" = running ]
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

# --- restore on another node -------------------------------------------------------

# Checkpointed under one bundle and id; the volume copied (xattrs kept) to another path
# and restored there from another bundle (same image, fresh rootfs) with another id.
_elsewhere () {
	local rt=$1 b1 b2 vol1 vol2 id1 id2 img img2 c1 n1 before
	_setup "$rt"
	b1=$(nsfd_tmpdir bundle1)
	b2=$(nsfd_tmpdir bundle2)
	vol1=$NSFD_W_VOLS/node1/vol
	vol2=$NSFD_W_VOLS/node2/vol
	img=$(nsfd_tmpdir)/img
	img2=$(nsfd_tmpdir)/node2-img
	id1=$(nsfd_unique_id "n1-$rt")
	id2=$(nsfd_unique_id "n2-$rt")
	_ckpt_bundle "$b1" "$vol1"
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"

	nsfd_wrapper_create_start "$b1" "$id1"
	_wait_counter "$vol1" 5
	_checkpoint "$id1" "$img"
	[ "$status" -eq 0 ]
	nsfd_wrapper_gone "$id1" "$vol1"
	c1=$(_counter "$vol1")
	n1=$(wc -l <"$(_upper "$vol1")/var/log/app.log")
	# What moves: the volume (layer and all) and the checkpoint images.
	mkdir -p "${vol2%/*}"
	cp -a --preserve=all "$vol1" "$vol2"
	cp -a --preserve=all "$img" "$img2"
	# What the user checks on the new node before restoring (docs/checkpoint.md).
	run --separate-stderr "$NSFD_CLI_BIN" layer info "$vol2" --json
	[ "$(jq -c '[.generation, .checkpointMark]' <<<"$output")" = '[1,{"generation":1,"current":true}]' ]
	_ckpt_bundle "$b2" "$vol2"

	_restore "$b2" "$id2" "$img2"
	[ "$status" -eq 0 ]
	[[ $(nsfd_wrapper_holder "$vol2") == *"\"$id2\""* ]]
	_wait_counter "$vol2" $((c1 + 5))
	nsfd_wrapper_exec "$id2" sh -c 'echo moved >/etc/moved; cat /counter'
	[ "$status" -eq 0 ]
	((output > c1))
	[ "$(cat "$(_upper "$vol2")/etc/moved")" = moved ]
	nsfd_wrapper_stop_delete "$id2"
	nsfd_wrapper_gone "$id2" "$vol2"
	# The new node's layer went on; the old one is as it was at the checkpoint.
	_assert_log_continuous "$(_upper "$vol2")/var/log/app.log"
	(($(wc -l <"$(_upper "$vol2")/var/log/app.log") > n1))
	[ "$(wc -l <"$(_upper "$vol1")/var/log/app.log")" = "$n1" ]
	[ "$(_counter "$vol1")" = "$c1" ]
	[ ! -e "$(_upper "$vol1")/etc/moved" ]
	[ "$(_gen "$vol2")" = 2 ]
	[ "$(_gen "$vol1")" = 1 ]
	[ ! -e "$b1/rootfs/counter" ] && [ ! -e "$b2/rootfs/counter" ]
	nsfd_assert_mounts_equal "$before"
}

@test "checkpoint: runc: restore on another node from a copy of the volume" { _elsewhere runc; }
@test "checkpoint: crun: restore on another node from a copy of the volume" { _elsewhere crun; }

@test "checkpoint: crun: --leave-running keeps the container and its layer" {
	local b vol id img c1
	_setup crun
	b=$(nsfd_tmpdir bundle)
	vol=$NSFD_W_VOLS/vol
	img=$(nsfd_tmpdir)/img
	id=$(nsfd_unique_id lr)
	_ckpt_bundle "$b" "$vol"
	nsfd_wrapper_create_start "$b" "$id"
	_wait_counter "$vol" 3
	_checkpoint "$id" "$img" --leave-running
	[ "$status" -eq 0 ]
	[ "$(jq -r .leftRunning "$img/nsfdsuds-checkpoint.json")" = true ]
	[ "$(nsfd_wrapper_state "$id")" = running ]
	[ -d "$NSFD_W_RUNDIR/$id" ]
	[[ $(nsfd_wrapper_holder "$vol") == *"\"$id\""* ]]
	c1=$(_counter "$vol")
	_wait_counter "$vol" $((c1 + 3))
	nsfd_wrapper_stop_delete "$id"
	nsfd_wrapper_gone "$id" "$vol"
}

# --- refusals --------------------------------------------------------------------------

# A container that holds nothing open in its root (so CRIU itself minds no change).
_QUIET='exec </dev/null >/dev/null 2>&1; while :; do sleep 0.2; done'

# _refused BUNDLE VOL IMG TEXT: the restore fails naming TEXT and leaves nothing.
_refused () {
	local b=$1 vol=$2 img=$3 text=$4 id gen
	id=$(nsfd_unique_id rf)
	gen=$(_gen "$vol")
	_restore "$b" "$id" "$img"
	[ "$status" -ne 0 ]
	[[ $output == *"$text"* ]] || { echo "expected: $text"; return 1; }
	[[ $output == *"nsfdsuds.io/restore-any-layer"* ]]
	nsfd_wrapper_gone "$id" "$vol"
	[ "$(_gen "$vol")" = "$gen" ]
}

@test "checkpoint: runc: restore refuses another layer, a changed image, a layer used since, no record, a copy without its generation or its xattrs" {
	local b vol id img v b2 before
	_setup runc
	b=$(nsfd_tmpdir bundle)
	vol=$NSFD_W_VOLS/vol
	img=$(nsfd_tmpdir)/img
	id=$(nsfd_unique_id rs)
	mkdir -p "$vol"
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "sh -c '$_QUIET'" \
		--jq '.linux.namespaces |= map(select(.type != "network"))'
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"
	nsfd_wrapper_create_start "$b" "$id"
	_checkpoint "$id" "$img"
	[ "$status" -eq 0 ]

	# Each case on its own copy of the checkpointed volume.
	_case () {
		v=$NSFD_W_VOLS/$1
		cp -a --preserve=all "$vol" "$v"
		b2=$(nsfd_tmpdir "bundle-$1")
		shift
		nsfd_bundle "$b2" --mount "$v:/data" --annotation nsfdsuds.io/persist=/data --args "sh -c '$_QUIET'" \
			--jq '.linux.namespaces |= map(select(.type != "network"))' "$@"
	}
	_case other --annotation nsfdsuds.io/layer=other
	_refused "$b2" "$v" "$img" 'belongs to layer "default"'
	_case image --annotation nsfdsuds.io/accept-image-change=true
	echo changed >>"$b2/rootfs/etc/os-release"
	_refused "$b2" "$v" "$img" "the image changed"
	_case fresh
	rm -rf "$v/.nsfdsuds"
	_refused "$b2" "$v" "$img" "another layer of the same name"
	_case used
	nsfd_track_container "$(_nsfd_wrapper_cmdline)" used-$id
	# A container that came and went on the copy: its generation moved on.
	nsfd_bundle "$(nsfd_tmpdir bundle-once)" --mount "$v:/data" --annotation nsfdsuds.io/persist=/data --args "true"
	nsfd_wrapper run --bundle "$(nsfd_tmpdir bundle-once)" "used-$id"
	[ "$status" -eq 0 ]
	[ "$(_gen "$v")" = 2 ]
	_refused "$b2" "$v" "$img" "used after the checkpoint"
	# A copy of the layer without its generation file.
	_case nogen
	rm "$v/.nsfdsuds/default/generation"
	_refused "$b2" "$v" "$img" 'copied without its "generation" file'
	# The layer moved as docs/layer-format.md backs it up (a tar of the layer directory)
	# keeps its generation: restored.
	_case tarred
	rm -rf "$v/.nsfdsuds"
	mkdir -m 0700 -p "$v/.nsfdsuds/default"
	tar --xattrs --xattrs-include='trusted.*' --numeric-owner -C "$vol/.nsfdsuds/default" -czf "$v.tgz" .
	tar --xattrs --xattrs-include='trusted.*' --numeric-owner -C "$v/.nsfdsuds/default" -xpzf "$v.tgz"
	[ "$(_gen "$v")" = 1 ]
	_restore "$b2" "tar-$id" "$img"
	[ "$status" -eq 0 ]
	[ "$(_gen "$v")" = 2 ]
	nsfd_wrapper_stop_delete "tar-$id"
	nsfd_wrapper_gone "tar-$id" "$v"
	# A copy that dropped the extended attributes (tar without --xattrs): the checkpoint's
	# mark on the layer directory is gone, and so are the overlay's opaque marks.
	v=$NSFD_W_VOLS/noxattrs
	mkdir -p "$v"
	tar --numeric-owner -C "$vol" -cf - . | tar --numeric-owner -C "$v" -xpf -
	[ "$(_gen "$v")" = 1 ]
	run "$NSFD_CLI_BIN" layer info "$v"
	grep -q '^checkpoint  none taken$' <<<"$output"
	b2=$(nsfd_tmpdir bundle-noxattrs)
	nsfd_bundle "$b2" --mount "$v:/data" --annotation nsfdsuds.io/persist=/data --args "sh -c '$_QUIET'" \
		--jq '.linux.namespaces |= map(select(.type != "network"))'
	_refused "$b2" "$v" "$img" "has lost its trusted.* extended attributes"
	# No record: a checkpoint taken around the wrapper.
	cp -a "$img" "$img.bare"
	rm "$img.bare/nsfdsuds-checkpoint.json"
	_case bare
	_refused "$b2" "$v" "$img.bare" "has no nsfdsuds-checkpoint.json"

	# The override: the layer used since is restored onto, with a warning.
	_case used2 --annotation nsfdsuds.io/restore-any-layer=true
	echo 5 >"$v/.nsfdsuds/default/generation"
	_restore "$b2" "rs2-$id" "$img"
	[ "$status" -eq 0 ]
	[[ $output == *"used after the checkpoint"*"accepted"* ]]
	[ "$(_gen "$v")" = 6 ]
	nsfd_wrapper_stop_delete "rs2-$id"
	nsfd_wrapper_gone "rs2-$id" "$v"
	nsfd_assert_mounts_equal "$before"
}

# --- hook mode -------------------------------------------------------------------------

# runc 1.3.6 runs the createRuntime hooks of a restore (with CRIU's restorer as the
# container's process) and no createContainer: the hook refuses, naming the wrapper, and
# nothing is restored onto the image root. (crun 1.28 runs no hook at restore at all:
# docs/checkpoint.md.)
@test "checkpoint: hook mode: runc restore fails closed and names the wrapper" {
	local b vol id img cfg before
	_setup runc
	b=$(nsfd_tmpdir bundle)
	vol=$NSFD_W_VOLS/vol
	img=$(nsfd_tmpdir)/img
	id=$(nsfd_unique_id hk)
	mkdir -p "$vol"
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "sh -c '$_QUIET'" \
		--jq '.linux.namespaces |= map(select(.type != "network"))'
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"
	nsfd_wrapper_create_start "$b" "$id"
	_checkpoint "$id" "$img"
	[ "$status" -eq 0 ]
	# The same bundle registered for hook mode, restored by runc itself.
	_nsfd_jq "$b/config.json" --arg h "$NSFD_HOOK_BIN" --arg c "$NSFD_W_CONFIG" '.hooks = {
		createRuntime: [{path: $h, args: [$h, "--config", $c, "createRuntime"]}],
		createContainer: [{path: $h, args: [$h, "--config", $c, "createContainer"]}],
		poststop: [{path: $h, args: [$h, "--config", $c, "poststop"]}]}'
	nsfd_track_container "$NSFD_W_REAL --root $NSFD_W_ROOT" "$id"
	status=0
	timeout -k 5 60 "$NSFD_W_REAL" --root "$NSFD_W_ROOT" restore --image-path "$img" --work-path "$img.work" \
		--bundle "$b" --detach "$id" </dev/null >"$NSFD_W_DIR/hook-restore.out" 2>&1 3>&- || status=$?
	output=$(grep -v 'level=warning' "$NSFD_W_DIR/hook-restore.out" | tail -n 5)
	echo "runc restore: $status: $output"
	[ "$status" -ne 0 ]
	[[ $output == *"this is a restore (CRIU)"*"nsfdsuds-runtime"* ]]
	nsfd_wrapper_gone "$id" "$vol"
	[ "$(_gen "$vol")" = 1 ]
	nsfd_assert_mounts_equal "$before"
}

# --- faults ----------------------------------------------------------------------------

# _restore_fault POINT VOL BUNDLE IMG SNAP: the wrapper killed (SIGKILL) at POINT of a
# restore; then what an engine does after a failed restore (delete --force). Nothing is
# left mounted and the layer is not held (at most a stale holder.json, which blocks
# nothing: docs/layer-format.md).
_restore_fault () {
	local point=$1 vol=$2 b=$3 img=$4 snap=$5 id
	id=$(nsfd_unique_id "rf-$point")
	NSFDSUDS_TEST_FAULT=$point _restore "$b" "$id" "$img"
	[ "$status" -ne 0 ]
	_assert_holder_not_live "$vol"
	nsfd_wrapper delete --force "$id"
	echo "delete --force: $status: $output"
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$id" "$snap"
	nsfd_wrapper_gone "$id"
	_assert_holder_not_live "$vol"
}

# _fault_setup: a checkpointed counter container (sets b, vol, img, snap, old).
_fault_setup () {
	local id0
	nsfd_skip_unless_fault_build
	_setup runc
	b=$(nsfd_tmpdir bundle)
	vol=$NSFD_W_VOLS/vol
	img=$(nsfd_tmpdir)/img
	id0=$(nsfd_unique_id rf0)
	_ckpt_bundle "$b" "$vol"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_fault_snapshot "$snap"
	nsfd_wrapper_create_start "$b" "$id0"
	_wait_counter "$vol" 3
	_checkpoint "$id0" "$img"
	[ "$status" -eq 0 ]
	old=$(nsfd_tree_digest "$(_upper "$vol")")
}

# Before the real runtime runs, the generation has not moved: after each fault the layer
# is unchanged and the same checkpoint restores.
@test "checkpoint: faults: the wrapper killed at each step of a restore before the runtime" {
	local b vol img snap old point id2
	_fault_setup
	for point in restore-after-record wrapper-after-acquire wrapper-after-overlay restore-before-exec; do
		_restore_fault "$point" "$vol" "$b" "$img" "$snap"
		[ "$(nsfd_tree_digest "$(_upper "$vol")")" = "$old" ]
		[ "$(_gen "$vol")" = 1 ]
	done
	id2=$(nsfd_unique_id rf2)
	_restore "$b" "$id2" "$img"
	[ "$status" -eq 0 ]
	_wait_counter "$vol" $(($(_counter "$vol") + 3))
	nsfd_wrapper_stop_delete "$id2"
	nsfd_wrapper_gone "$id2" "$vol"
	nsfd_fault_assert_clean "$id2" "$snap"
}

# After restore-after-runtime the restored processes did run on the layer: its
# generation moved on, the checkpoint is refused, a new container starts.
@test "checkpoint: faults: the wrapper killed after the runtime restored" {
	local b vol img snap old id2
	_fault_setup
	_restore_fault restore-after-runtime "$vol" "$b" "$img" "$snap"
	[ "$(_gen "$vol")" = 2 ]
	_refused "$b" "$vol" "$img" "used after the checkpoint"
	id2=$(nsfd_unique_id rf2)
	nsfd_wrapper_create_start "$b" "$id2"
	nsfd_wrapper_stop_delete "$id2"
	nsfd_wrapper_gone "$id2" "$vol"
	nsfd_fault_assert_clean "$id2" "$snap"
}

# The wrapper killed (SIGKILL) after the runtime's checkpoint stopped the container, at
# each checkpoint fault point: CRIU's images are there, our record is not, <runDir>/<id>
# and a stale holder.json are left. The next checkpoint of that id (the runtime has no
# such container any more) or its delete clears them; a restore from those images is
# refused naming the interrupted checkpoint, and with nsfdsuds.io/restore-any-layer the
# processes continue on their layer.
@test "checkpoint: faults: the wrapper killed after the runtime checkpointed, then checkpoint or delete" {
	local b b2 vol img snap id point next n=0 c1
	nsfd_skip_unless_fault_build
	_setup runc
	b=$(nsfd_tmpdir bundle)
	vol=$NSFD_W_VOLS/vol
	_ckpt_bundle "$b" "$vol"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_fault_snapshot "$snap"
	for point in checkpoint-after-runtime checkpoint-after-sync; do
		for next in checkpoint delete; do
			n=$((n + 1))
			id=$(nsfd_unique_id "cf$n")
			img=$(nsfd_tmpdir)/img-$n
			nsfd_wrapper_create_start "$b" "$id"
			_wait_counter "$vol" 3
			NSFDSUDS_TEST_FAULT=$point _checkpoint "$id" "$img"
			[ "$status" -ne 0 ]
			[ -f "$img/inventory.img" ]
			[ ! -e "$img/nsfdsuds-checkpoint.json" ]
			[ -d "$NSFD_W_RUNDIR/$id" ]
			_assert_holder_not_live "$vol"
			if [[ $next == checkpoint ]]; then
				_checkpoint "$id" "$img.again"
				[ "$status" -ne 0 ]
				[[ $output == *"the runtime has no container \"$id\" any more"*"released"* ]]
			else
				nsfd_wrapper delete "$id"
				echo "delete: $status: $output"
				[ "$status" -eq 0 ]
			fi
			nsfd_wrapper_gone "$id" "$vol"
			nsfd_fault_assert_clean "$id" "$snap"
			_refused "$b" "$vol" "$img" "stopped after the runtime's checkpoint"
			[ ! -e "$b/rootfs/counter" ]
		done
	done
	# What CRIU wrote, restored with the override onto the layer it was taken on.
	c1=$(_counter "$vol")
	b2=$(nsfd_tmpdir bundle-any)
	_ckpt_bundle "$b2" "$vol" nsfdsuds.io/restore-any-layer=true
	id=$(nsfd_unique_id cfr)
	_restore "$b2" "$id" "$img"
	[ "$status" -eq 0 ]
	[[ $output == *"restoring without a checkpoint record"* ]]
	_wait_counter "$vol" $((c1 + 3))
	nsfd_wrapper_stop_delete "$id"
	nsfd_wrapper_gone "$id" "$vol"
	nsfd_fault_assert_clean "$id" "$snap"
}

# --leave-running: the container goes on holding its layer after the kill; the checkpoint
# retried into the same image directory is recorded.
@test "checkpoint: faults: crun --leave-running, the wrapper killed after the runtime checkpointed, the retry" {
	local b vol img id point
	nsfd_skip_unless_fault_build
	_setup crun
	b=$(nsfd_tmpdir bundle)
	vol=$NSFD_W_VOLS/vol
	_ckpt_bundle "$b" "$vol"
	for point in checkpoint-after-runtime checkpoint-after-sync; do
		id=$(nsfd_unique_id "cl-$point")
		img=$(nsfd_tmpdir)/img-$point
		nsfd_wrapper_create_start "$b" "$id"
		_wait_counter "$vol" 3
		NSFDSUDS_TEST_FAULT=$point _checkpoint "$id" "$img" --leave-running
		[ "$status" -ne 0 ]
		[ ! -e "$img/nsfdsuds-checkpoint.json" ]
		[ "$(nsfd_wrapper_state "$id")" = running ]
		[[ $(nsfd_wrapper_holder "$vol") == *"\"$id\""* ]]
		_checkpoint "$id" "$img" --leave-running
		[ "$status" -eq 0 ]
		[ "$(jq -r .leftRunning "$img/nsfdsuds-checkpoint.json")" = true ]
		[ "$(jq -r .container "$img/nsfdsuds-checkpoint.json")" = "$id" ]
		nsfd_wrapper_stop_delete "$id"
		nsfd_wrapper_gone "$id" "$vol"
	done
}

_assert_holder_not_live () {
	local h=$1/.nsfdsuds/default/holder.json pid start
	[[ -e $h ]] || return 0
	pid=$(jq -r .pid "$h")
	start=$(jq -r .pidStartTime "$h")
	# A zombie is dead: a container's init killed by CRIU is reaped by the host's init a
	# moment after the runtime's checkpoint returned.
	if [[ -e /proc/$pid/stat ]] && [[ $(sed 's/.*) //' "/proc/$pid/stat" | awk '$1 != "Z" && $1 != "X" { print $20 }') == "$start" ]]; then
		echo "holder.json names a live process: $(cat "$h")" >&2
		return 1
	fi
}

# --- podman ----------------------------------------------------------------------------

# podman container checkpoint --export / restore --import with the wrapper as podman's
# runtime (runc behind it): the restored container continues on its persistent root, and
# podman's rootfs-diff holds nothing of it (the root's changes are in the layer). The
# volumes' tars in podman's export keep whiteouts but no extended attributes: a restore
# from them is refused (the overlay's opaque directories would be lost); with
# --ignore-volumes and the volume copied keeping its xattrs, it restores.
@test "checkpoint: podman: checkpoint --export, restore --import, with the wrapper" {
	local vol data tar voltar x c1 n
	command -v podman >/dev/null || skip "podman not installed"
	nsfd_podman_init "$(nsfd_tmpdir podman)"
	# The wrapper only: no hooks (they would stand aside anyway).
	rm -f "$NSFD_PODMAN_DIR"/hooks.d/*.json
	nsfd_podman_import localhost/nsfdt-busybox
	NSFDSUDS_RUNTIME=$(command -v runc)
	NSFDSUDS_CONFIG=$NSFD_PODMAN_CONFIG
	export NSFDSUDS_RUNTIME NSFDSUDS_CONFIG
	vol=nsfdt-ckvol
	nsfd_podman_ok runc volume create "$vol"
	data=$NSFD_PODMAN_DIR/storage/volumes/$vol/_data
	tar=$(nsfd_tmpdir)/c1.tar
	voltar=$(nsfd_tmpdir)/vol.tar
	x=$(nsfd_tmpdir export)
	# The host's network: CRIU would lock a network namespace with iptables-restore.
	nsfd_podman_ok "$NSFD_RUNTIME_BIN" run -d --name c1 --network host --annotation nsfdsuds.io/persist=/data \
		-v "$vol:/data" localhost/nsfdt-busybox sh -c "$_COUNTER"
	_wait_counter "$data" 5
	# A deleted image file (a whiteout) and a replaced image directory (opaque).
	nsfd_podman_ok "$NSFD_RUNTIME_BIN" exec c1 sh -c 'rm /etc/group && rm -rf /usr/sbin && mkdir /usr/sbin && echo new >/usr/sbin/only'
	[ -c "$(_upper "$data")/etc/group" ]
	[ "$(getfattr --only-values -n trusted.overlay.opaque "$(_upper "$data")/usr/sbin")" = y ]
	nsfd_podman "$NSFD_RUNTIME_BIN" container checkpoint --compress none --export "$tar" c1
	echo "podman checkpoint: $status: $output"
	[ "$status" -eq 0 ]
	c1=$(_counter "$data")
	tar -xf "$tar" -C "$x"
	ls "$x"
	[ -f "$x/checkpoint/nsfdsuds-checkpoint.json" ]
	# No rootfs-diff.tar: the root's changes are all in the layer, on the volume.
	[ ! -e "$x/rootfs-diff.tar" ]
	# The volume's tar: the whiteout is there, no xattr at all (no pax xattr records).
	tar -tvf "$x/volumes/$vol.tar" | grep -E '^c.* 0,0 .*upper/etc/group$'
	[ -z "$(python3 -c 'import sys, tarfile
print([m.name for m in tarfile.open(sys.argv[1]) if any(k.startswith("SCHILY.xattr.") for k in m.pax_headers)])' \
		"$x/volumes/$vol.tar" | tr -d '[]')" ]
	# The volume as docs/checkpoint.md copies it, xattrs kept.
	tar --xattrs --xattrs-include='trusted.*' --numeric-owner -C "$data" -cpf "$voltar" .
	nsfd_podman_ok runc rm -f c1
	[ ! -e "$data/.nsfdsuds/default/holder.json" ]
	# Another node: the volume comes from the export (podman puts named volumes into it).
	nsfd_podman_ok runc volume rm "$vol"
	[ ! -e "$data" ]

	nsfd_podman "$NSFD_RUNTIME_BIN" container restore --import "$tar" --name c2
	echo "podman restore: $status: $output"
	[ "$status" -ne 0 ]
	[[ $output == *"has lost its trusted.* extended attributes"* ]]
	[ ! -e "$data/.nsfdsuds/default/holder.json" ]
	nsfd_podman runc rm -f c2
	nsfd_podman_ok runc volume rm -f "$vol"

	# The volume copied with its xattrs, and podman told to leave it alone.
	nsfd_podman_ok runc volume create "$vol"
	tar --xattrs --xattrs-include='trusted.*' --numeric-owner -C "$data" -xpf "$voltar"
	nsfd_podman "$NSFD_RUNTIME_BIN" container restore --import "$tar" --ignore-volumes --name c2
	echo "podman restore --ignore-volumes: $status: $output"
	[ "$status" -eq 0 ]
	_wait_counter "$data" $((c1 + 5))
	[[ $(cat "$data/.nsfdsuds/default/holder.json") == *runtime* ]]
	nsfd_podman_ok "$NSFD_RUNTIME_BIN" exec c2 sh -c 'echo "counter=$(cat /counter)"; awk "\$5 == \"/\" { for (i = 6; \$i != \"-\"; i++); print \"root=\" \$(i + 1) }" /proc/self/mountinfo; echo "sbin=$(ls -A /usr/sbin | tr "\n" " ")"; [ -e /etc/group ] || echo group=absent'
	echo "$output"
	n=$(sed -n 's/^counter=//p' <<<"$output")
	((n > c1))
	[[ $output == *$'\nroot=overlay\n'* ]]
	[[ $output == *$'\nsbin=only \n'* ]]
	[[ $output == *$'\ngroup=absent'* ]]
	nsfd_podman_ok "$NSFD_RUNTIME_BIN" rm -f c2
	_assert_log_continuous "$(_upper "$data")/var/log/app.log"
}
