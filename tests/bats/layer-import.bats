#!/usr/bin/env bats
# nsfdsuds layer import: an LXC container's delta (real LXC), an overlay upper, the
# conversions overlayfs needs, --shift, refusing what cannot be carried, existing and
# busy layers, and hostile source trees.
load ../lib/common
load ../lib/hook
load ../lib/wrapper
load ../lib/lxc

setup () {
	command -v getfattr >/dev/null && command -v setfattr >/dev/null || skip "needs getfattr/setfattr (attr)"
	command -v python3 >/dev/null || skip "needs python3"
}

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
	# A running container's delta is refused: it keeps changing under the copy.
	nsfd_import --from-lxc "$LXC_DIR" "$(nsfd_tmpdir vol-running)"
	[ "$status" -eq 1 ]
	[[ $output == *"is the upper of a mounted overlay"*"stop that container first"* ]]
	[ ! -e "$(nsfd_tmpdir vol-running)/.nsfdsuds/default" ]
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

# mount_overlay DIR OPTIONS: an overlay at DIR (made, tracked).
mount_overlay () {
	mkdir -p "$1"
	nsfd_track_mount "$1"
	mount -t overlay overlay -o "$2" "$1"
}

# The imported layer's upper over LOWER, mounted the way hook and wrapper mount it.
mount_layer () {
	local layer=$1 lower=$2 at=$3 work
	work=$(nsfd_tmpdir "work-${at##*/}")
	mount_overlay "$at" "lowerdir=$lower,upperdir=$layer/upper,workdir=$work,index=off,metacopy=off,redirect_dir=off"
}

# A lower with a bit of everything.
make_lower () {
	mkdir -p "$1/etc/conf.d" "$1/usr/share/doc/pkg/sub" "$1/var/lib"
	echo passwd >"$1/etc/passwd"
	echo a >"$1/etc/conf.d/a"
	echo b >"$1/etc/conf.d/b"
	echo readme >"$1/usr/share/doc/pkg/README"
	echo deep >"$1/usr/share/doc/pkg/sub/deep"
	echo data >"$1/var/lib/file"
}

@test "an unprivileged-style LXC container (lxc.idmap), imported with --shift: a hook-mode container sees its files owned as LXC's container made them" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN" "$NSFD_CLI_BIN"
	nsfd_runc_preopens_root && skip "runc $NSFD_RUNC_VERSION pre-opens the root: hook mode refuses it"
	nsfd_skip_unless_lxc
	local image cfg b id pid d u r
	nsfd_lxc_base base
	# The image the new container runs on: the base rootfs as a runtime has it (owners 0).
	image=$(nsfd_tmpdir image)/rootfs
	cp -a "$(nsfd_lxc_path)/base/rootfs" "$image"
	nsfd_lxc_snapshot base snap
	LXC_DIR=$(nsfd_lxc_path)/snap
	nsfd_lxc_idmap snap 100000 65536
	nsfd_lxc_start_idmapped snap
	# An overlay mounted in LXC's user namespace cannot write trusted.* xattrs, so no
	# directory is removed and recreated here (opaque directories fail with EIO there).
	nsfd_lxc_attach snap /bin/sh -c '
		set -e
		echo new >/root/new.txt
		rm /etc/fstab
		chown 12:34 /etc/group
		mkdir -p /home/app
		echo a >/home/app/f
		chown -R 1000:1000 /home/app
		sync'
	nsfd_lxc_stop snap
	# What LXC wrote: host ids, shifted by the map.
	d=$LXC_DIR/overlay/delta
	[ "$(stat -c '%u:%g' "$d/root/new.txt" "$d/home/app/f" "$d/etc/group" "$d/etc/fstab")" = \
		"$(printf '100000:100000\n101000:101000\n100012:100034\n100000:100000')" ]

	cfg=$(nsfd_hook_config)
	VOL=$(nsfd_hook_volume)
	nsfd_import --from-lxc "$LXC_DIR" "$VOL"
	[ "$status" -eq 0 ]
	[[ $output == *"--shift"* ]] # an idmap and no --shift: the summary says so
	nsfd_import --from-lxc "$LXC_DIR" --force --shift 100000:0:65536 "$VOL"
	[ "$status" -eq 0 ]
	u=$VOL/.nsfdsuds/default/upper
	[ "$(stat -c '%u:%g' "$u/root/new.txt" "$u/home/app/f" "$u/etc/group")" = "$(printf '0:0\n1000:1000\n12:34')" ]
	[ "$(stat -c '%F %t:%T' "$u/etc/fstab")" = "character special file 0:0" ]

	b=$(nsfd_tmpdir bundle)
	LXC_BASE=$image lxc_bundle "$b" nsfd_hook_bundle "$b" "$cfg"
	id=$(nsfd_unique_id lxc-idmap)
	nsfd_create_start runc "$b" "$id"
	nsfd_wait_state runc "$id" running
	pid=$("$RUNC" state "$id" | jq -r .pid)
	# On the imported layer without accept-image-change (owners are not in lowerId).
	grep -q ' - overlay ' "/proc/$pid/mountinfo"
	r=/proc/$pid/root
	[ "$(stat -c '%u:%g' "$r/root" "$r/root/new.txt" "$r/home/app" "$r/home/app/f" "$r/etc/group" "$r/bin/busybox")" = \
		"$(printf '0:0\n0:0\n1000:1000\n1000:1000\n12:34\n0:0')" ]
	[ ! -e "$r/etc/fstab" ]
	nsfd_exec runc "$id" cat /root/new.txt
	[ "$output" = new ]
	nsfd_delete runc "$id"
}

