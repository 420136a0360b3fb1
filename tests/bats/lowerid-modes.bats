#!/usr/bin/env bats
# The image fingerprint (layer.json "lowerId") does not depend on the way in: one layer
# used in hook mode, then through the runtime wrapper, then in hook mode again, then in
# hook mode with crun, each time on a fresh copy of the same image (as containerd gives
# each container) with the mounts a kubelet gives a container, starts every time and
# keeps one lowerId. A real image change is still refused in every mode.
#
# Hook mode runs on runc where runc pivots by path, else on crun (runc 1.3.6+ pre-opens
# the root, where hook mode refuses by design). The wrapper runs in front of runc.

load ../lib/common
load ../lib/hook
load ../lib/wrapper
load ../lib/faults

teardown () {
	nsfd_hook_teardown
}

_meta () {
	jq -r ".$1 // \"none\"" "$VOL/.nsfdsuds/default/layer.json"
}

_setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN" "$NSFD_RUNTIME_BIN"
	HOOK_RT=runc
	nsfd_runc_preopens_root && HOOK_RT=crun
	CFG=$(nsfd_hook_config)
	VOL=$(nsfd_hook_volume)
	nsfd_wrapper_setup runc
}

# _bundle MODE N: bundle N, a fresh copy of the image with the kubelet's mounts; its
# container appends run-N to /etc/seq. crun shows hook errors only with
# run.oci.hooks.stderr: they go to hook-N.err in the bundle.
_bundle () {
	local mode=$1 N=$2 b
	b=$(nsfd_tmpdir "bundle-$N")
	# /persist is not in the image: the runtime makes that mount point too.
	local -a common=(--mount "$VOL:/persist" --annotation nsfdsuds.io/persist=/persist
		--kubelet-mounts "$(nsfd_tmpdir "kubelet-$N")"
		--annotation "run.oci.hooks.stderr=$b.hook.err"
		--args "sh -c 'cat /etc/seq 2>/dev/null; echo run-$N >>/etc/seq; ls /usr/bin/nsfd-new 2>&1; exit 0'")
	if [[ $mode == wrapper ]]; then
		nsfd_bundle "$b" "${common[@]}"
	else
		nsfd_hook_bundle "$b" "$CFG" "${common[@]}"
	fi
	printf '%s\n' "$b"
}

# _run MODE BUNDLE: run to completion (MODE: runc, crun for hook mode; wrapper); like run,
# with what crun's hooks said added to the output.
_run () {
	local mode=$1 b=$2 id st out
	id=$(nsfd_unique_id "$mode")
	if [[ $mode == wrapper ]]; then
		nsfd_track_container "$(_nsfd_wrapper_cmdline)" "$id"
		nsfd_wrapper run --bundle "$b" "$id"
		st=$status out=$output
		nsfd_wrapper delete --force "$id"
	else
		nsfd_run_container "$mode" "$b" "$id"
		st=$status out=$output
		[[ -f $b.hook.err ]] && out+=$'\n'$(cat "$b.hook.err")
		nsfd_delete "$mode" "$id" || true
	fi
	status=$st output=$out
}

@test "lowerId: hook -> wrapper -> hook -> crun on one layer, a fresh image copy each time" {
	_setup
	local first mode seq=0
	for mode in "$HOOK_RT" wrapper "$HOOK_RT" crun; do
		seq=$((seq + 1))
		_run "$mode" "$(_bundle "$( [[ $mode == wrapper ]] && echo wrapper || echo hook)" "$seq")"
		echo "$mode: status $status: $output"
		[ "$status" -eq 0 ]
		# Every earlier run's write is there: the same layer each time.
		for ((i = 1; i < seq; i++)); do nsfd_expect_line "run-$i"; done
		[[ $output != *"changed since the layer last ran"* ]]
		if [[ -z ${first:-} ]]; then
			first=$(_meta lowerId)
			[[ $first == fnv1a64:* ]]
		fi
		[ "$(_meta lowerId)" = "$first" ]
		[ "$(_meta previousLowerId)" = none ]
		[ ! -e "$VOL/.nsfdsuds/default/holder.json" ]
	done
	[ "$(_meta lowerIdScheme)" = 2 ]
}

@test "lowerId: a changed image is refused in every mode" {
	_setup
	local mode b before n=1
	_run wrapper "$(_bundle wrapper 1)"
	[ "$status" -eq 0 ]
	before=$(_meta lowerId)
	for mode in "$HOOK_RT" wrapper crun; do
		n=$((n + 1))
		b=$(_bundle "$( [[ $mode == wrapper ]] && echo wrapper || echo hook)" "$n")
		echo '#!/bin/sh' >"$b/rootfs/usr/bin/nsfd-new"
		chmod 755 "$b/rootfs/usr/bin/nsfd-new"
		_run "$mode" "$b"
		echo "$mode: status $status: $output"
		[ "$status" -ne 0 ]
		[[ $output == *"changed since the layer last ran on it"* ]]
		[[ $output == *"recorded $before, now fnv1a64:"* ]]
		[ "$(_meta lowerId)" = "$before" ]
		[ ! -e "$VOL/.nsfdsuds/default/holder.json" ]
	done
}

@test "lowerId: a record from before lowerIdScheme is migrated when it is this image's, refused when not" {
	_setup
	local old
	_run wrapper "$(_bundle wrapper 1)"
	[ "$status" -eq 0 ]
	[ "$(_meta lowerIdScheme)" = 2 ]
	# layer.json as nsfdsuds 0.1.0 wrote it: no lowerIdScheme. (The hook-mode and
	# wrapper-mode values 0.1.0 computed are pinned in tests/unit/test-lowerid.c.)
	old=$(jq -r .lowerId "$VOL/.nsfdsuds/default/layer.json")
	jq 'del(.lowerIdScheme) | .lowerId = "fnv1a64:0123456789abcdef"' "$VOL/.nsfdsuds/default/layer.json" \
		>"$VOL/.nsfdsuds/default/layer.json.new"
	mv "$VOL/.nsfdsuds/default/layer.json.new" "$VOL/.nsfdsuds/default/layer.json"
	# A scheme-1 record that is not this image's: refused, not migrated.
	_run wrapper "$(_bundle wrapper 2)"
	[ "$status" -ne 0 ]
	[[ $output == *"changed since the layer last ran on it"* ]]
	[ "$(_meta lowerIdScheme)" = none ]
	# The same value recorded without a scheme (a wrapper-mode record of 0.1.0, where
	# both schemes agree on an image without hollow mount points): migrated.
	jq --arg id "$old" '.lowerId = $id' "$VOL/.nsfdsuds/default/layer.json" >"$VOL/.nsfdsuds/default/layer.json.new"
	mv "$VOL/.nsfdsuds/default/layer.json.new" "$VOL/.nsfdsuds/default/layer.json"
	_run "$HOOK_RT" "$(_bundle hook 3)"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(_meta lowerId)" = "$old" ]
	[ "$(_meta lowerIdScheme)" = 2 ]
	[ "$(_meta previousLowerId)" = none ]
}
