#!/usr/bin/env bats
# Hook mode, persistence: what a container changes in its root survives deletion and
# recreation from the same bundle with the same volume, the image (the bundle's rootfs)
# is never written, exec lands in the persistent root, and a second container on the
# same layer is refused while the first runs.
#
# runc up to 1.3.5 and every crun: the hook changes the root. runc 1.3.6+ pivots into
# a root it opened before any hook ran; the runc cases skip there and their crun twins
# run (hook-refusals.bats checks that such a runc refuses instead).

load ../lib/common
load ../lib/hook

setup () {
	nsfd_hook_setup
}

# The upper directory records the changes in overlayfs' own format: a whiteout for the
# deleted file and an opaque directory for the replaced one.
_check_upper_format () {
	local upper
	upper=$(nsfd_hook_volume)/.nsfdsuds/default/upper
	[ "$(stat -c '%F %t:%T' "$upper/etc/old.conf")" = "character special file 0:0" ]
	python3 -c 'import os, sys; sys.exit(os.getxattr(sys.argv[1], "trusted.overlay.opaque") != b"y")' \
		"$upper/opt/olddir"
	[ -f "$upper/opt/olddir/c" ]
	[ ! -e "$upper/opt/olddir/a" ]
	[ -f "$upper/etc/x" ]
	[ -f "$upper/var/lib/app/db" ]
}

@test "hook persist: changes, deletions and a replaced directory survive recreation (runc)" {
	nsfd_skip_preopening_runc runc
	nsfd_persist_roundtrip runc
	_check_upper_format
}

@test "hook persist: changes, deletions and a replaced directory survive recreation (crun)" {
	nsfd_persist_roundtrip crun
	_check_upper_format
}

# exec into a running persistent container lands in the persistent root.
_exec_sees_root () {
	local rt=$1 b vol cfg id snap layer
	cfg=$(nsfd_hook_config)
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_hook_volume)
	nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "sh -c 'echo from-init >/etc/init-wrote; exec sleep 60'"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id "exec-$rt")
	nsfd_create_start "$rt" "$b" "$id" || { echo "$output"; false; }
	nsfd_wait_state "$rt" "$id" running
	layer=$vol/.nsfdsuds/default
	# Bounded wait for the init to have written its file (it lands in the upper dir).
	nsfd_wait_until 10 test -f "$layer/upper/etc/init-wrote"
	nsfd_exec "$rt" "$id" sh -c 'cat /etc/init-wrote; grep " / / " /proc/self/mountinfo; stat -f -c %t /'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = from-init ]
	[[ ${lines[1]} == *" - overlay "* ]]
	[ "${lines[2]}" = 794c7630 ]
	# The image did not get the file.
	[ ! -e "$b/rootfs/etc/init-wrote" ]
	# While the container runs, the layer is held by it.
	[ -f "$layer/holder.json" ]
	[ "$(jq -r .container "$layer/holder.json")" = "$id" ]
	nsfd_delete "$rt" "$id"
	nsfd_hook_assert_clean "$id" "$snap"
	[ ! -e "$layer/holder.json" ]
}

@test "hook persist: exec sees the persistent root (runc)" {
	nsfd_skip_preopening_runc runc
	_exec_sees_root runc
}

@test "hook persist: exec sees the persistent root (crun)" {
	_exec_sees_root crun
}

# A second activated container on the same layer while the first runs is refused, and
# the error names the holder; the first keeps running undisturbed.
_second_refused () {
	local rt=$1 b1 b2 vol cfg id1 id2
	cfg=$(nsfd_hook_config)
	vol=$(nsfd_hook_volume)
	b1=$(nsfd_tmpdir bundle1)
	b2=$(nsfd_tmpdir bundle2)
	nsfd_hook_bundle "$b1" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "sleep 60"
	# The same image (rootfs) as the first: only the holder may stop it.
	nsfd_hook_bundle "$b2" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "sh -c 'echo SECOND-RAN'" --jq ".root.path = \"$b1/rootfs\""
	id1=$(nsfd_unique_id "holder-$rt")
	id2=$(nsfd_unique_id "second-$rt")
	nsfd_create_start "$rt" "$b1" "$id1" || { echo "$output"; false; }
	nsfd_wait_state "$rt" "$id1" running
	nsfd_run_container "$rt" "$b2" "$id2"
	echo "status $status"; echo "$output"
	[ "$status" -ne 0 ]
	[[ $output != *SECOND-RAN* ]]
	if [[ $rt == runc ]]; then
		# runc quotes the hook's stderr (\" for "), so match around the quotes.
		[[ $output == *"is in use by container "*"$id1"*"two containers must never share a layer"* ]]
	fi
	[ "$(nsfd_container_state "$rt" "$id1")" = running ]
	[ "$(jq -r .container "$vol/.nsfdsuds/default/holder.json")" = "$id1" ]
	[ ! -e "$NSFD_HOOK_RUNDIR/$id2" ]
}

@test "hook persist: a second container on a held layer is refused, naming the holder (runc)" {
	nsfd_skip_preopening_runc runc
	_second_refused runc
}

@test "hook persist: a second container on a held layer is refused, naming the holder (crun, syslog)" {
	nsfd_syslog_start
	_second_refused crun
	nsfd_syslog_wait "container $NSFD_ID_PREFIX-second-crun[^:]*: .*is in use by container"
}

# Engines give every container a fresh rootfs (a CRI snapshot of the same image), in
# which the runtime creates the mount points anew. That is the same image: the layer is
# used again. An image with different content is refused (onImageChange "refuse").
@test "hook persist: a fresh rootfs of the same image keeps the layer, another image is refused (crun)" {
	local cfg vol b n id
	nsfd_syslog_start
	cfg=$(nsfd_hook_config)
	vol=$(nsfd_hook_volume)
	for n in 1 2 3; do
		b=$(nsfd_tmpdir "bundle$n")
		nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
			--args "sh -c 'cat /etc/x 2>/dev/null || echo run$n >/etc/x; echo ran'"
		# Mount points made at different times, as the runtime would in each snapshot.
		mkdir -p "$b/rootfs/data"
		touch -d "2001-01-0$n 00:00" "$b/rootfs/data" "$b/rootfs/etc" "$b/rootfs"
		if ((n == 3)); then
			echo 'a tool the first image did not have' >"$b/rootfs/usr/bin/newtool"
		fi
	done
	id=$(nsfd_unique_id fresh1)
	nsfd_run_container crun "$(nsfd_tmpdir bundle1)" "$id"
	echo "1: $status $output"
	[ "$status" -eq 0 ]
	[ "$output" = ran ]
	id=$(nsfd_unique_id fresh2)
	nsfd_run_container crun "$(nsfd_tmpdir bundle2)" "$id"
	echo "2: $status $output"
	[ "$status" -eq 0 ]
	[ "$output" = $'run1\nran' ]
	id=$(nsfd_unique_id fresh3)
	nsfd_run_container crun "$(nsfd_tmpdir bundle3)" "$id"
	echo "3: $status $output"
	[ "$status" -ne 0 ]
	[[ $output != *ran* ]]
	nsfd_syslog_wait "container $id: .*changed since the layer last ran on it"
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
}
