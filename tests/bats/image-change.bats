#!/usr/bin/env bats
# The image under a layer changed (layer.json "lowerId", docs/layer-format.md):
#
#   - onImageChange "refuse" (the default): a changed /usr/bin or /etc/os-release stops
#     the container with a message naming the layer and both fingerprints; layer.json
#     is not touched and the layer stays usable with the old image;
#   - nsfdsuds.io/accept-image-change=true: starts, layer.json has the new lowerId and
#     the old one as previousLowerId; later starts on the new image need nothing;
#   - onImageChange "warn": starts, and a warning is logged;
#   - a container on a changed image is refused while the layer is in use by another,
#     and its refusal does not rewrite the layer's lowerId under the running one.
# Hook mode with runc where it pivots by path, with crun where runc pre-opens the root
# (nsfd_hook_runtime); wrapper mode with the suite's runc.

load ../lib/common
load ../lib/hook
load ../lib/wrapper
load ../lib/faults

HRT=$(nsfd_hook_runtime)

_meta () {
	jq -r ".$2 // \"none\"" "$1/.nsfdsuds/default/layer.json"
}

_setup () {
	local mode=$1 cfgx=${2:-.}
	nsfd_skip_unless_root
	MODE=$mode
	B=$(nsfd_tmpdir bundle)
	if [[ $mode == hook ]]; then
		nsfd_require_build "$NSFD_HOOK_BIN"
		CFG=$(nsfd_hook_config "$cfgx")
		VOL=$(nsfd_hook_volume)
		nsfd_hook_bundle "$B" "$CFG" --hook-stderr --mount "$VOL:/data" --annotation nsfdsuds.io/persist=/data \
			--args "sh -c 'cat /etc/kept 2>/dev/null || echo kept >/etc/kept; ls /usr/bin/nsfd-new 2>&1; exit 0'"
	else
		nsfd_require_build "$NSFD_RUNTIME_BIN"
		nsfd_wrapper_setup runc "$(jq -cn "{} | $cfgx" | sed 's/^{//; s/}$//')"
		VOL=$NSFD_W_VOLS/vol
		mkdir -p "$VOL"
		nsfd_bundle "$B" --mount "$VOL:/data" --annotation nsfdsuds.io/persist=/data \
			--args "sh -c 'cat /etc/kept 2>/dev/null || echo kept >/etc/kept; ls /usr/bin/nsfd-new 2>&1; exit 0'"
	fi
	mkdir -p "$B/rootfs/data" "$B/rootfs/usr/bin"
	SNAP=$(nsfd_tmpdir .snap)/before
	nsfd_fault_snapshot "$SNAP"
}

# _run ID: run the container to completion in the current mode; like run.
_run () {
	if [[ $MODE == hook ]]; then
		nsfd_run_container "$HRT" "$B" "$1"
		local st=$status out=$output hs
		nsfd_delete "$HRT" "$1" || true
		# The hook's messages, where the runtime does not quote them (crun).
		hs=$(nsfd_hook_stderr_take)
		[[ -z $hs ]] || out+=$'\n'$hs
		status=$st output=$out
	else
		nsfd_track_container "$(_nsfd_wrapper_cmdline)" "$1"
		nsfd_wrapper run --bundle "$B" "$1"
		local st=$status out=$output
		nsfd_wrapper delete --force "$1"
		status=$st output=$out
	fi
}

_annotate () {
	_nsfd_jq "$B/config.json" --arg v "$1" '.annotations["nsfdsuds.io/accept-image-change"] = $v'
}

_refuse () {
	_setup "$1"
	local id0 id1 before
	id0=$(nsfd_unique_id ic0)
	_run "$id0"
	[ "$status" -eq 0 ]
	before=$(_meta "$VOL" lowerId)
	[[ $before == fnv1a64:* ]]
	cp "$VOL/.nsfdsuds/default/layer.json" "$(nsfd_tmpdir)/layer.json.before"

	case $2 in
	usr-bin) echo '#!/bin/sh' >"$B/rootfs/usr/bin/nsfd-new"; chmod 755 "$B/rootfs/usr/bin/nsfd-new" ;;
	os-release) printf 'ID=nsfdtest\nVERSION_ID=2\n' >"$B/rootfs/etc/os-release" ;;
	esac
	id1=$(nsfd_unique_id ic1)
	_run "$id1"
	echo "changed image: $status: $output"
	[ "$status" -ne 0 ]
	[[ $output == *"the image under layer"*"changed since the layer last ran on it"* ]]
	[[ $output == *"recorded $before, now fnv1a64:"* ]]
	[[ $output == *"nsfdsuds.io/accept-image-change"* ]]
	[[ $output != *"kept"* ]]
	# Nothing recorded, nothing held, nothing left.
	cmp "$VOL/.nsfdsuds/default/layer.json" "$(nsfd_tmpdir)/layer.json.before"
	[ ! -e "$VOL/.nsfdsuds/default/holder.json" ]
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$id1" "$SNAP"

}

@test "image change: hook mode ($HRT): a new file in /usr/bin is refused by default" {
	_refuse hook usr-bin
}

@test "image change: hook mode ($HRT): a changed /etc/os-release is refused by default" {
	_refuse hook os-release
}

