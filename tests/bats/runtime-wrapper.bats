#!/usr/bin/env bats
# nsfdsuds-runtime (the runtime wrapper) driven like containerd's runc shim drives a
# runtime, with runc and crun: on the host runc 1.1.5 / crun 1.8.1, in the sid tree
# runc 1.3.6 (pre-opened root, where only the wrapper works) / crun 1.28.

load ../lib/common
load ../lib/wrapper

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_RUNTIME_BIN"
}

teardown () {
	# A hung-state test's switch (below): the cleanup's own runtime calls must not hang.
	rm -f "${NSFD_W_DIR:-/nonexistent}/state-hangs"
	nsfd_wrapper_teardown
}

# A lower layer with something to delete and a directory to replace.
_lower_fixture () {
	local rootfs=$1
	echo lower >"$rootfs/etc/lowerfile"
	mkdir -p "$rootfs/opt/lowerdir"
	echo a >"$rootfs/opt/lowerdir/a"
	echo b >"$rootfs/opt/lowerdir/b"
	if [[ $(stat -c %u "$rootfs/bin") != 0 ]]; then
		chown -R "$(stat -c %u:%g "$rootfs/bin")" "$rootfs/etc/lowerfile" "$rootfs/opt"
	fi
}

# --- the persistence scenario --------------------------------------------------------

_persistence () {
	local rt=$1 userns=${2:-} b vol id1 id2 before lower
	nsfd_wrapper_setup "$rt"
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_tmpdir vols/app)
	id1=$(nsfd_unique_id "p1-$rt")
	id2=$(nsfd_unique_id "p2-$rt")
	nsfd_bundle "$b" $userns --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "sleep 600"
	_lower_fixture "$b/rootfs"
	lower=$(nsfd_tree_sum "$b/rootfs")
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"

	# First life: the shim's create/start/state/exec/kill/delete.
	nsfd_wrapper_create_start "$b" "$id1"
	[ "$(nsfd_wrapper_state "$id1")" = running ]
	[[ $(nsfd_wrapper_holder "$vol") == *"$id1"* ]]
	[ -d "$NSFD_W_RUNDIR/$id1" ]
	nsfd_wrapper_exec "$id1" sh -c 'echo persisted > /etc/x &&
		mkdir -p /var/lib/app && echo db-1 > /var/lib/app/db &&
		rm /etc/lowerfile &&
		rm -rf /opt/lowerdir && mkdir /opt/lowerdir && echo c > /opt/lowerdir/c &&
		awk "\$5 == \"/\" { for (i = 6; \$i != \"-\"; i++); print \$(i + 1) }" /proc/self/mountinfo'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$nsfd_stdout" = overlay ]
	# The volume itself stays out of reach (with a user namespace too).
	nsfd_wrapper_exec "$id1" sh -c 'echo "[$(ls -A /data)]"; touch /data/x 2>/dev/null || echo not-writable'
	echo "$output"
	[ "$output" = "[]"$'\n'not-writable ]
	nsfd_wrapper_stop_delete "$id1"
	nsfd_wrapper_gone "$id1" "$vol"
	nsfd_assert_mounts_equal "$before"
	[ -f "$vol/.nsfdsuds/default/upper/etc/x" ]
	[ "$(nsfd_tree_sum "$b/rootfs")" = "$lower" ]

	# Second life from the same bundle: everything is still there.
	nsfd_wrapper_create_start "$b" "$id2"
	nsfd_wrapper_exec "$id2" sh -c 'cat /etc/x /var/lib/app/db; ls /opt/lowerdir;
		test -e /etc/lowerfile && echo lowerfile-back; id -u'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = persisted ]
	[ "${lines[1]}" = db-1 ]
	[ "${lines[2]}" = c ]
	[ "${lines[3]}" = 0 ]
	[ "${#lines[@]}" -eq 4 ]
	nsfd_wrapper delete --force "$id2"
	[ "$status" -eq 0 ]
	nsfd_wrapper_gone "$id2" "$vol"
	nsfd_assert_mounts_equal "$before"
	[ "$(nsfd_tree_sum "$b/rootfs")" = "$lower" ]
	if [[ -n $userns ]]; then
		# The upper belongs to the container's root, new files too.
		[ "$(stat -c %u:%g "$vol/.nsfdsuds/default/upper")" = 100000:100000 ]
		[ "$(stat -c %u "$vol/.nsfdsuds/default/upper/etc/x")" = 100000 ]
		[ "$(stat -c %u "$vol/.nsfdsuds/default/upper/var/lib/app/db")" = 100000 ]
	fi
}

