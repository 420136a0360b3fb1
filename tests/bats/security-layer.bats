#!/usr/bin/env bats
# Hostile volume contents (docs/security.md, "Hostile inputs"): whoever can write the
# persistent volume (the pod, an earlier container, whoever prepared the PVC) replaces
# parts of an existing layer with symlinks (to /etc, to /, to another pod's volume),
# fifos or devices. The hook must refuse at createRuntime, say which part is wrong, and
# leave everything as it was: the volume (a listing with checksums), the symlink's
# target, the host mount table, /run/nsfdsuds, and no mounter process.
#
# Most tests run nsfdsuds-hook directly with a crafted OCI state (the runtime's part is
# played by the test: a sleep stands in for the container's init), which is the exact
# code path a runtime drives, in a fraction of the time. The last tests go through a
# real runtime: the refusal reaching the runtime's error, and changes made to the
# layer while the mounter waits between createRuntime and createContainer (the agent
# held back by the gate of tests/lib/security.bash).

load ../lib/common
load ../lib/hook
load ../lib/security

setup_file () {
	[[ $(id -u) == 0 && -x $NSFD_HOOK_BIN ]] || return 0
	sec_layer_template
}

teardown_file () {
	nsfd_cleanup
}

setup () {
	nsfd_hook_setup
}

teardown () {
	sec_teardown
}

# Names the hook could create if it followed a symlink into a directory.
_SEC_NAMES='^(upper|work|default|layer\.json|holder\.json|\.nsfdsuds|\.new-.*|\..*\.tmp\..*)$'

_sec_names_in () {
	ls -A "$1" | grep -E "$_SEC_NAMES" || true
}

# _tamper PART KIND: make a layer, replace PART by KIND, run createRuntime, check the
# refusal (expected text in $expect) and that nothing changed.
#   PART: topdir (.nsfdsuds) | layer (.nsfdsuds/default) | upper | work | layer.json |
#         holder.json
#   KIND: to-etc | to-root | to-other (the same part of another pod's layer) | fifo | device
_tamper () {
	local part=$1 kind=$2 cfg vol other b layer path target pid id st snap
	local before_vol before_other before_target='' after
	cfg=$(sec_config)
	vol=$(nsfd_hook_volume mine)
	other=$(nsfd_hook_volume other)
	b=$(nsfd_tmpdir bundle)
	sec_bundle "$b" "$vol"
	sec_layer_copy "$vol"
	# Another pod's layer, in use (a holder record) and with data in its upper.
	sec_layer_copy "$other"
	echo secret >"$other/.nsfdsuds/default/upper/data"
	printf '{"container":"other-pod","pid":1}\n' >"$other/.nsfdsuds/default/holder.json"
	chmod 600 "$other/.nsfdsuds/default/holder.json"

	layer=$vol/.nsfdsuds/default
	case $part in
	topdir) path=$vol/.nsfdsuds; target=$other/.nsfdsuds ;;
	layer) path=$layer; target=$other/.nsfdsuds/default ;;
	*) path=$layer/$part; target=$other/.nsfdsuds/default/$part ;;
	esac
	rm -rf "$path"
	case $kind in
	to-etc) ln -s /etc "$path"; target=/etc ;;
	to-root) ln -s / "$path"; target=/ ;;
	to-other) ln -s "$target" "$path" ;;
	fifo) mkfifo "$path"; target='' ;;
	device) mknod "$path" c 1 5; target='' ;;  # /dev/zero: endless if read
	esac

	before_vol=$(nsfd_tree_digest "$vol")
	before_other=$(nsfd_tree_digest "$other")
	[[ -n $target && $target != "$other"* ]] && before_target=$(_sec_names_in "$target")
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"

	pid=$(sec_init_pid)
	id=$(nsfd_unique_id "$part-$kind")
	st=$(nsfd_tmpdir .hook)/state.json
	sec_state "$id" "$b" "$pid" >"$st"
	sec_hook "$cfg" createRuntime "$st"
	sec_assert_refused "$expect"
	[[ $output == *"container $id: createRuntime: the container cannot get its persistent root: "* ]]
	# Bounded: nothing was read from a fifo or a device.
	awk -v e="$sec_elapsed" 'BEGIN { exit !(e < 5) }'

	after=$(nsfd_tree_digest "$vol")
	diff <(echo "$before_vol") <(echo "$after")
	after=$(nsfd_tree_digest "$other")
	diff <(echo "$before_other") <(echo "$after")
	if [[ -n $target && $target != "$other"* ]]; then
		after=$(_sec_names_in "$target")
		diff <(echo "$before_target") <(echo "$after")
	fi
	sec_assert_no_leftovers "$id" "$snap"
}