@test "a userxattr-form upper (user.overlay.*) is imported in the trusted form and mounts the same" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol layer before after
	t=$(nsfd_tmpdir)
	make_lower "$t/lower"
	mkdir -p "$t/upper" "$t/work"
	# Changes made through a real userxattr overlay: overlayfs writes user.overlay.*.
	mount_overlay "$t/m" "lowerdir=$t/lower,upperdir=$t/upper,workdir=$t/work,userxattr"
	rm -rf "$t/m/etc/conf.d"
	mkdir "$t/m/etc/conf.d"
	echo c >"$t/m/etc/conf.d/c"
	rm "$t/m/var/lib/file"
	echo changed >>"$t/m/etc/passwd"
	setfattr -n user.mine -v kept "$t/m/etc/passwd"
	umount "$t/m"
	getfattr -h -n user.overlay.opaque "$t/upper/etc/conf.d"
	before=$(mount_overlay "$t/ref" "ro,lowerdir=$t/upper:$t/lower,userxattr" && nsfd_view_listing "$t/ref")
	umount "$t/ref"

	vol=$(nsfd_tmpdir vol)
	nsfd_import --upper "$t/upper" --lower "$t/lower" "$vol"
	[ "$status" -eq 0 ]
	[[ $output == *"converted: 0 whiteouts, 1 attributes to trusted.overlay.*"* ]]
	layer=$vol/.nsfdsuds/default
	[ "$(getfattr -h --only-values -n trusted.overlay.opaque "$layer/upper/etc/conf.d")" = y ]
	! getfattr -R -h -d -m 'user.overlay' "$layer/upper" 2>/dev/null | grep -q overlay
	[ "$(getfattr -h --only-values -n user.mine "$layer/upper/etc/passwd")" = kept ]
	jq -e '.lowerId | startswith("fnv1a64:")' "$layer/layer.json"
	mount_layer "$layer" "$t/lower" "$t/new"
	after=$(nsfd_view_listing "$t/new")
	diff <(echo "$before") <(echo "$after")
	grep -q '^entry ./etc/conf.d/c ' <<<"$after"
	! grep -q '^entry ./etc/conf.d/a ' <<<"$after"
	! grep -q '^entry ./var/lib/file ' <<<"$after"
}