@test "runtime wrapper: runc: writes, deletions and a replaced directory survive recreation" {
	_persistence runc
}

@test "runtime wrapper: crun: writes, deletions and a replaced directory survive recreation" {
	_persistence crun
}

@test "runtime wrapper: runc: user-namespaced container, upper owned by the mapped root" {
	_persistence runc --userns
}

@test "runtime wrapper: crun: user-namespaced container, upper owned by the mapped root" {
	_persistence crun --userns
}

# --- kubelet-like mounts ---------------------------------------------------------------

_kubelet () {
	local rt=$1 b vol kube id before dst mode prop kind line opts
	nsfd_wrapper_setup "$rt"
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_tmpdir vols/pv)
	kube=$(nsfd_tmpdir kubelet)
	id=$(nsfd_unique_id "kube-$rt")
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_bundle "$b" --kubelet-mounts "$kube" --mount "$vol:/persist" \
		--annotation nsfdsuds.io/persist=/persist --args "sleep 600"
	# The kubelet mounts are host mounts of the test: snapshot after they exist.
	nsfd_mount_snapshot "$before"
	nsfd_wrapper_create_start "$b" "$id"

	# Mount point, options (ro/rw) and propagation of each, as the container sees them.
	nsfd_wrapper_exec "$id" awk '{ opt = ""; for (i = 7; $i != "-"; i++) opt = opt " " $i;
		print $5, $6, (opt ~ /master:/ ? "slave" : "private"), $(i + 1), $(i + 3) }' /proc/self/mountinfo
	echo "$output"
	[ "$status" -eq 0 ]
	local table=$output
	[[ $(awk '$1 == "/" { print $4 }' <<<"$table") == overlay ]]
	while read -r dst mode prop kind; do
		line=$(awk -v d="$dst" '$1 == d' <<<"$table" | tail -n1)
		echo "$dst: $line"
		[ -n "$line" ]
		opts=$(awk '{ print $2 }' <<<"$line")
		[[ ,$opts, == *",$mode,"* ]]
		if [[ $prop == rslave ]]; then
			[[ $line == *" slave "* ]]
		fi
	done < <(nsfd_kubelet_mount_list)
	# At /persist the container finds the empty read-only stand-in, not the volume (crun
	# remounts the bind rw; the tmpfs itself stays read-only).
	[[ $(awk '$1 == "/persist" { print $4, $5 }' <<<"$table") == "tmpfs ro,"* ]]

	# Contents reach the container; rw volumes write through to the host.
	nsfd_wrapper_exec "$id" sh -c 'cat /etc/hostname /var/run/secrets/kubernetes.io/serviceaccount/token /etc/config/app.conf
		grep -c nsfd-pod /etc/hosts; grep nameserver /etc/resolv.conf;
		echo s > /data/scratch/f && echo shared > /data/shared/f && echo ok;
		touch /etc/config/x 2>/dev/null || echo configmap-ro;
		touch /var/run/secrets/kubernetes.io/serviceaccount/x 2>/dev/null || echo token-ro'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = nsfd-pod ]
	[ "${lines[1]}" = nsfd-test-token ]
	[ "${lines[2]}" = key=value ]
	[ "${lines[3]}" = 1 ]
	[ "${lines[4]}" = "nameserver 10.96.0.10" ]
	[ "${lines[5]}" = ok ]
	[ "${lines[6]}" = configmap-ro ]
	[ "${lines[7]}" = token-ro ]
	[ "$(cat "$kube/data-scratch/f")" = s ]
	[ "$(cat "$kube/data-shared/f")" = shared ]
	# Nothing of the kubelet's mounts was copied into the persistent layer.
	[ ! -e "$vol/.nsfdsuds/default/upper/data/scratch/f" ]
	[ ! -e "$vol/.nsfdsuds/default/upper/var/run/secrets/kubernetes.io/serviceaccount/token" ]

	nsfd_wrapper_stop_delete "$id"
	nsfd_wrapper_gone "$id" "$vol"
	nsfd_assert_mounts_equal "$before"
}

@test "runtime wrapper: runc: kubelet-like mounts are all present with their flags" {
	_kubelet runc
}

