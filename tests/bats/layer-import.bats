#!/usr/bin/env bats
# nsfdsuds layer import: an LXC container's delta (real LXC), an overlay upper, the
# conversions overlayfs needs, --shift, refusing what cannot be carried, existing and
# busy layers, and hostile source trees.
load ../lib/common
load ../lib/hook
load ../lib/wrapper
load ../lib/lxc

teardown () {
	nsfd_lxc_teardown
	nsfd_hook_teardown
}

nsfd_import () {
	run timeout -k 5 120 "$NSFD_CLI_BIN" layer import "$@"
	echo "import $*: status $status"
	echo "$output"
}

# The scenario: a busybox base, an overlay snapshot of it, changes made inside the
# running snapshot, stopped; LXC's view of it recorded. Sets LXC_DIR (the snapshot's
# container directory), LXC_BASE (the base rootfs) and LXC_VIEW (the listing).
lxc_scenario () {
	nsfd_skip_unless_lxc
	nsfd_lxc_base base
	nsfd_lxc_snapshot base snap
	LXC_DIR=$(nsfd_lxc_path)/snap
	LXC_BASE=$(nsfd_lxc_path)/base/rootfs
	grep -q "^lxc.rootfs.path = overlay:$LXC_BASE:$LXC_DIR/overlay/delta\$" "$LXC_DIR/config"
	nsfd_lxc_start snap
	nsfd_lxc_make_changes snap
	nsfd_lxc_stop snap
	nsfd_lxc_view snap "$(nsfd_tmpdir lxc-view)"
	LXC_VIEW=$(nsfd_view_listing "$(nsfd_tmpdir lxc-view)")
	# The scenario's changes are in the view (a listing that misses them would compare
	# equal to anything).
	grep -q '^entry ./root/new.txt f 600 0:0' <<<"$LXC_VIEW"
	grep -q '^entry ./etc/group f 644 12:34' <<<"$LXC_VIEW"
	grep -q '^entry ./root/null c 644 0:0' <<<"$LXC_VIEW"
	grep -q '^device ./root/null 1:3' <<<"$LXC_VIEW"
	grep -q '^entry ./root/fifo p' <<<"$LXC_VIEW"
	grep -q '^entry ./root/pwlink l 777 0:0 /etc/passwd' <<<"$LXC_VIEW"
	grep -q '^hardlinks ./root/new-link ./root/new.txt$' <<<"$LXC_VIEW"
	grep -q '^xattr user.note="imported"' <<<"$LXC_VIEW"
	grep -q '^entry ./etc/udhcpc/new.script' <<<"$LXC_VIEW"
	! grep -q '^entry ./etc/udhcpc/default.script' <<<"$LXC_VIEW"
	! grep -q '^entry ./etc/fstab' <<<"$LXC_VIEW"
}

# A bundle whose rootfs is a copy of the LXC base rootfs, the volume at /mnt (a
# directory the base has, so the runtime adds nothing to the image).
lxc_bundle () {
	local b=$1
	shift
	"$@" --mount "$VOL:/mnt" --annotation nsfdsuds.io/persist=/mnt --args "sleep 600"
	rm -rf --one-file-system "$b/rootfs"
	cp -a "$LXC_BASE" "$b/rootfs"
}

# The container's root as it sees it (/proc/PID/root) against LXC's view.
compare_with_lxc () {
	local pid=$1 mine
	mine=$(nsfd_view_listing "/proc/$pid/root")
	diff <(echo "$LXC_VIEW") <(echo "$mine")
}

@test "an LXC container's delta, imported, is what a hook-mode container sees; its writes land in the layer" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN" "$NSFD_CLI_BIN"
	nsfd_runc_preopens_root && skip "runc $NSFD_RUNC_VERSION pre-opens the root: hook mode refuses it (wrapper test below)"
	lxc_scenario
	local cfg b id pid layer
	cfg=$(nsfd_hook_config)
	VOL=$(nsfd_hook_volume)
	nsfd_import --from-lxc "$LXC_DIR" "$VOL"
	[ "$status" -eq 0 ]
	layer=$VOL/.nsfdsuds/default
	# A format-1 layer exactly as nsfdsuds makes one.
	[ "$(stat -c '%a %u:%g' "$VOL/.nsfdsuds" "$layer" "$layer/work" "$layer/layer.json")" = "$(printf '700 0:0\n700 0:0\n700 0:0\n600 0:0')" ]
	[ -z "$(ls -A "$layer/work")" ]
	[ "$(jq -r '.format, .xattrs, .overlayOptions' "$layer/layer.json")" = "$(printf '1\ntrusted\nindex=off,metacopy=off,redirect_dir=off')" ]
	jq -e '.lowerId | test("^fnv1a64:[0-9a-f]{16}$")' "$layer/layer.json"
	# The delta's bookkeeping is gone, the opaque directory and the whiteout stay.
	! getfattr -R -h -d -m 'trusted.overlay.(origin|impure|uuid)' "$layer/upper" 2>/dev/null | grep -q overlay
	[ "$(getfattr -h --only-values -n trusted.overlay.opaque "$layer/upper/etc/udhcpc")" = y ]
	[ "$(stat -c '%F %t:%T' "$layer/upper/etc/fstab")" = "character special file 0:0" ]
	# The delta itself is untouched (copy, not move).
	[ -f "$LXC_DIR/overlay/delta/root/new.txt" ]

	b=$(nsfd_tmpdir bundle)
	lxc_bundle "$b" nsfd_hook_bundle "$b" "$cfg"
	id=$(nsfd_unique_id lxc-hook)
	nsfd_create_start runc "$b" "$id"
	nsfd_wait_state runc "$id" running
	pid=$("$RUNC" state "$id" | jq -r .pid)
	compare_with_lxc "$pid"
	# Started on the imported layer without accept-image-change: the fingerprint the
	# import recorded is the one the hook computed.
	grep -q ' - overlay ' "/proc/$pid/mountinfo"
	nsfd_exec runc "$id" sh -c 'echo after >/root/after.txt && cat /root/new.txt'
	[ "$status" -eq 0 ]
	[ "$output" = new ]
	[ "$(cat "$layer/upper/root/after.txt")" = after ]
	nsfd_delete runc "$id"
}

@test "an LXC container's delta, imported, is what a wrapper-mode container sees; its writes land in the layer" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_RUNTIME_BIN" "$NSFD_CLI_BIN"
	lxc_scenario
	local b id pid layer
	nsfd_wrapper_setup runc
	VOL=$NSFD_W_VOLS/vol
	mkdir -p "$VOL"
	nsfd_import --from-lxc "$LXC_DIR" "$VOL"
	[ "$status" -eq 0 ]
	layer=$VOL/.nsfdsuds/default
	b=$(nsfd_tmpdir bundle)
	lxc_bundle "$b" nsfd_bundle "$b"
	id=$(nsfd_unique_id lxc-wrapper)
	nsfd_wrapper_create_start "$b" "$id"
	nsfd_wrapper_wait_state "$id" running
	pid=$(cat "$NSFD_W_DIR/$id.pid")
	compare_with_lxc "$pid"
	nsfd_wrapper_exec "$id" sh -c 'echo after >/root/after.txt'
	[ "$status" -eq 0 ]
	[ "$(cat "$layer/upper/root/after.txt")" = after ]
	nsfd_wrapper_stop_delete "$id"
	nsfd_wrapper_gone "$id" "$VOL"
}