@test "6.7+ whiteouts (a zero-size file with overlay.whiteout, either namespace) become 0:0 devices" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol layer view
	t=$(nsfd_tmpdir)
	make_lower "$t/lower"
	mkdir -p "$t/upper/etc/conf.d" "$t/upper/var/lib"
	: >"$t/upper/etc/conf.d/a"
	setfattr -n trusted.overlay.whiteout -v "" "$t/upper/etc/conf.d/a"
	setfattr -n trusted.overlay.opaque -v x "$t/upper/etc/conf.d"
	: >"$t/upper/var/lib/file"
	setfattr -n user.overlay.whiteout -v "" "$t/upper/var/lib/file"
	# A zero-size file without the attribute is a file, not a whiteout.
	: >"$t/upper/etc/empty"
	vol=$(nsfd_tmpdir vol)
	nsfd_import --upper "$t/upper" "$vol"
	[ "$status" -eq 0 ]
	[[ $output == *"converted: 2 whiteouts"* ]]
	[[ $output == *"no lowerId recorded"* ]]
	layer=$vol/.nsfdsuds/default
	[ "$(stat -c '%F %t:%T %a' "$layer/upper/etc/conf.d/a" "$layer/upper/var/lib/file")" = \
		"$(printf 'character special file 0:0 0\ncharacter special file 0:0 0')" ]
	[ "$(stat -c '%F' "$layer/upper/etc/empty")" = "regular empty file" ]
	# opaque "x" (a directory holding such whiteouts) is not an opaque directory.
	! getfattr -h -n trusted.overlay.opaque "$layer/upper/etc/conf.d" 2>/dev/null
	jq -e 'has("lowerId") | not' "$layer/layer.json"
	mount_layer "$layer" "$t/lower" "$t/new"
	view=$(nsfd_view_listing "$t/new")
	! grep -q '^entry ./etc/conf.d/a ' <<<"$view"
	grep -q '^entry ./etc/conf.d/b ' <<<"$view"
	! grep -q '^entry ./var/lib/file ' <<<"$view"
	grep -q '^entry ./etc/empty f' <<<"$view"
}

@test "redirect and metacopy entries are refused by name without --lower and filled in from the lower with it" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol layer before after
	t=$(nsfd_tmpdir)
	make_lower "$t/lower"
	mkdir -p "$t/upper" "$t/work"
	# A kernel mount with redirect_dir and metacopy on writes both.
	mount_overlay "$t/m" "lowerdir=$t/lower,upperdir=$t/upper,workdir=$t/work,redirect_dir=on,metacopy=on,index=off"
	mv "$t/m/usr/share/doc" "$t/m/usr/share/docs"
	echo more >"$t/m/usr/share/docs/pkg/new"
	chmod 600 "$t/m/var/lib/file"
	mv "$t/m/etc/conf.d/a" "$t/m/etc/conf.d/a2"
	chmod 640 "$t/m/etc/conf.d/a2"
	umount "$t/m"
	getfattr -h -n trusted.overlay.redirect "$t/upper/usr/share/docs"
	getfattr -h -n trusted.overlay.metacopy "$t/upper/var/lib/file"
	before=$(mount_overlay "$t/ref" "ro,lowerdir=$t/upper:$t/lower,redirect_dir=follow,metacopy=on" &&
		nsfd_view_listing "$t/ref")
	umount "$t/ref"
	grep -q '^entry ./usr/share/docs/pkg/sub/deep f' <<<"$before"

	vol=$(nsfd_tmpdir vol)
	nsfd_import --upper "$t/upper" "$vol"
	[ "$status" -eq 1 ]
	[[ $output == *"cannot carry /usr/share/docs: overlay.redirect"*"--lower"* ]]
	[[ $output == *"cannot carry /var/lib/file: overlay.metacopy"* ]]
	[[ $output == *"cannot carry /etc/conf.d/a2: overlay.metacopy"* ]]
	[[ $output == *"3 entries cannot be carried"* ]]
	[ ! -e "$vol/.nsfdsuds/default" ]
	[ -z "$(ls -A "$vol/.nsfdsuds")" ]

	nsfd_import --upper "$t/upper" --lower "$t/lower" "$vol"
	[ "$status" -eq 0 ]
	layer=$vol/.nsfdsuds/default
	! getfattr -R -h -d -m 'trusted.overlay.(redirect|metacopy)' "$layer/upper" 2>/dev/null | grep -q overlay
	[ "$(getfattr -h --only-values -n trusted.overlay.opaque "$layer/upper/usr/share/docs")" = y ]
	[ "$(cat "$layer/upper/var/lib/file")" = data ]
	mount_layer "$layer" "$t/lower" "$t/new"
	after=$(nsfd_view_listing "$t/new")
	diff <(echo "$before") <(echo "$after")

	# The same with --move: filled in where it lies.
	cp -a --preserve=all "$t/upper" "$t/upper2"
	getfattr -h -n trusted.overlay.redirect "$t/upper2/usr/share/docs"
	nsfd_import --upper "$t/upper2" --lower "$t/lower" --move --name moved "$vol"
	[ "$status" -eq 0 ]
	[ ! -e "$t/upper2" ]
	mount_layer "$vol/.nsfdsuds/moved" "$t/lower" "$t/new2"
	diff <(echo "$before") <(nsfd_view_listing "$t/new2")
}

