#!/usr/bin/env bats
# nsfdsuds doctor on a node made by the test (config, hooks.d, containerd config, volume
# prefix, runtime directory and probe directory all under the test's temp dir): hook mode
# works with runc 1.1.5 and crun; runc 1.3.6 (sid) pivots into a pre-opened root, where
# doctor says to use the wrapper; a broken hooks.d file, a config with a bad owner, a
# prefix on filesystems without trusted xattrs, a containerd config without the
# annotation globs; the probe container is removed when doctor is stopped by a signal,
# and what a killed doctor left is removed at the next start.

load ../lib/common

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN" "$NSFD_HOOK_BIN"
	T=$(nsfd_tmpdir)
	mkdir -p "$T/vols" "$T/etc" "$T/hooks.d" "$T/crio" "$T/run"
	chmod 0711 "$T/run"
	export NSFD_FAKE_DELETED=$T/deleted
	RUNC_PATH=$(realpath "$(command -v "$RUNC")")
	jq -n --arg v "$T/vols" --arg r "$T/run" --arg rt "$RUNC_PATH" \
		'{allowedVolumePrefixes: [$v], runDir: $r, runtimePath: $rt}' >"$T/etc/config.json"
	chmod 0644 "$T/etc/config.json"
	local f
	for f in "$NSFD_BUILD_DIR"/config/hooks.d/*.json; do
		jq --arg h "$NSFD_HOOK_BIN" '.hook.path = $h' "$f" >"$T/hooks.d/${f##*/}"
	done
	sed "s|BinaryName = .*|BinaryName = \"$NSFD_RUNTIME_BIN\"|" \
		"$NSFD_BUILD_DIR/config/containerd/nsfdsuds-runtime-v1.toml" >"$T/containerd.toml"
}

# _doctor [ARGS...]: doctor on the test's node; sets status/output; prints the time taken.
_doctor () {
	local t0 t1
	t0=$(date +%s%N)
	run "$NSFD_CLI_BIN" doctor --config "$T/etc/config.json" --hooks-dir "$T/hooks.d" \
		--containerd-config "$T/containerd.toml" --crio-config-dir "$T/crio" --probe-dir "$T/probe" "$@"
	t1=$(date +%s%N)
	echo "# doctor took $(( (t1 - t0) / 1000000 )) ms (status $status)"
	echo "$output"
}

# _line CHECK STATUS REGEX: a report line of that check and status matching REGEX.
_line () {
	grep -E "^$1 +$2 +.*$3" <<<"$output" >/dev/null || {
		echo "no line: $1 $2 .*$3"
		return 1
	}
}

# _fix REGEX: a fix line matching REGEX.
_fix () {
	grep -E "^ +fix: .*$1" <<<"$output" >/dev/null || {
		echo "no fix line matching: $1"
		return 1
	}
}

_probe_left () {
	if [[ -e $T/probe && -n $(ls -A "$T/probe") ]]; then
		echo "probe files left:"
		find "$T/probe" | head -20
		return 0
	fi
	return 1
}

@test "doctor: runc, the node is ready for hook mode (1.1.5) or needs the wrapper (1.3.6+)" {
	_doctor --runtime "$RUNC_PATH"
	_line kernel.overlay ok 'fsopen\("overlay"\) works'
	_line kernel.xattr ok "$T/vols .*trusted.* xattrs and d_type work"
	_line engine.hooks.d ok "nsfdsuds-createcontainer.json"
	_line engine.containerd ok "handler nsfdsuds .*wrapper mode"
	_line config ok "loads; owned by root"
	_line rundir ok "0 containers"
	if nsfd_runc_preopens_root; then
		[ "$status" -eq 1 ]
		_line runtime warn "runc $NSFD_RUNC_VERSION.*opened before the hooks ran: hook mode cannot work, use the wrapper"
		_fix "register nsfdsuds-runtime as the engine's runtime binary"
		# hooks.d registers hook mode for a runtime that cannot serve it
		_line engine.mode warn "hook mode is registered in hooks.d, but runc"
		[[ $output == *"verdict: warn"* ]]
	else
		[ "$status" -eq 0 ]
		_line runtime ok "runc $NSFD_RUNC_VERSION.*pivots into the rootfs path: hook mode works"
		[[ $output == *"verdict: ok"* ]]
	fi
	! _probe_left
	# the xattr probe file is gone
	[ -z "$(ls -A "$T/vols")" ]
}