@test "image change: wrapper mode (runc $NSFD_RUNC_VERSION): a new file in /usr/bin is refused by default" {
	_refuse wrapper usr-bin
}

_accept () {
	_setup "$1"
	local id0 id1 id2 old new
	id0=$(nsfd_unique_id ica0)
	_run "$id0"
	[ "$status" -eq 0 ]
	old=$(_meta "$VOL" lowerId)
	[ "$(_meta "$VOL" previousLowerId)" = none ]

	echo '#!/bin/sh' >"$B/rootfs/usr/bin/nsfd-new"
	printf 'ID=nsfdtest\nVERSION_ID=2\n' >"$B/rootfs/etc/os-release"
	_annotate true
	id1=$(nsfd_unique_id ica1)
	_run "$id1"
	echo "accepted: $status: $output"
	[ "$status" -eq 0 ]
	nsfd_expect_line kept
	nsfd_expect_line /usr/bin/nsfd-new
	new=$(_meta "$VOL" lowerId)
	[[ $new == fnv1a64:* && $new != "$old" ]]
	[ "$(_meta "$VOL" previousLowerId)" = "$old" ]
	[ "$(_meta "$VOL" lowerChangedAt)" != none ]

	# The new image is now the recorded one: no annotation needed any more.
	_annotate false
	id2=$(nsfd_unique_id ica2)
	_run "$id2"
	[ "$status" -eq 0 ]
	nsfd_expect_line kept
	[ "$(_meta "$VOL" lowerId)" = "$new" ]
	[ ! -e "$VOL/.nsfdsuds/default/holder.json" ]
	nsfd_wait_no_nsfd_pids 10
	nsfd_fault_assert_clean "$id2" "$SNAP"
}

@test "image change: hook mode ($HRT): accept-image-change=true starts and records previousLowerId" {
	_accept hook
}

@test "image change: wrapper mode (runc $NSFD_RUNC_VERSION): accept-image-change=true starts and records previousLowerId" {
	_accept wrapper
}

_warn () {
	_setup "$1" '.onImageChange = "warn"'
	local id0 id1 old
	[[ $1 == hook ]] && nsfd_syslog_start
	id0=$(nsfd_unique_id icw0)
	_run "$id0"
	[ "$status" -eq 0 ]
	old=$(_meta "$VOL" lowerId)
	echo '#!/bin/sh' >"$B/rootfs/usr/bin/nsfd-new"
	id1=$(nsfd_unique_id icw1)
	_run "$id1"
	echo "warn: $status: $output"
	[ "$status" -eq 0 ]
	nsfd_expect_line kept
	[ "$(_meta "$VOL" previousLowerId)" = "$old" ]
	if [[ $1 == hook ]]; then
		nsfd_syslog_wait "$id1.*the image under layer .* changed; now fnv1a64:.*\(accepted\)" 10
	else
		# The wrapper logs to stderr (its config's sink).
		[[ $output == *"the image under layer"*"changed; now fnv1a64:"*"(accepted)"* ]]
	fi
}

@test "image change: hook mode ($HRT): onImageChange=warn starts and logs a warning" {
	_warn hook
}

@test "image change: wrapper mode (runc $NSFD_RUNC_VERSION): onImageChange=warn starts and logs a warning" {
	_warn wrapper
}

@test "image change: hook mode ($HRT): a changed image on a layer in use is refused and does not rewrite lowerId" {
	_setup hook
	local a b old
	# The running container.
	_nsfd_jq "$B/config.json" '.process.args = ["sh", "-c", "echo a >/etc/a; exec sleep 600"]'
	a=$(nsfd_unique_id icba)
	nsfd_create_start "$HRT" "$B" "$a"
	old=$(_meta "$VOL" lowerId)
	# The same layer from a bundle whose image differs, with the change accepted.
	local B2
	B2=$(nsfd_tmpdir bundle2)
	cp -a "$B/." "$B2/"
	echo '#!/bin/sh' >"$B2/rootfs/usr/bin/nsfd-new"
	_nsfd_jq "$B2/config.json" '.annotations["nsfdsuds.io/accept-image-change"] = "true"'
	b=$(nsfd_unique_id icbb)
	nsfd_hook_stderr_take >/dev/null
	nsfd_create_start "$HRT" "$B2" "$b" || true
	output+=$'\n'$(nsfd_hook_stderr_take)
	echo "second: $status: $output"
	[ "$status" -ne 0 ]
	[[ $output == *"in use by container"*"$a"* ]]
	[ "$(_meta "$VOL" lowerId)" = "$old" ]
	[ "$(_meta "$VOL" previousLowerId)" = none ]
	[ "$(nsfd_container_state "$HRT" "$a")" = running ]
	nsfd_delete "$HRT" "$b" || true
	nsfd_delete "$HRT" "$a"
	# The first image still starts without any annotation.
	_nsfd_jq "$B/config.json" '.process.args = ["sh", "-c", "cat /etc/a"]'
	nsfd_run_container "$HRT" "$B" "$(nsfd_unique_id icbc)"
	echo "first image again: $status: $output"
	[ "$status" -eq 0 ]
	[ "$output" = a ]
}