@test "--shift maps owners, group owners and ACL entries like an idmap; other ids stay" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	command -v setfacl >/dev/null || skip "no setfacl"
	local t vol u
	t=$(nsfd_tmpdir)
	mkdir -p "$t/upper/home/app"
	echo x >"$t/upper/home/app/f"
	ln -s f "$t/upper/home/app/l"
	mkfifo "$t/upper/home/app/p"
	chown 100000:100000 "$t/upper" "$t/upper/home"
	chown 101000:101001 "$t/upper/home/app" "$t/upper/home/app/f" "$t/upper/home/app/p"
	chown -h 101000:101000 "$t/upper/home/app/l"
	chmod 4755 "$t/upper/home/app/f"
	chown 5:5 "$t/upper/home/app/p"
	setfacl -m u:101002:r "$t/upper/home/app/f"
	vol=$(nsfd_tmpdir vol)
	nsfd_import --upper "$t/upper" --shift 100000:0:65536 "$vol"
	[ "$status" -eq 0 ]
	u=$vol/.nsfdsuds/default/upper
	[ "$(stat -c '%u:%g' "$u" "$u/home" "$u/home/app" "$u/home/app/f" "$u/home/app/p")" = \
		"$(printf '0:0\n0:0\n1000:1001\n1000:1001\n5:5')" ]
	[ "$(stat -c '%u:%g' "$u/home/app/l")" = 1000:1000 ]
	# The setuid bit is kept (a chown clears it; the mode is set after).
	[ "$(stat -c '%a' "$u/home/app/f")" = 4755 ]
	getfacl -n "$u/home/app/f" | grep -qx 'user:1002:r--'
	# The source is unchanged.
	[ "$(stat -c '%u' "$t/upper/home/app/f")" = 101000 ]
	nsfd_import --upper "$t/upper" --shift 1:2 --name other "$vol"
	[ "$status" -eq 2 ]
	[[ $output == *"FROM:TO:COUNT"* ]]
}

# holder.json naming PID (with its start time and this boot's id), as a container's.
write_holder () {
	local layer=$1 pid=$2 start boot
	start=$(awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$pid/stat")
	boot=$(cat /proc/sys/kernel/random/boot_id)
	(umask 077 && jq -n --arg b "$boot" --argjson p "$pid" --argjson s "$start" \
		'{container: "web-0", bootId: $b, pid: $p, pidStartTime: $s, mode: "hook", since: "2026-01-01T00:00:00Z"}' \
		>"$layer/holder.json")
}

@test "an existing layer is replaced only with --force, and never while a container holds it" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol layer pid
	t=$(nsfd_tmpdir)
	mkdir -p "$t/one" "$t/two"
	echo one >"$t/one/marker"
	echo two >"$t/two/marker"
	vol=$(nsfd_tmpdir vol)
	nsfd_import --upper "$t/one" "$vol"
	[ "$status" -eq 0 ]
	layer=$vol/.nsfdsuds/default
	nsfd_import --upper "$t/two" "$vol"
	[ "$status" -eq 1 ]
	[[ $output == *'layer "default" already exists; --force replaces it'* ]]
	[ "$(cat "$layer/upper/marker")" = one ]

	# A live holder: a process of this test stands in for the container's init.
	sleep 600 3>&- &
	pid=$!
	nsfd_track_pid "$pid"
	write_holder "$layer" "$pid"
	nsfd_import --upper "$t/two" --force "$vol"
	[ "$status" -eq 1 ]
	[[ $output == *'is in use by container "web-0" (pid '"$pid"* ]]
	[ "$(cat "$layer/upper/marker")" = one ]
	[ -f "$layer/holder.json" ]
	# The layer directory given as LAYER is the same layer.
	nsfd_import --upper "$t/two" --force "$layer"
	[ "$status" -eq 1 ]
	[[ $output == *"in use"* ]]

	# Once the holder is gone, --force replaces it (no holder.json in the new layer).
	kill -9 "$pid"
	nsfd_wait_gone "$pid"
	nsfd_import --upper "$t/two" --force "$layer"
	[ "$status" -eq 0 ]
	[[ $output == *"replacing the old one"* ]]
	[ "$(cat "$layer/upper/marker")" = two ]
	[ ! -e "$layer/holder.json" ]
	[ "$(ls -A "$vol/.nsfdsuds")" = default ]
	# A name that is not a layer name is refused.
	nsfd_import --upper "$t/two" --name ../x "$vol"
	[ "$status" -eq 1 ]
	[[ $output == *"invalid layer name"* ]]
}