@test "doctor: crun pivots by path, hook mode works" {
	# $CRUN is the suite's crun without the hybrid cgroup2 mount (tests/lib/runtime.bash).
	_doctor --runtime "$CRUN"
	[ "$status" -eq 0 ]
	_line runtime ok "crun $NSFD_CRUN_VERSION .*hook mode works"
	run "$NSFD_CLI_BIN" doctor --json --config "$T/etc/config.json" --hooks-dir "$T/hooks.d" \
		--containerd-config "$T/containerd.toml" --crio-config-dir "$T/crio" --probe-dir "$T/probe" \
		--runtime "$CRUN"
	[ "$status" -eq 0 ]
	[ "$(jq -r .verdict <<<"$output")" = ok ]
	[ "$(jq -r .exitCode <<<"$output")" = 0 ]
	[ "$(jq -r '.runtimes[0].pivot' <<<"$output")" = path ]
	[ "$(jq -r '.runtimes[0].hookMode' <<<"$output")" = works ]
	[ "$(jq -r '[.checks[] | select(.status != "ok")] | length' <<<"$output")" = 0 ]
	[ "$(jq -r '[.checks[] | select(.fix != null)] | length' <<<"$output")" = 0 ]
	jq -e '.checks[] | has("name") and has("subject") and has("status") and has("evidence") and has("fix")' \
		<<<"$output" >/dev/null
	! _probe_left
}

@test "doctor: a runtime that cannot run the probe is a warning with its reason (crun and hybrid cgroups)" {
	grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo ||
		skip "no hybrid cgroup2 mount here (crun runs)"
	_doctor --runtime "$(command -v crun)"
	[ "$status" -eq 1 ]
	_line runtime warn "crun .*cannot tell how it pivots: the probe container failed .*hybrid"
	_fix "run a container with it by hand"
	! _probe_left
}

@test "doctor: the hook-mode containerd handler on a runtime that pre-opens the root is a failure" {
	sed "s|@NSFD_CONTAINERD_DIR@|$T|; s|BinaryName = .*|BinaryName = \"$RUNC_PATH\"|" \
		"$NSFD_REPO/config/containerd/nsfdsuds-hooks-crun-v1.toml.in" >"$T/containerd.toml"
	jq --arg h "$NSFD_HOOK_BIN" '.hooks |= with_entries(.value |= map(.path = $h))' \
		"$NSFD_BUILD_DIR/config/containerd/base-spec-hooks.json" >"$T/base-spec-hooks.json"
	_doctor --runtime "$RUNC_PATH"
	if nsfd_runc_preopens_root; then
		[ "$status" -eq 2 ]
		_line engine.containerd fail "handler nsfdsuds-hooks .*hook mode registered for runc $NSFD_RUNC_VERSION"
		_fix "use the wrapper handler instead"
	else
		[ "$status" -eq 0 ]
		_line engine.containerd ok "handler nsfdsuds-hooks .*hook mode, base spec $T/base-spec-hooks.json"
	fi
}

@test "doctor: a broken hooks.d file fails with the file and the fix" {
	echo '{"version": "1.0.0", "hook": {' >"$T/hooks.d/nsfdsuds-createcontainer.json"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 2 ]
	_line engine.hooks.d fail "$T/hooks.d/nsfdsuds-createcontainer.json: not valid JSON"
	_fix "reinstall the shipped file"
	# the other two files are still valid, and the missing stage is named
	_line engine.hooks.d ok "nsfdsuds-createruntime.json"
	_line engine.hooks.d fail "without a valid hook at createContainer"
}

@test "doctor: hooks.d files with an unanchored pattern or a missing hook binary fail" {
	jq '.when.annotations = {"nsfdsuds\\.io/": ".*"}' "$T/hooks.d/nsfdsuds-poststop.json" >"$T/x" &&
		mv "$T/x" "$T/hooks.d/nsfdsuds-poststop.json"
	jq '.hook.path = "/nonexistent/nsfdsuds-hook"' "$T/hooks.d/nsfdsuds-createruntime.json" >"$T/x" &&
		mv "$T/x" "$T/hooks.d/nsfdsuds-createruntime.json"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 2 ]
	_line engine.hooks.d fail "nsfdsuds-poststop.json: annotation pattern .* is not anchored"
	_line engine.hooks.d fail "nsfdsuds-createruntime.json: hook.path /nonexistent/nsfdsuds-hook is not an executable"
}

@test "doctor: a config owned by another user, or writable by the group, fails" {
	chown 1234:1234 "$T/etc/config.json"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 2 ]
	_line config fail "owned by uid 1234, not root .*doctor used the defaults"
	_fix "chown root:root $T/etc/config.json"
	chown 0:0 "$T/etc/config.json"
	chmod 0664 "$T/etc/config.json"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 2 ]
	_line config fail "writable by group or others \(mode 0664\)"
}