# --- .nsfdsuds ---------------------------------------------------------------------------

@test "security layer: .nsfdsuds is a symlink to /etc" {
	expect='".nsfdsuds" exists and is not a directory (symlink or other file)'
	_tamper topdir to-etc
}

@test "security layer: .nsfdsuds is a symlink to /" {
	expect='".nsfdsuds" exists and is not a directory (symlink or other file)'
	_tamper topdir to-root
}

@test "security layer: .nsfdsuds is a symlink to another pod's volume" {
	expect='".nsfdsuds" exists and is not a directory (symlink or other file)'
	_tamper topdir to-other
}

# _refused_after LABEL EXPECT CMD...: a copy of a good layer, changed by CMD (run with the
# volume's path in $vol), is refused at createRuntime with EXPECT, and nothing changes.
_refused_after () {
	local label=$1 expect=$2 cfg vol b pid id st snap before after
	shift 2
	cfg=$(sec_config)
	vol=$(nsfd_hook_volume)
	b=$(nsfd_tmpdir bundle)
	sec_bundle "$b" "$vol"
	sec_layer_copy "$vol"
	eval "$*"
	before=$(nsfd_tree_digest "$vol")
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	pid=$(sec_init_pid)
	id=$(nsfd_unique_id "$label")
	st=$(nsfd_tmpdir .hook)/state.json
	sec_state "$id" "$b" "$pid" >"$st"
	sec_hook "$cfg" createRuntime "$st"
	sec_assert_refused "$expect"
	after=$(nsfd_tree_digest "$vol")
	diff <(echo "$before") <(echo "$after")
	sec_assert_no_leftovers "$id" "$snap"
}

@test "security layer: .nsfdsuds is writable by others" {
	_refused_after topdir-mode '.nsfdsuds is writable by group or others (mode 777)' \
		'chmod 0777 "$vol/.nsfdsuds"'
}

@test "security layer: the layer directory is owned by another user" {
	_refused_after layer-owner "/.nsfdsuds/default is owned by uid 65534, expected 0" \
		'chown 65534 "$vol/.nsfdsuds/default"'
}

# --- the layer directory -----------------------------------------------------------------

@test "security layer: the layer directory is a symlink to /etc" {
	expect='opening layer ".nsfdsuds/default" (it must be a real directory, not a symlink)'
	_tamper layer to-etc
}

@test "security layer: the layer directory is a symlink to /" {
	expect='opening layer ".nsfdsuds/default" (it must be a real directory, not a symlink)'
	_tamper layer to-root
}

@test "security layer: the layer directory is a symlink to another pod's layer" {
	expect='opening layer ".nsfdsuds/default" (it must be a real directory, not a symlink)'
	_tamper layer to-other
}

@test "security layer: the layer directory is a fifo" {
	expect='opening layer ".nsfdsuds/default" (it must be a real directory, not a symlink)'
	_tamper layer fifo
}

@test "security layer: the layer directory is a device" {
	expect='opening layer ".nsfdsuds/default" (it must be a real directory, not a symlink)'
	_tamper layer device
}

# --- upper ------------------------------------------------------------------------------------

@test "security layer: upper is a symlink to /etc" {
	expect='/.nsfdsuds/default/upper" (must be a real directory)'
	_tamper upper to-etc
}

@test "security layer: upper is a symlink to /" {
	expect='/.nsfdsuds/default/upper" (must be a real directory)'
	_tamper upper to-root
}

@test "security layer: upper is a symlink to another pod's upper" {
	expect='/.nsfdsuds/default/upper" (must be a real directory)'
	_tamper upper to-other
}