@test "--move renames the upper into the layer and converts it in place" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol u ino
	t=$(nsfd_tmpdir)
	vol=$(nsfd_tmpdir vol)
	mkdir -p "$t/delta/etc/d" "$t/delta/var"
	echo x >"$t/delta/etc/file"
	ln "$t/delta/etc/file" "$t/delta/etc/file2"
	setfattr -n user.overlay.opaque -v y "$t/delta/etc/d"
	setfattr -n user.overlay.origin -v abc "$t/delta/etc/file"
	: >"$t/delta/var/gone"
	setfattr -n trusted.overlay.whiteout -v "" "$t/delta/var/gone"
	chown -R 100000:100000 "$t/delta"
	ino=$(stat -c %i "$t/delta/etc/file")
	# Refused entries: nothing is moved.
	mkdir "$t/delta/ren"
	setfattr -n trusted.overlay.redirect -v /elsewhere "$t/delta/ren"
	nsfd_import --upper "$t/delta" --move "$vol"
	[ "$status" -eq 1 ]
	[[ $output == *"cannot carry /ren: overlay.redirect"* ]]
	[ -d "$t/delta/etc" ]
	[ ! -e "$vol/.nsfdsuds/default" ]
	rmdir "$t/delta/ren"

	nsfd_import --upper "$t/delta" --move --shift 100000:0:65536 "$vol"
	[ "$status" -eq 0 ]
	[[ $output == *"(moved in "* ]]
	[ ! -e "$t/delta" ]
	u=$vol/.nsfdsuds/default/upper
	[ "$(stat -c %i "$u/etc/file")" = "$ino" ]
	[ "$(stat -c '%h %u:%g' "$u/etc/file")" = "2 0:0" ]
	[ "$(getfattr -h --only-values -n trusted.overlay.opaque "$u/etc/d")" = y ]
	! getfattr -R -h -d -m 'user.overlay|trusted.overlay.origin' "$u" 2>/dev/null | grep -q overlay
	[ "$(stat -c '%F %t:%T' "$u/var/gone")" = "character special file 0:0" ]
	[ "$(stat -c '%a %u:%g' "$vol/.nsfdsuds/default/work")" = "700 0:0" ]

	# Another filesystem: refused, nothing moved.
	mkdir -p "$t/tmpfs"
	nsfd_track_mount "$t/tmpfs"
	mount -t tmpfs tmpfs "$t/tmpfs"
	mkdir "$t/tmpfs/delta"
	echo y >"$t/tmpfs/delta/f"
	nsfd_import --upper "$t/tmpfs/delta" --move --name other "$vol"
	[ "$status" -eq 1 ]
	[[ $output == *"same filesystem"*"without --move"* ]]
	[ -f "$t/tmpfs/delta/f" ]
	[ ! -e "$vol/.nsfdsuds/other" ]
}

