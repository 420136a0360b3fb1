#!/usr/bin/env bats
# Hook mode, persistence: what a container changes in its root survives deletion and
# recreation from the same bundle with the same volume, the image (the bundle's rootfs)
# is never written, exec lands in the persistent root, and a second container on the
# same layer is refused while the first runs.
#
# runc up to 1.3.5 and every crun: the hook changes the root. runc 1.3.6+ pivots into
# a root it opened before any hook ran; those tests skip there (hook-refusals.bats
# checks that such a runc refuses instead).

load ../lib/common
load ../lib/hook

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN"
}

teardown () {
	nsfd_hook_teardown
}

_skip_preopening_runc () {
	if [[ $1 == runc ]] && nsfd_runc_preopens_root; then
		skip "runc $NSFD_RUNC_VERSION pivots into a pre-opened root (hook mode refuses it; see hook-refusals.bats)"
	fi
}

# The script both containers run: the first makes the changes, every run reports.
_write_persist_script () {
	cat >"$1/nsfd-test.sh" <<'SH'
if [ -e /etc/x ]; then
	echo run=second
else
	echo hello >/etc/x
	mkdir -p /var/lib/app
	echo rows >/var/lib/app/db
	rm /etc/old.conf
	rm -rf /opt/olddir
	mkdir /opt/olddir
	echo new >/opt/olddir/c
	echo run=first
fi
echo "x=$(cat /etc/x)"
echo "db=$(cat /var/lib/app/db)"
echo "olddir=$(ls -A /opt/olddir | tr '\n' ' ')"
[ -e /etc/old.conf ] && echo old=present || echo old=gone
echo "volume-entries=$(ls -A /data | wc -l)"
echo "rootfs-magic=$(stat -f -c %t /)"
grep ' / / ' /proc/self/mountinfo | sed 's/^/root-mount=/'
SH
	chmod 755 "$1/nsfd-test.sh"
}

# A rootfs with the lower-layer things the test changes, and the mount point of the
# volume made in advance (the runtime would create it in the rootfs itself).
_persist_bundle () {
	local b=$1 cfg=$2 vol=$3
	shift 3
	nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "/bin/sh /nsfd-test.sh" "$@"
	mkdir -p "$b/rootfs/opt/olddir" "$b/rootfs/data"
	echo a >"$b/rootfs/opt/olddir/a"
	echo b >"$b/rootfs/opt/olddir/b"
	echo old >"$b/rootfs/etc/old.conf"
	_write_persist_script "$b/rootfs"
	if [[ $(jq -r '.linux.uidMappings // [] | length' "$b/config.json") != 0 ]]; then
		chown -R -h "$NSFD_USERNS_HOST_ID:$NSFD_USERNS_HOST_ID" "$b/rootfs"
	fi
}

_expect_line () {
	grep -qxF -- "$1" <<<"$output" || { echo "expected line: $1"; return 1; }
}

# nsfd_persist_roundtrip RUNTIME [nsfd_bundle options]: the whole persistence scenario.
nsfd_persist_roundtrip () {
	local rt=$1 b vol cfg id1 id2 lower_before lower_after snap layer
	shift
	cfg=$(nsfd_hook_config)
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_hook_volume)
	_persist_bundle "$b" "$cfg" "$vol" "$@"
	lower_before=$(nsfd_tree_digest "$b/rootfs")
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"

	id1=$(nsfd_unique_id "persist1-$rt")
	nsfd_run_container "$rt" "$b" "$id1"
	echo "first run ($id1): status $status"; echo "$output"
	[ "$status" -eq 0 ]
	_expect_line run=first
	nsfd_delete "$rt" "$id1" || true
	nsfd_hook_assert_clean "$id1" "$snap"

	layer=$vol/.nsfdsuds/default
	[ -f "$layer/layer.json" ]
	[ -f "$layer/upper/etc/x" ]
	[ ! -e "$layer/holder.json" ] || { echo "holder.json not released:"; cat "$layer/holder.json"; false; }

	id2=$(nsfd_unique_id "persist2-$rt")
	nsfd_run_container "$rt" "$b" "$id2"
	echo "second run ($id2): status $status"; echo "$output"
	[ "$status" -eq 0 ]
	_expect_line run=second
	_expect_line x=hello
	_expect_line db=rows
	_expect_line "olddir=c "
	_expect_line old=gone
	# The volume itself is not visible at its destination inside the new root.
	_expect_line volume-entries=0
	_expect_line rootfs-magic=794c7630
	[[ $output == *"root-mount="*" - overlay "* ]]
	nsfd_delete "$rt" "$id2" || true
	nsfd_hook_assert_clean "$id2" "$snap"
	[ ! -e "$layer/holder.json" ]

	# The image is exactly as before both runs.
	lower_after=$(nsfd_tree_digest "$b/rootfs")
	diff <(echo "$lower_before") <(echo "$lower_after")
}

@test "hook persist: changes, deletions and a replaced directory survive recreation (runc)" {
	_skip_preopening_runc runc
	nsfd_persist_roundtrip runc
}

@test "hook persist: changes, deletions and a replaced directory survive recreation (crun)" {
	nsfd_persist_roundtrip crun
}

# The upper directory records the changes in overlayfs' own format: a whiteout for the
# deleted file and an opaque directory for the replaced one.
@test "hook persist: the layer holds a whiteout and an opaque directory (crun)" {
	nsfd_persist_roundtrip crun
	local upper
	upper=$(nsfd_hook_volume)/.nsfdsuds/default/upper
	[ "$(stat -c '%F %t:%T' "$upper/etc/old.conf")" = "character special file 0:0" ]
	python3 -c 'import os, sys; sys.exit(os.getxattr(sys.argv[1], "trusted.overlay.opaque") != b"y")' \
		"$upper/opt/olddir"
	[ -f "$upper/opt/olddir/c" ]
	[ ! -e "$upper/opt/olddir/a" ]
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
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -f $layer/upper/etc/init-wrote ]] && break
		sleep 0.1
	done
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
	_skip_preopening_runc runc
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
	nsfd_hook_bundle "$b2" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "sh -c 'echo SECOND-RAN'"
	id1=$(nsfd_unique_id "holder-$rt")
	id2=$(nsfd_unique_id "second-$rt")
	nsfd_create_start "$rt" "$b1" "$id1" || { echo "$output"; false; }
	nsfd_wait_state "$rt" "$id1" running
	nsfd_run_container "$rt" "$b2" "$id2"
	echo "status $status"; echo "$output"
	[ "$status" -ne 0 ]
	[[ $output != *SECOND-RAN* ]]
	if [[ $rt == runc ]]; then
		[[ $output == *"is in use by container \"$id1\""* ]]
	fi
	[ "$(nsfd_container_state "$rt" "$id1")" = running ]
	[ "$(jq -r .container "$vol/.nsfdsuds/default/holder.json")" = "$id1" ]
	[ ! -e "$NSFD_HOOK_RUNDIR/$id2" ]
}

@test "hook persist: a second container on a held layer is refused, naming the holder (runc)" {
	_skip_preopening_runc runc
	_second_refused runc
}

@test "hook persist: a second container on a held layer is refused, naming the holder (crun, syslog)" {
	nsfd_syslog_start
	_second_refused crun
	nsfd_syslog_wait "container $NSFD_ID_PREFIX-second-crun[^:]*: .*is in use by container"
}