@test "security layer: upper is a fifo" {
	expect='/.nsfdsuds/default/upper" (must be a real directory)'
	_tamper upper fifo
}

@test "security layer: upper is a device" {
	expect='/.nsfdsuds/default/upper" (must be a real directory)'
	_tamper upper device
}

# --- work -------------------------------------------------------------------------------------

@test "security layer: work is a symlink to /etc" {
	expect='/.nsfdsuds/default/work" (must be a real directory)'
	_tamper work to-etc
}

@test "security layer: work is a symlink to /" {
	expect='/.nsfdsuds/default/work" (must be a real directory)'
	_tamper work to-root
}

@test "security layer: work is a symlink to another pod's work" {
	expect='/.nsfdsuds/default/work" (must be a real directory)'
	_tamper work to-other
}

@test "security layer: work is a fifo" {
	expect='/.nsfdsuds/default/work" (must be a real directory)'
	_tamper work fifo
}

@test "security layer: work is a device" {
	expect='/.nsfdsuds/default/work" (must be a real directory)'
	_tamper work device
}

# --- layer.json -------------------------------------------------------------------------------

@test "security layer: layer.json is a symlink to /etc" {
	expect='opening "layer.json": a symbolic link is in the way'
	_tamper layer.json to-etc
}

@test "security layer: layer.json is a symlink to /" {
	expect='opening "layer.json": a symbolic link is in the way'
	_tamper layer.json to-root
}

@test "security layer: layer.json is a symlink to another pod's layer.json" {
	expect='opening "layer.json": a symbolic link is in the way'
	_tamper layer.json to-other
}

@test "security layer: layer.json is a fifo" {
	expect='"layer.json" is not a regular file'
	_tamper layer.json fifo
}

@test "security layer: layer.json is a device" {
	expect='"layer.json" is not a regular file'
	_tamper layer.json device
}

# --- holder.json ------------------------------------------------------------------------------

@test "security layer: holder.json is a symlink to another pod's holder.json" {
	expect='holder record of layer "'
	_tamper holder.json to-other
	[[ $output == *'opening "holder.json": a symbolic link is in the way'* ]]
}

@test "security layer: holder.json is a symlink to /etc" {
	expect='opening "holder.json": a symbolic link is in the way'
	_tamper holder.json to-etc
}

@test "security layer: holder.json is a fifo" {
	expect='"holder.json" is not a regular file'
	_tamper holder.json fifo
}

# --- through a runtime ----------------------------------------------------------------------

