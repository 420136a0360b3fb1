#!/usr/bin/env bats
# containerd (1.6 on the host, 2.1 in the sid tree) driving nsfdsuds through its runc
# shim: the runtime wrapper as the runtime binary, and the hooks in the spec (the
# base_runtime_spec that CMake generates). Every test starts its own containerd (root,
# state and sockets under its temp dir, no CRI) and stops it; nothing is shared with a
# system containerd.
load ../lib/common
load ../lib/engines

IMG=localhost/nsfdt-busybox:latest

setup () {
	nsfd_skip_unless_root
	command -v containerd >/dev/null || skip "containerd not installed"
	command -v ctr >/dev/null || skip "ctr not installed"
	VOL=$(nsfd_tmpdir vol)
	CFG=$(nsfd_engine_config "$(nsfd_tmpdir etc)" "$VOL")
	CTR_MAJOR=$(containerd --version | awk '{ v = $3; sub(/^v/, "", v); split(v, a, "."); print a[1] }')
}

teardown () {
	nsfd_containerd_cleanup
	nsfd_cleanup
}

# run_ctr ID ARGS...: ctr run --rm ... ID, output in $output; fails the test on error.
ctr_run_rm () {
	nsfd_ctr_ok run --rm "$@"
}

@test "containerd: runtime wrapper as the runc shim's binary; persistence across delete + recreate" {
	nsfd_require_build "$NSFD_RUNTIME_BIN"
	# The shim inherits containerd's environment and passes it to the runtime binary.
	NSFDSUDS_CONFIG=$CFG NSFDSUDS_RUNTIME=$RUNC nsfd_containerd_start "$(nsfd_tmpdir ctr)"
	nsfd_ctr_import_busybox "$IMG"
	local -a persist=(--runc-binary "$NSFD_RUNTIME_BIN" --annotation nsfdsuds.io/persist=/data
		--mount "type=bind,src=$VOL,dst=/data,options=rbind:rw")

	ctr_run_rm "${persist[@]}" "$IMG" nsfdt-w1 sh -c 'echo kept > /root/marker; ls -A /data | wc -l'
	[ "${lines[0]}" = 0 ]     # the volume is hidden in the new root
	[ "$(cat "$VOL/.nsfdsuds/default/upper/root/marker")" = kept ]
	# The mount point the image lacks is not junk in the persistent layer.
	[ ! -e "$VOL/.nsfdsuds/default/upper/data" ]
	ctr_run_rm "${persist[@]}" "$IMG" nsfdt-w2 sh -c 'cat /root/marker; echo again >> /root/marker'
	[ "${lines[0]}" = kept ]
	[ "$(wc -l <"$VOL/.nsfdsuds/default/upper/root/marker")" = 2 ]
	# The containers went: no run dir, no holder left behind.
	[ ! -e /run/nsfdsuds/nsfdt-w1 ] && [ ! -e /run/nsfdsuds/nsfdt-w2 ]

	# The same wrapper, no annotation: the image's root, the volume visible as is.
	ctr_run_rm --runc-binary "$NSFD_RUNTIME_BIN" --mount "type=bind,src=$VOL,dst=/data,options=rbind:rw" \
		"$IMG" nsfdt-w3 sh -c 'test ! -e /root/marker && test -d /data/.nsfdsuds && echo > /root/x && echo plain'
	[ "${lines[0]}" = plain ]
	[ ! -e "$VOL/.nsfdsuds/default/upper/root/x" ]
}

# hook_spec OUT RUNTIME: the shipped base runtime spec (config/containerd/base-spec-hooks.json)
# with this build's hook and test config, a busybox root, the volume and the annotation.
hook_spec () {
	local out=$1 rootfs
	rootfs=$(nsfd_tmpdir rootfs)
	nsfd_busybox_rootfs "$rootfs"
	jq --arg h "$NSFD_HOOK_BIN" --arg c "$CFG" --arg r "$rootfs" --arg v "$VOL" '
		.root.path = $r
		| .process.args = ["sh", "-c", "cat /root/marker 2>/dev/null; echo run >> /root/marker; ls -A /data | wc -l"]
		| .process.env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
		| .annotations = {"nsfdsuds.io/persist": "/data"}
		| .mounts += [{destination: "/data", type: "bind", source: $v, options: ["rbind", "rw"]}]
		| .hooks |= with_entries(.value |= map(.path = $h | .args = [.args[0], "--config", $c] + .args[1:]))' \
		"$NSFD_BUILD_DIR/config/containerd/base-spec-hooks.json" >"$out"
}