# A prefix on a filesystem without trusted.* xattrs: the probe file is made and removed.
_no_xattr_prefix () {
	local mnt=$1
	jq --arg m "$mnt" '.allowedVolumePrefixes += [$m]' "$T/etc/config.json" >"$T/x" &&
		mv "$T/x" "$T/etc/config.json" && chmod 0644 "$T/etc/config.json"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 2 ]
	_line kernel.xattr fail "$mnt \($2\): setxattr trusted.nsfdsuds.probe: Operation not supported"
	_fix "needs trusted.\* xattrs and d_type: put the volumes under $mnt on"
	_line kernel.xattr ok "$T/vols "
	[ -z "$(ls -A "$mnt")" ]
}

@test "doctor: a prefix on a FUSE filesystem without xattrs (bindfs --xattr-none) fails" {
	command -v bindfs >/dev/null || skip "bindfs is not installed (tests/install-deps.sh)"
	mkdir -p "$T/fuse-src" "$T/fuse"
	nsfd_track_mount "$T/fuse"
	bindfs --xattr-none "$T/fuse-src" "$T/fuse"
	_no_xattr_prefix "$T/fuse" fuse
	[ -z "$(ls -A "$T/fuse-src")" ]
}

@test "doctor: a prefix on ramfs (no xattrs at all) fails" {
	mkdir -p "$T/ramfs"
	nsfd_track_mount "$T/ramfs"
	mount -t ramfs nsfd-doctor-test "$T/ramfs"
	_no_xattr_prefix "$T/ramfs" ramfs
}

@test "doctor: a containerd handler without the annotation globs fails and says which keys to add" {
	grep -v '_annotations' "$T/containerd.toml" >"$T/x" && mv "$T/x" "$T/containerd.toml"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 2 ]
	_line engine.containerd fail "handler nsfdsuds .*pod_annotations and container_annotations no glob passing nsfdsuds.io/\*"
	_fix 'pod_annotations = \["nsfdsuds.io/\*"\] and container_annotations = \["nsfdsuds.io/\*"\]'
	# "*" does not pass a key with a '/' (containerd's filepath.Match)
	sed 's|runtime_type = .*|&\n  pod_annotations = ["*"]\n  container_annotations = [\n    "nsfdsuds.io/*",\n  ]|' \
		"$T/containerd.toml" >"$T/x" && mv "$T/x" "$T/containerd.toml"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 2 ]
	_line engine.containerd fail "handler nsfdsuds .*: pod_annotations no glob"
	# no handler of ours at all: a warning
	printf 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n' \
		>"$T/containerd.toml"
	_doctor --runtime "$RUNC_PATH"
	_line engine.containerd warn "no runtime handler uses nsfdsuds \(1 handler read"
}

# A stand-in runtime whose `run` never ends: it records its container in its --root like
# a runtime does, and `delete --force` kills it.
_slow_runtime () {
	cat >"$1" <<'FAKE'
#!/bin/sh
root=
while [ $# -gt 0 ]; do
	case $1 in
	--version) echo "runc version 9.9.9"; exit 0 ;;
	--root) root=$2; shift 2 ;;
	run) id=$(eval echo "\${$#}"); mkdir -p "$root/$id"; echo $$ >"$root/$id/pid"; exec sleep 60 ;;
	delete) id=$(eval echo "\${$#}"); echo "$id" >>"$NSFD_FAKE_DELETED"
		kill -9 "$(cat "$root/$id/pid")" 2>/dev/null; rm -rf "${root:?}/$id"; exit 0 ;;
	*) shift ;;
	esac
done
FAKE
	chmod 755 "$1"
}

_wait_for () {
	local i
	for ((i = 0; i < 100; i++)); do
		compgen -G "$1" >/dev/null && return 0
		sleep 0.1
	done
	echo "nothing matches $1"
	return 1
}

@test "doctor: SIGTERM during the probe removes the probe container and its files" {
	_slow_runtime "$T/slow-runtime"
	"$NSFD_CLI_BIN" doctor --config "$T/etc/config.json" --hooks-dir "$T/hooks.d" \
		--containerd-config "$T/containerd.toml" --crio-config-dir "$T/crio" --probe-dir "$T/probe" \
		--runtime "$T/slow-runtime" </dev/null >"$T/out" 2>&1 3>&- &
	local pid=$! rc=0
	nsfd_track_pid "$pid"
	_wait_for "$T/probe/nsfdsuds-doctor-*/rt-0/state/nsfdsuds-doctor-*/pid"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	cat "$T/out"
	[ "$rc" -eq 143 ]
	grep -q "stopped by signal 15" "$T/out"
	grep -qx "nsfdsuds-doctor-$pid-0" "$T/deleted"
	! _probe_left
}