@test "a hostile upper (symlinks out, a fifo, devices, names with newlines) is copied as it is; nothing outside is touched" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol u before after
	t=$(nsfd_tmpdir)
	vol=$(nsfd_tmpdir vol)
	mkdir -p "$t/outside" "$t/up/dir"
	echo secret >"$t/outside/secret"
	ln -s /etc "$t/up/etc"
	ln -s /etc/shadow "$t/up/shadow"
	ln -s "$t/outside" "$t/up/out"
	ln -s ../../../../../../outside "$t/up/dir/rel"
	ln -s "$t/outside/secret" "$t/up/dir/secret"
	mkfifo "$t/up/fifo" "$t/up/dir/pipe"
	mknod "$t/up/disk" b 7 0
	mknod "$t/up/tty" c 5 0
	mkdir "$t/up/new"$'\n'"line"
	echo nl >"$t/up/new"$'\n'"line/file"$'\n'
	echo tab >"$t/up/tab"$'\t'"name"
	before=$(cd "$t/outside" && find . -printf '%p %y %m %s %T@\n' && cat secret; stat -c '%Y %s' /etc /etc/shadow)
	SECONDS=0
	nsfd_import --upper "$t/up" "$vol"
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 60 ]
	u=$vol/.nsfdsuds/default/upper
	[ "$(readlink "$u/etc")" = /etc ]
	[ "$(readlink "$u/shadow")" = /etc/shadow ]
	[ "$(readlink "$u/out")" = "$t/outside" ]
	[ "$(readlink "$u/dir/rel")" = ../../../../../../outside ]
	[ "$(stat -c %F "$u/fifo" "$u/dir/pipe")" = "$(printf 'fifo\nfifo')" ]
	[ "$(stat -c '%F %t:%T' "$u/disk" "$u/tty")" = "$(printf 'block special file 7:0\ncharacter special file 5:0')" ]
	[ "$(cat "$u/new"$'\n'"line/file"$'\n')" = nl ]
	[ "$(cat "$u/tab"$'\t'"name")" = tab ]
	after=$(cd "$t/outside" && find . -printf '%p %y %m %s %T@\n' && cat secret; stat -c '%Y %s' /etc /etc/shadow)
	[ "$before" = "$after" ]
	# Nothing but the layer was made in the volume, nothing beside the source.
	[ "$(ls -A "$vol")" = .nsfdsuds ]
	[ "$(ls -A "$vol/.nsfdsuds")" = default ]
	[ "$(ls -A "$t/outside")" = secret ]
}

@test "a 10,000-level-deep upper is refused with a clear error, quickly, leaving nothing" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol
	t=$(nsfd_tmpdir)
	vol=$(nsfd_tmpdir vol)
	mkdir -p "$t/up"
	python3 - "$t/up" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for i in range(10000):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
os.close(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
PY
	SECONDS=0
	nsfd_import --upper "$t/up" "$vol"
	[ "$status" -eq 1 ]
	[ "$SECONDS" -lt 60 ]
	[[ $output == *"deeper than 4096 levels at \"/d/d/d/"* ]]
	[ -z "$(ls -A "$vol/.nsfdsuds")" ]
	# A tree 4,000 deep is imported whole (two fds per level fit).
	mkdir -p "$t/up2"
	python3 - "$t/up2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for i in range(4000):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
os.close(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
PY
	nsfd_import --upper "$t/up2" "$vol"
	[ "$status" -eq 0 ]
	[[ $output == *"1 files, 4000 directories"* ]]
}

# _import_started PID VOL: the import PID has made its temporary layer (it is copying),
# or it has ended; the caller tells which by kill.
_import_started () {
	[ -d "$2/.nsfdsuds/.import-$1-default" ] || ! kill -0 "$1" 2>/dev/null
}

@test "an interrupted import leaves no layer under the real name" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol pid rc=0
	t=$(nsfd_tmpdir)
	vol=$(nsfd_tmpdir vol)
	mkdir -p "$t/up"
	(cd "$t/up" && seq -w 1 40000 | xargs touch)
	# The signal goes as soon as the temporary layer exists, not after a fixed sleep:
	# 40,000 entries are still to be copied then, even on a fast machine.
	"$NSFD_CLI_BIN" layer import --upper "$t/up" "$vol" >"$t/out" 2>&1 3>&- &
	pid=$!
	nsfd_track_pid "$pid"
	NSFD_WAIT_INTERVAL=0.005 nsfd_wait_until 30 _import_started "$pid" "$vol"
	kill -INT "$pid" || skip "the import finished before it could be interrupted"
	wait "$pid" || rc=$?
	cat "$t/out"
	[ "$rc" -eq 1 ]
	grep -q interrupted "$t/out"
	[ -z "$(ls -A "$vol/.nsfdsuds")" ]

	# SIGKILL: the temporary directory stays, never the layer under its name.
	"$NSFD_CLI_BIN" layer import --upper "$t/up" "$vol" >"$t/out" 2>&1 3>&- &
	pid=$!
	nsfd_track_pid "$pid"
	NSFD_WAIT_INTERVAL=0.005 nsfd_wait_until 30 _import_started "$pid" "$vol"
	kill -KILL "$pid" || skip "the import finished before it could be killed"
	wait "$pid" || true
	[ ! -e "$vol/.nsfdsuds/default" ]
	ls -A "$vol/.nsfdsuds" | grep -qx ".import-$pid-default"
}