@test "runtime wrapper: crun: kubelet-like mounts are all present with their flags" {
	_kubelet crun
}

# --- the persistent volume is hidden unless asked --------------------------------------

_visibility () {
	local rt=$1 b vol id before
	nsfd_wrapper_setup "$rt"
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_tmpdir vols/v)
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "sleep 600"

	id=$(nsfd_unique_id "hidden-$rt")
	nsfd_wrapper_create_start "$b" "$id"
	nsfd_wrapper_exec "$id" sh -c 'echo "[$(ls -A /data)]"; touch /data/x 2>/dev/null || echo read-only;
		awk "\$5 == \"/data\" { for (i = 7; \$i != \"-\"; i++); print \$(i + 1), \$(i + 3) }" /proc/self/mountinfo'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "[]" ]
	[ "${lines[1]}" = read-only ]
	[[ ${lines[2]} == "tmpfs ro,"* ]]
	nsfd_wrapper delete --force "$id"
	[ "$status" -eq 0 ]
	nsfd_wrapper_gone "$id" "$vol"

	id=$(nsfd_unique_id "visible-$rt")
	_nsfd_jq "$b/config.json" '.annotations["nsfdsuds.io/keep-volume-visible"] = "true"'
	nsfd_wrapper_create_start "$b" "$id"
	nsfd_wrapper_exec "$id" ls -A /data /data/.nsfdsuds
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *.nsfdsuds* ]]
	[[ $output == *default* ]]
	nsfd_wrapper delete --force "$id"
	[ "$status" -eq 0 ]
	nsfd_wrapper_gone "$id" "$vol"
	nsfd_assert_mounts_equal "$before"
}

@test "runtime wrapper: runc: the volume is hidden by default, visible with keep-volume-visible" {
	_visibility runc
}

@test "runtime wrapper: crun: the volume is hidden by default, visible with keep-volume-visible" {
	_visibility crun
}

# --- exclusive use -----------------------------------------------------------------------

_exclusive () {
	local rt=$1 b1 b2 vol id1 id2 before
	nsfd_wrapper_setup "$rt"
	b1=$(nsfd_tmpdir bundle1)
	b2=$(nsfd_tmpdir bundle2)
	vol=$(nsfd_tmpdir vols/shared)
	id1=$(nsfd_unique_id "first-$rt")
	id2=$(nsfd_unique_id "second-$rt")
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"
	nsfd_bundle "$b1" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "sleep 600"
	nsfd_bundle "$b2" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "sleep 600"

	nsfd_wrapper_create_start "$b1" "$id1"
	# The record names the container's init, by pid and start time.
	local pid
	pid=$(cat "$NSFD_W_DIR/$id1.pid")
	nsfd_wrapper_holder "$vol" | jq -e --arg c "$id1" --argjson p "$pid" --argjson s "$(_nsfd_pid_starttime "$pid")" \
		'.container == $c and .pid == $p and .pidStartTime == $s'
	nsfd_wrapper_create "$b2" "$id2"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $nsfd_stderr == *"$id1"* ]]
	tail -n1 "$NSFD_W_LOG" | jq -e --arg p "$id1" '.level == "error" and (.msg | contains($p))'
	# The refused container did not disturb the holder or leave anything.
	[[ $(nsfd_wrapper_holder "$vol") == *"$id1"* ]]
	nsfd_wrapper_gone "$id2"
	[ "$(nsfd_wrapper_state "$id1")" = running ]

	nsfd_wrapper_stop_delete "$id1"
	nsfd_wrapper_gone "$id1" "$vol"
	nsfd_wrapper_create_start "$b2" "$id2"
	[[ $(nsfd_wrapper_holder "$vol") == *"$id2"* ]]
	nsfd_wrapper delete --force "$id2"
	[ "$status" -eq 0 ]
	nsfd_wrapper_gone "$id2" "$vol"
	nsfd_assert_mounts_equal "$before"
}

@test "runtime wrapper: runc: a second container on a layer in use is refused, naming the holder" {
	_exclusive runc
}

@test "runtime wrapper: crun: a second container on a layer in use is refused, naming the holder" {
	_exclusive crun
}

# --- one id under two runtime roots ----------------------------------------------------