@test "doctor: what a killed doctor left (a probe container, its files) is removed at the next start" {
	_slow_runtime "$T/slow-runtime"
	"$NSFD_CLI_BIN" doctor --config "$T/etc/config.json" --hooks-dir "$T/hooks.d" \
		--containerd-config "$T/containerd.toml" --crio-config-dir "$T/crio" --probe-dir "$T/probe" \
		--runtime "$T/slow-runtime" </dev/null >"$T/out" 2>&1 3>&- &
	local pid=$! sleeper
	nsfd_track_pid "$pid"
	_wait_for "$T/probe/nsfdsuds-doctor-*/rt-0/state/nsfdsuds-doctor-*/pid"
	sleeper=$(cat "$T"/probe/nsfdsuds-doctor-*/rt-0/state/nsfdsuds-doctor-*/pid)
	nsfd_track_pid "$sleeper"
	kill -KILL "$pid"
	wait "$pid" || true
	# the killed run's container still "runs"
	[ -d /proc/$sleeper ]
	_doctor --runtime "$RUNC_PATH"
	_line runtime.leftovers ok "removed 1 probe container and the files of 1 earlier doctor run"
	grep -qx "nsfdsuds-doctor-$pid-0" "$T/deleted"
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -d /proc/$sleeper && $(awk '{ print $3 }' /proc/$sleeper/stat 2>/dev/null) != Z ]] || break
		sleep 0.1
	done
	[[ ! -d /proc/$sleeper || $(awk '{ print $3 }' /proc/$sleeper/stat) == Z ]]
	! _probe_left
}

@test "doctor: a running doctor's probe files are left alone by another doctor" {
	mkdir -p "$T/probe/nsfdsuds-doctor-$$"
	echo "$$ $(awk '{ print $22 }' /proc/$$/stat)" >"$T/probe/nsfdsuds-doctor-$$/owner"
	_doctor --runtime "$RUNC_PATH"
	[ -f "$T/probe/nsfdsuds-doctor-$$/owner" ]
	! grep -q runtime.leftovers <<<"$output"
	rm -rf "$T/probe/nsfdsuds-doctor-$$"
}

@test "doctor: usage errors exit 2 with a message" {
	run "$NSFD_CLI_BIN" doctor --bogus
	[ "$status" -eq 2 ]
	[[ $output == *"unknown option"* ]]
	run "$NSFD_CLI_BIN" doctor --probe-timeout nope
	[ "$status" -eq 2 ]
	run "$NSFD_CLI_BIN" doctor --help
	[ "$status" -eq 0 ]
	[[ $output == *"Usage: nsfdsuds doctor"* ]]
}

@test "doctor: a probe directory that is not root's is refused, and nothing runs from it" {
	mkdir -p "$T/probe/nsfdsuds-doctor-999999999/rt-0/state/nsfdsuds-doctor-999999999-0"
	echo "999999999 1" >"$T/probe/nsfdsuds-doctor-999999999/owner"
	_slow_runtime "$T/slow-runtime"
	echo "$T/slow-runtime" >"$T/probe/nsfdsuds-doctor-999999999/rt-0/runtime"
	chown 1234 "$T/probe"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 2 ]
	_line runtime.leftovers fail "leftovers not looked at: .*$T/probe"
	_line runtime warn "cannot tell how it pivots: no probe: .*$T/probe"
	[ ! -e "$T/deleted" ]
	[ -d "$T/probe/nsfdsuds-doctor-999999999" ]
}

@test "doctor: a mounter still waiting for a container that is gone is reported with its pid" {
	local layer=$T/vols/v/.nsfdsuds/default id=nsfdt-doctor-gone-$RANDOM mounter start
	mkdir -p "$layer" "$T/run/$id"
	echo '{"format": 1}' >"$layer/layer.json"
	jq -n --arg b "$(cat /proc/sys/kernel/random/boot_id)" --arg c "$id" \
		'{container: $c, bootId: $b, pid: 999999999, pidStartTime: 1, mode: "hook", since: "2026-01-01T00:00:00Z"}' \
		>"$layer/holder.json"
	sleep 60 </dev/null >/dev/null 2>&1 3>&- &
	mounter=$!
	nsfd_track_pid "$mounter"
	start=$(awk '{ print $22 }' "/proc/$mounter/stat")
	jq -n --arg l "$layer" --argjson p "$mounter" --argjson s "$start" \
		'{layer: $l, mounterPid: $p, mounterStartTime: $s, wrapper: false}' >"$T/run/$id/record"
	_doctor --runtime "$RUNC_PATH"
	[ "$status" -eq 1 ]
	_line rundir.stale warn "$T/run/$id \(hook mode, layer $layer\): process 999999999 is gone.*its mounter \(pid $mounter\) still runs"
	_fix "kill $mounter"
	_line rundir ok "0 containers on a persistent layer, 1 stale entry"
	# doctor changed nothing
	[ -f "$T/run/$id/record" ] && [ -f "$layer/holder.json" ] && [ -d "/proc/$mounter" ]
	run "$NSFD_CLI_BIN" status --config "$T/etc/config.json" --json
	[ "$(jq -r '.containers[0].mounterPid' <<<"$output")" = "$mounter" ]
}