@test "layer import: --help, usage errors, and a source that is not a directory" {
	nsfd_require_build "$NSFD_CLI_BIN"
	run "$NSFD_CLI_BIN" layer import --help
	[ "$status" -eq 0 ]
	[[ $output == *"--from-lxc"*"--upper"*"--shift FROM:TO:COUNT"* ]]
	run "$NSFD_CLI_BIN" layer --help
	[[ $output == *"import"* ]]
	run "$NSFD_CLI_BIN" layer import /tmp
	[ "$status" -eq 2 ]
	run "$NSFD_CLI_BIN" layer import --from-lxc /a --upper /b /tmp
	[ "$status" -eq 2 ]
	run "$NSFD_CLI_BIN" layer import --upper /b --bogus /tmp
	[ "$status" -eq 2 ]
	[[ $output == *"unknown option"* ]]
	nsfd_skip_unless_root
	local t
	t=$(nsfd_tmpdir)
	echo x >"$t/file"
	nsfd_import --upper "$t/file" "$(nsfd_tmpdir vol)"
	[ "$status" -eq 1 ]
	[[ $output == *"opening the upper"* ]]
	# An LXC container whose root is not an overlay.
	mkdir -p "$t/c"
	echo "lxc.rootfs.path = dir:$t/c/rootfs" >"$t/c/config"
	nsfd_import --from-lxc "$t/c" "$(nsfd_tmpdir vol)"
	[ "$status" -eq 1 ]
	[[ $output == *"is not an overlay"* ]]
	echo "lxc.rootfs.path = overlay:/a:/b:$t/c/delta" >"$t/c/config"
	nsfd_import --from-lxc "$t/c" "$(nsfd_tmpdir vol)"
	[ "$status" -eq 1 ]
	[[ $output == *"2 lower layers"*"flatten"* ]]
}

@test "--from-lxc follows lxc.include (a file, a directory of *.conf); the last lxc.rootfs.path wins; a loop is refused" {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	local t vol
	t=$(nsfd_tmpdir lxc-include)
	mkdir -p "$t/base/etc" "$t/c/overlay/delta/etc" "$t/conf.d" "$t/other/delta"
	echo base >"$t/base/etc/base.txt"
	echo delta >"$t/c/overlay/delta/etc/new.txt"
	# As LXC's own configs do: the rootfs in an included file, overridden by a later one.
	printf 'lxc.include = %s\nlxc.include = %s\nlxc.uts.name = c\n' "$t/common.conf" "$t/conf.d" >"$t/c/config"
	echo "lxc.rootfs.path = overlay:$t/base:$t/other/delta" >"$t/common.conf"
	echo "lxc.rootfs.path = overlay:$t/base:$t/c/overlay/delta" >"$t/conf.d/50-rootfs.conf"
	echo "lxc.rootfs.path = overlay:/not/read:/not/read" >"$t/conf.d/50-rootfs.conf.bak"
	vol=$(nsfd_tmpdir vol-include)
	nsfd_import --from-lxc "$t/c" "$vol"
	[ "$status" -eq 0 ]
	[ "$(cat "$vol/.nsfdsuds/default/upper/etc/new.txt")" = delta ]
	grep -q '"lowerId"' "$vol/.nsfdsuds/default/layer.json"
	# A loop through the directory back to the file that included it.
	echo "lxc.include = $t/common.conf" >>"$t/conf.d/50-rootfs.conf"
	echo "lxc.include = $t/conf.d" >>"$t/common.conf"
	vol=$(nsfd_tmpdir vol-loop)
	nsfd_import --from-lxc "$t/c" "$vol"
	[ "$status" -eq 1 ]
	[[ $output == *"lxc.include loop: \"$t/common.conf\" includes itself"* ]]
	[ ! -e "$vol/.nsfdsuds/default" ]
}