# Runtime state is per --root, <runDir>/<id> is not: while a container runs, a create of
# its id under another root must be refused, not handed (and, failing, remove) the running
# container's directory.
@test "runtime wrapper: a create of a running container's id under another runtime root is refused; the first keeps its directory" {
	local b1 b2 vol1 vol2 id root2 rec
	nsfd_wrapper_setup runc
	b1=$(nsfd_tmpdir bundle1)
	b2=$(nsfd_tmpdir bundle2)
	vol1=$(nsfd_tmpdir vols/one)
	vol2=$(nsfd_tmpdir vols/two)
	root2=$(nsfd_tmpdir wrapper/state2)
	id=$(nsfd_unique_id tworoots)
	nsfd_bundle "$b1" --mount "$vol1:/data" --annotation nsfdsuds.io/persist=/data --args "sleep 600"
	nsfd_bundle "$b2" --mount "$vol2:/data" --annotation nsfdsuds.io/persist=/data --args "sleep 600"
	nsfd_wrapper_create_start "$b1" "$id"
	# The record names the container's init.
	rec=$NSFD_W_RUNDIR/$id/record
	[ "$(jq -r .containerPid "$rec")" = "$(cat "$NSFD_W_DIR/$id.pid")" ]
	cp "$rec" "$NSFD_W_DIR/record.before"

	nsfd_track_container "$NSFD_W_REAL --root $root2" "$id"
	nsfd_wrapper_bare --root "$root2" create --bundle "$b2" --pid-file "$NSFD_W_DIR/second.pid" "$id"
	echo "second create: status $status: $output"
	[ "$status" -ne 0 ]
	[[ $nsfd_stderr == *"container \"$id\" is already running (init pid $(cat "$NSFD_W_DIR/$id.pid"),"*"give this container another id"* ]]
	# Nothing of the second: its volume untouched, the first's directory as it was.
	[ ! -e "$vol2/.nsfdsuds" ]
	cmp "$rec" "$NSFD_W_DIR/record.before"
	[ "$(nsfd_wrapper_state "$id")" = running ]

	# Its delete still releases its layer; then the id is free under the other root.
	nsfd_wrapper_stop_delete "$id"
	nsfd_wrapper_gone "$id" "$vol1"
	nsfd_track_container "$(_nsfd_wrapper_cmdline | sed "s|--root $NSFD_W_ROOT|--root $root2|")" "$id"
	nsfd_wrapper_bare --root "$root2" create --bundle "$b2" --pid-file "$NSFD_W_DIR/second.pid" "$id"
	[ "$status" -eq 0 ]
	nsfd_wrapper_bare --root "$root2" delete --force "$id"
	[ "$status" -eq 0 ]
	[ ! -e "$NSFD_W_RUNDIR/$id" ]
	[ ! -e "$vol2/.nsfdsuds/default/holder.json" ]
}

# --- a runtime that does not answer ----------------------------------------------------

# After a create without --pid-file the wrapper asks the runtime for the container's pid
# (`state`), as after a failed delete and a checkpoint; a runtime
# whose state hangs (a stuck state directory, a wedged lock) must not hold the wrapper and
# the engine behind it. The real runtime behind a script whose `state` sleeps while a
# switch file exists.
@test "runtime wrapper: a runtime whose state hangs is killed after 10 s; create completes and the layer is held" {
	local b vol id real shim
	nsfd_wrapper_setup runc
	real=$NSFD_W_REAL
	shim=$NSFD_W_DIR/hanging-runtime
	printf '#!/bin/sh\nfor a; do\n\tif [ "$a" = state ] && [ -e %s/state-hangs ]; then\n\t\techo $$ >%s/state.pid\n\t\texec sleep 600\n\tfi\ndone\nexec %s "$@"\n' \
		"$NSFD_W_DIR" "$NSFD_W_DIR" "$real" >"$shim"
	chmod 755 "$shim"
	NSFD_W_REAL=$shim
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_tmpdir vols/hang)
	id=$(nsfd_unique_id hang)
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "sleep 600"
	touch "$NSFD_W_DIR/state-hangs"
	SECONDS=0
	# Without --pid-file (runc used by hand), the pid comes from `state`.
	nsfd_track_container "$real --root $NSFD_W_ROOT" "$id"
	nsfd_track_container "$(_nsfd_wrapper_cmdline)" "$id"
	_nsfd_track wrapper-id "$id"
	nsfd_wrapper create --bundle "$b" "$id"
	echo "status $status after ${SECONDS}s: $output"
	rm "$NSFD_W_DIR/state-hangs"
	[ "$status" -eq 0 ]
	((SECONDS < 40))
	[[ $nsfd_stderr == *"state $id\" did not answer within 10000 ms"* ]]
	[[ $nsfd_stderr == *"could not record the container's pid"* ]]
	# The hung state was ended by the wrapper, not left running.
	local spid
	spid=$(cat "$NSFD_W_DIR/state.pid")
	! kill -0 "$spid" 2>/dev/null
	# The container runs on its layer, which it holds.
	nsfd_wrapper start "$id"
	[ "$status" -eq 0 ]
	[[ $(nsfd_wrapper_holder "$vol") == *"$id"* ]]
	nsfd_wrapper_exec "$id" sh -c 'echo kept > /etc/kept'
	[ "$status" -eq 0 ]
	nsfd_wrapper_stop_delete "$id"
	nsfd_wrapper_gone "$id" "$vol"
	[ "$(cat "$vol/.nsfdsuds/default/upper/etc/kept")" = kept ]
}