hook_mode () {
	local rt=$1 spec
	nsfd_require_build "$NSFD_HOOK_BIN"
	[[ -f $NSFD_BUILD_DIR/config/containerd/base-spec-hooks.json ]] ||
		skip "not built: $NSFD_BUILD_DIR/config/containerd/base-spec-hooks.json"
	nsfd_containerd_start "$(nsfd_tmpdir ctr)"
	spec=$(nsfd_tmpdir)/spec.json
	hook_spec "$spec"
	ctr_run_rm --config "$spec" --runc-binary "$(nsfd_runtime_cmd "$rt")" nsfdt-h1
	[ "$output" = 0 ]
	ctr_run_rm --config "$spec" --runc-binary "$(nsfd_runtime_cmd "$rt")" nsfdt-h2
	[ "${lines[0]}" = run ] && [ "${lines[-1]}" = 0 ]
	[ "$(cat "$VOL/.nsfdsuds/default/upper/root/marker")" = "run
run" ]
	[ ! -e /run/nsfdsuds/nsfdt-h1 ] && [ ! -e /run/nsfdsuds/nsfdt-h2 ]
	[ ! -e "$VOL/.nsfdsuds/default/upper/data" ]
	# The spec's rootfs (the lower) was not written.
	[ ! -e "$(nsfd_tmpdir rootfs)/root/marker" ]
}

@test "containerd: hooks in the spec (base runtime spec), runc; persistence across delete + recreate" {
	nsfd_skip_preopening_runc runc
	hook_mode runc
}

@test "containerd: hooks in the spec (base runtime spec), crun; persistence across delete + recreate" {
	command -v crun >/dev/null || skip "crun not installed"
	hook_mode crun
}

# The snippets as containerd itself reads them (config dump), for this containerd's
# major version: the handlers exist with the shipped binary names and annotation globs.
@test "containerd: the shipped config snippets load (config dump)" {
	local d=$(nsfd_tmpdir cfg) snip main sec v
	if ((CTR_MAJOR >= 2)); then
		v=2 sec=io.containerd.cri.v1.runtime
		printf 'version = 3\nroot = "%s/root"\nstate = "%s/state"\n' "$d" "$d" >"$d/main.toml"
	else
		v=1 sec=io.containerd.grpc.v1.cri
		printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\n' "$d" "$d" >"$d/main.toml"
	fi
	printf 'imports = ["%s", "%s"]\n' \
		"$NSFD_BUILD_DIR/config/containerd/nsfdsuds-runtime-v$v.toml" \
		"$NSFD_BUILD_DIR/config/containerd/nsfdsuds-hooks-crun-v$v.toml" >>"$d/main.toml"
	run containerd --config "$d/main.toml" config dump
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# 2.x writes single-quoted TOML strings, 1.x double-quoted.
	local dump=${output//\'/\"}
	# containerd 1.6 replaces a whole plugin section per imported file (so only the last
	# import's handler survives there: docs/install.md says to paste on 1.6); 1.7 and 2.x merge.
	[[ $dump == *"[plugins.\"$sec\".containerd.runtimes.nsfdsuds-hooks]"* ]]
	[[ $dump == *"base_runtime_spec = \""*"/base-spec-hooks.json\""* ]]
	[[ $dump == *'pod_annotations = ["nsfdsuds.io/*"]'* ]]
	if ((CTR_MAJOR >= 2)); then
		[[ $dump == *"[plugins.\"$sec\".containerd.runtimes.nsfdsuds]"* ]]
		[[ $dump == *'BinaryName = "'*'/nsfdsuds-runtime"'* ]]
	fi
	# Pasting the handler into the main file works on every version.
	sed '/^version/d' "$NSFD_BUILD_DIR/config/containerd/nsfdsuds-runtime-v$v.toml" |
		grep -v '^imports' >>"$d/main.toml"
	sed -i '/^imports/d' "$d/main.toml"
	run containerd --config "$d/main.toml" config dump
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	dump=${output//\'/\"}
	[[ $dump == *"[plugins.\"$sec\".containerd.runtimes.nsfdsuds]"* ]]
	[[ $dump == *'BinaryName = "'*'/nsfdsuds-runtime"'* ]]
	[[ $dump == *'container_annotations = ["nsfdsuds.io/*"]'* ]]
}