# The same refusal, driven by a real runtime: the container does not start, runc's
# error quotes the hook (crun only reports the exit status), nothing is left.
@test "security layer: upper replaced by a symlink to /etc stops a real container" {
	local rt cfg vol b id snap marker before after
	rt=$(sec_rt)
	cfg=$(sec_config)
	vol=$(nsfd_hook_volume)
	marker=$(nsfd_tmpdir marker)
	b=$(nsfd_tmpdir bundle)
	nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" --mount "$marker:/marker" \
		--annotation nsfdsuds.io/persist=/data --args "sh -c 'touch /marker/ran; echo MARKER-RAN'"
	sec_make_layer "$cfg" "$b"
	rm -rf "$vol/.nsfdsuds/default/upper"
	ln -s /etc "$vol/.nsfdsuds/default/upper"
	before=$(nsfd_tree_digest "$vol")
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id upper-etc-$rt)
	nsfd_run_container "$rt" "$b" "$id"
	echo "status $status"; echo "$output"
	[ "$status" -ne 0 ]
	[[ $output != *MARKER-RAN* ]]
	[ ! -e "$marker/ran" ]
	if [[ $rt == runc ]]; then
		[[ ${output//\\\"/\"} == *'/.nsfdsuds/default/upper" (must be a real directory)'* ]]
	fi
	after=$(nsfd_tree_digest "$vol")
	diff <(echo "$before") <(echo "$after")
	nsfd_delete "$rt" "$id" || true
	sec_assert_no_leftovers "$id" "$snap"
}

# --- swapped while the mounter waits -------------------------------------------------------

# Between createRuntime (which checked the layer) and createContainer (where the overlay
# is mounted), whoever can write the volume swaps a layer directory. The worker opens
# upper and work again without following symlinks and compares them with the
# directories checked at createRuntime (held open since): the container fails, nothing
# is mounted, the layer is released. KIND: symlink (upper -> /etc) or dir (upper moved
# aside, a fresh directory in its place).
_swap_while_waiting () {
	local kind=$1 rt cfg vol b id snap d layer etc_before after
	rt=$(sec_rt)
	cfg=$(sec_config)
	vol=$(nsfd_hook_volume)
	b=$(nsfd_tmpdir bundle)
	sec_gated_bundle "$b" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "sh -c 'echo MARKER-RAN'"
	mkdir -p "$b/rootfs/data"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id swap-$kind-$rt)
	sec_gated_create "$rt" "$b" "$id"
	layer=$vol/.nsfdsuds/default
	[ "$(jq -r .container "$layer/holder.json")" = "$id" ]
	mv "$layer/upper" "$layer/upper.prepared"
	case $kind in
	symlink) ln -s /etc "$layer/upper" ;;
	dir) mkdir "$layer/upper" ;;
	esac
	etc_before=$(_sec_names_in /etc)
	sec_open_gate
	d=$(nsfd_tmpdir .runtime)
	echo "create: status $SEC_CREATE_STATUS"; cat "$d/$id.out" "$d/$id.err"
	[ "$SEC_CREATE_STATUS" -ne 0 ]
	! grep -q MARKER-RAN "$d/$id.out"
	if [[ $rt == runc ]]; then
		case $kind in
		symlink) grep -qF "$layer/upper\\\" (a symbolic link is in the way)" "$d/$id.err" ;;
		dir) grep -qF "$layer/upper\\\" is not the directory that was prepared (it was replaced while the container was being created)" "$d/$id.err" ;;
		esac
	fi
	nsfd_wait_gone "$SEC_MPID" 5
	after=$(_sec_names_in /etc)
	diff <(echo "$etc_before") <(echo "$after")
	[ -z "$(ls -A "$layer/upper.prepared")" ]
	[ ! -e "$layer/holder.json" ]
	nsfd_delete "$rt" "$id" || true
	sec_assert_no_leftovers "$id" "$snap"
}

@test "security layer: upper swapped for a symlink to /etc while the mounter waits" {
	_swap_while_waiting symlink
}

@test "security layer: upper swapped for another directory while the mounter waits" {
	_swap_while_waiting dir
}

# Whoever can write the volume removes holder.json while the mounter waits, and the
# container never reaches createContainer (the runtime fails at the gate; no poststop
# to help). The mounter must still clean up after itself: it used to crash releasing
# a layer without a holder record, leaving /run/nsfdsuds/<id>/record behind.
@test "security layer: holder.json removed while the mounter waits, and the container never comes" {
	local rt cfg vol b id snap d layer
	rt=$(sec_rt)
	cfg=$(sec_config)
	vol=$(nsfd_hook_volume)
	b=$(nsfd_tmpdir bundle)
	sec_gated_bundle "$b" "$cfg" --without-poststop --mount "$vol:/data" \
		--annotation nsfdsuds.io/persist=/data --args "sh -c 'echo MARKER-RAN'"
	mkdir -p "$b/rootfs/data"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id holder-gone-$rt)
	sec_gated_create "$rt" "$b" "$id"
	layer=$vol/.nsfdsuds/default
	rm "$layer/holder.json"
	sec_abort_gate
	d=$(nsfd_tmpdir .runtime)
	echo "create: status $SEC_CREATE_STATUS"; cat "$d/$id.out" "$d/$id.err"
	[ "$SEC_CREATE_STATUS" -ne 0 ]
	! grep -q MARKER-RAN "$d/$id.out"
	nsfd_wait_gone "$SEC_MPID" 5
	[ ! -e "$NSFD_HOOK_RUNDIR/$id" ] || { ls -la "$NSFD_HOOK_RUNDIR/$id"; false; }
	[ ! -e "$layer/holder.json" ]
	[ -z "$(ls -A "$layer/upper")" ]
	nsfd_delete "$rt" "$id" || true
	sec_assert_no_leftovers "$id" "$snap"
}