# --- bad annotations -------------------------------------------------------------------

# _refused BUNDLE ID PATTERN...: create fails, stderr has every pattern, nothing is left.
_refused () {
	local b=$1 id=$2 vol=$3 before=$4 p
	shift 4
	nsfd_wrapper_create "$b" "$id"
	echo "$id: status $status: $output"
	[ "$status" -ne 0 ]
	for p in "$@"; do
		[[ $nsfd_stderr == *"$p"* ]] || { echo "stderr lacks: $p" >&2; return 1; }
	done
	# The engine shows the last error of the --log file (json, as the shim asks).
	tail -n1 "$NSFD_W_LOG" | jq -e --arg p "$1" '.level == "error" and (.msg | contains($p))'
	[ ! -e "$vol/.nsfdsuds" ]
	[ -z "$(ls -A "$vol")" ]
	nsfd_wrapper_gone "$id"
	nsfd_assert_mounts_equal "$before"
}

_bad_annotations () {
	local rt=$1 b vol outside before
	nsfd_wrapper_setup "$rt"
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_tmpdir vols/bad)
	outside=$(nsfd_tmpdir outside)
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"
	nsfd_bundle "$b" --mount "$vol:/data" --tmpfs /scratch --annotation nsfdsuds.io/persist=/data \
		--args "sleep 600"
	local cfg=$b/config.json
	_set () { _nsfd_jq "$cfg" --arg k "$1" --arg v "$2" \
		'.annotations = ((.annotations // {}) | with_entries(select(.key | startswith("nsfdsuds.io/") | not)))
		 | .annotations[$k] = $v'; }

	_set nsfdsuds.io/persist /nomount
	_refused "$b" "$(nsfd_unique_id "nomount-$rt")" "$vol" "$before" nsfdsuds.io/persist /nomount "no mount there"
	_set nsfdsuds.io/persist /scratch
	_refused "$b" "$(nsfd_unique_id "tmpfs-$rt")" "$vol" "$before" nsfdsuds.io/persist /scratch "tmpfs mount"
	_set nsfdsuds.io/persist data
	_refused "$b" "$(nsfd_unique_id "relative-$rt")" "$vol" "$before" nsfdsuds.io/persist "relative path"
	_set nsfdsuds.io/persist /data/../data
	_refused "$b" "$(nsfd_unique_id "dotdot-$rt")" "$vol" "$before" nsfdsuds.io/persist '".."'
	_set nsfdsuds.io/persits /data
	_refused "$b" "$(nsfd_unique_id "unknown-$rt")" "$vol" "$before" nsfdsuds.io/persits "unknown key"
	# A volume from outside the allowed prefixes.
	_set nsfdsuds.io/persist /data
	_nsfd_jq "$cfg" --arg s "$outside" '(.mounts[] | select(.destination == "/data") | .source) = $s'
	_refused "$b" "$(nsfd_unique_id "outside-$rt")" "$outside" "$before" "$outside" "allowed volume prefixes"
}

@test "runtime wrapper: runc: bad annotations fail create, naming the problem, leaving nothing" {
	_bad_annotations runc
}

@test "runtime wrapper: crun: bad annotations fail create, naming the problem, leaving nothing" {
	_bad_annotations crun
}
