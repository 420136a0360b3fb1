#!/usr/bin/env bats
# nsfdsuds-runtime hands every command to the real runtime byte for byte. A fake runtime
# (nsfd_fake_runtime) records its argv, argc and cwd and exits with a chosen code.

load ../lib/common
load ../lib/wrapper

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_RUNTIME_BIN"
	FAKE="$(nsfd_tmpdir "fake bin")/runtime"
	nsfd_fake_runtime "$FAKE"
	nsfd_wrapper_setup "$FAKE"
	export NSFD_FAKE_DIR=$(nsfd_tmpdir)/calls
	WORK=$(nsfd_tmpdir "work dir")
	PLAIN=$(nsfd_tmpdir plain)
	nsfd_bundle "$PLAIN" --annotation io.kubernetes.cri.container-type=container \
		--annotation "example.com/other=not ours"
}

teardown () {
	nsfd_wrapper_teardown
}

# _pt CWD ARGS...: the wrapper with the fake runtime, run from CWD; sets status, output,
# nsfd_stderr (and returns 0).
_pt () {
	local cwd=$1
	shift
	rm -rf "$NSFD_FAKE_DIR"
	mkdir -p "$NSFD_FAKE_DIR"
	status=0
	(cd "$cwd" && NSFDSUDS_RUNTIME=$NSFD_W_REAL NSFDSUDS_CONFIG=$NSFD_W_CONFIG \
		exec timeout -k 5 30 "$NSFD_RUNTIME_BIN" "$@") \
		</dev/null >"$NSFD_W_DIR/pt.out" 2>"$NSFD_W_DIR/pt.err" 3>&- || status=$?
	_nsfd_set_result "$NSFD_W_DIR/pt.out" "$NSFD_W_DIR/pt.err"
}

# _expect_call N CWD ARGS...: call N of the fake saw exactly ARGS (argv[0]: the fake), in CWD.
_expect_call () {
	local n=$1 cwd=$2 d
	shift 2
	d=$NSFD_FAKE_DIR/call.$n
	[ -d "$d" ] || { echo "the runtime was not called (call $n)" >&2; return 1; }
	diff -u <(printf '%s\n' "$NSFD_W_REAL" "$@") "$d/argv" >&2 || return 1
	[ "$(cat "$d/argc")" -eq $# ] || { echo "argc $(cat "$d/argc") != $#" >&2; return 1; }
	[ "$(cat "$d/cwd")" = "$(cd "$cwd" && pwd -P)" ] || { echo "cwd $(cat "$d/cwd") != $cwd" >&2; return 1; }
}

# _roundtrip CODE ARGS...: one call, passed through unchanged, CODE propagated.
_roundtrip () {
	local code=$1
	shift
	NSFD_FAKE_EXIT=$code _pt "$WORK" "$@"
	echo "args: $* -> status $status, output: $output"
	[ "$status" -eq "$code" ]
	_expect_call 0 "$WORK" "$@"
	[ ! -e "$NSFD_FAKE_DIR/call.1" ]
}

@test "runtime passthrough: the shim's lifecycle of a container that is not activated" {
	local id=nsfdt-E-plain-$RANDOM
	local -a g=(--root "$NSFD_W_ROOT" --log "$NSFD_W_LOG" --log-format json)
	_roundtrip 0 "${g[@]}" create --bundle "$PLAIN" --pid-file "$WORK/pid" "$id"
	_roundtrip 3 "${g[@]}" create --bundle "$PLAIN" --pid-file "$WORK/pid" "$id"
	_roundtrip 0 "${g[@]}" start "$id"
	_roundtrip 1 "${g[@]}" state "$id"
	_roundtrip 0 "${g[@]}" exec --process "$WORK/process.json" --detach --pid-file "$WORK/p2" "$id"
	_roundtrip 0 "${g[@]}" kill "$id" KILL
	_roundtrip 0 "${g[@]}" kill --all "$id" 9
	_roundtrip 0 "${g[@]}" delete "$id"
	_roundtrip 2 "${g[@]}" delete --force "$id"
	[ ! -e "$NSFD_W_RUNDIR/$id" ]
}

@test "runtime passthrough: exec with --, quoted arguments, spaces and empty strings" {
	local id=nsfdt-E-exec-$RANDOM
	_roundtrip 0 exec "$id" -- sh -c 'echo "$1" $2' - "two  spaces" ""
	_roundtrip 0 exec --env "A=with space" --env "B=" --cwd / "$id" sh -c "printf '%s|' \"\$@\"" - '' ' ' '"' "'" '\' '$HOME' '*'
	_roundtrip 126 exec -t=false --user 0:0 "$id" ""
	_roundtrip 0 --root="$NSFD_W_ROOT" --log="$NSFD_W_LOG" --log-format=json exec "$id" -- --not-an-option -- --
}

@test "runtime passthrough: other commands, global flags in both forms, no command at all" {
	local id=nsfdt-E-misc-$RANDOM
	_roundtrip 0 run --bundle "$PLAIN" -d "$id"
	_roundtrip 9 run --bundle="$PLAIN" --detach --pid-file="$WORK/p" "$id"
	_roundtrip 0 --root "$NSFD_W_ROOT" ps "$id"
	_roundtrip 0 --root="$NSFD_W_ROOT" ps --format json "$id" -- -ef
	_roundtrip 0 features
	_roundtrip 0 --version
	_roundtrip 4 -v
	_roundtrip 0
	_roundtrip 5 --debug --systemd-cgroup --root="$NSFD_W_ROOT" --log "$NSFD_W_LOG" list -q
	_roundtrip 0 --root "$NSFD_W_ROOT" --log-format text --rootless=false state "$id"
	_roundtrip 0 no-such-command "with space" ""
	_roundtrip 0 ""
	_roundtrip 0 create
	_roundtrip 0 delete
	_roundtrip 0 --root
	_roundtrip 0 update --memory 100 "$id"
}

@test "runtime passthrough: create from the bundle in the current directory" {
	local id=nsfdt-E-cwd-$RANDOM
	NSFD_FAKE_EXIT=0 _pt "$PLAIN" create "$id"
	[ "$status" -eq 0 ]
	_expect_call 0 "$PLAIN" create "$id"
	# A bundle that cannot be read is the runtime's to report.
	NSFD_FAKE_EXIT=1 _pt "$WORK" create --bundle "$WORK/no such bundle" "$id"
	[ "$status" -eq 1 ]
	_expect_call 0 "$WORK" create --bundle "$WORK/no such bundle" "$id"
}

@test "runtime passthrough: an activated create reaches the runtime unchanged, on the overlay" {
	local b vol id before
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_tmpdir vols/app)
	id=$(nsfd_unique_id act)
	_nsfd_track wrapper-id "$id"
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data
	local -a args=(--root "$NSFD_W_ROOT" --log "$NSFD_W_LOG" --log-format json
		create --bundle "$b" --pid-file "$WORK/pid file" --console-socket "$WORK/s" "$id")

	# The runtime fails: its code comes back and nothing is left.
	NSFD_FAKE_EXIT=3 NSFD_FAKE_PROBE=$b/rootfs _pt "$WORK" "${args[@]}"
	echo "$output"
	[ "$status" -eq 3 ]
	_expect_call 0 "$WORK" "${args[@]}"
	# The runtime ran in the wrapper's namespace, with the overlay on the rootfs.
	[ "$(cat "$NSFD_FAKE_DIR/call.0/probe")" = overlayfs ]
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
	[ ! -e "$NSFD_W_RUNDIR/$id" ]
	nsfd_assert_mounts_equal "$before"

	# The runtime succeeds: the layer is held until delete.
	NSFD_FAKE_EXIT=0 NSFD_FAKE_PROBE=$b/rootfs _pt "$WORK" "${args[@]}"
	echo "$output"
	[ "$status" -eq 0 ]
	_expect_call 0 "$WORK" "${args[@]}"
	[ "$(cat "$NSFD_FAKE_DIR/call.0/probe")" = overlayfs ]
	[[ $(nsfd_wrapper_holder "$vol") == *"$id"* ]]
	[ -d "$NSFD_W_RUNDIR/$id" ]
	# Nothing of it is on the host: the overlay lives in the private namespace.
	nsfd_assert_mounts_equal "$before"
	[ "$(stat -f -c %T "$b/rootfs")" != overlayfs ]

	# A failing delete keeps the record; a successful one releases the layer.
	NSFD_FAKE_EXIT=5 _pt "$WORK" --root "$NSFD_W_ROOT" delete "$id"
	[ "$status" -eq 5 ]
	_expect_call 0 "$WORK" --root "$NSFD_W_ROOT" delete "$id"
	[ -d "$NSFD_W_RUNDIR/$id" ]
	# (-f: --force in runc and crun, which must not hide the id.)
	NSFD_FAKE_EXIT=0 _pt "$WORK" --root "$NSFD_W_ROOT" --log "$NSFD_W_LOG" delete -f "$id"
	[ "$status" -eq 0 ]
	_expect_call 0 "$WORK" --root "$NSFD_W_ROOT" --log "$NSFD_W_LOG" delete -f "$id"
	[ ! -e "$NSFD_W_RUNDIR/$id" ]
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
	nsfd_assert_mounts_equal "$before"
}

@test "runtime passthrough: runtimePath in the config when NSFDSUDS_RUNTIME is not set" {
	local cfg=$NSFD_W_DIR/with-path.json
	jq --arg p "$FAKE" '. + {runtimePath: $p}' "$NSFD_W_CONFIG" >"$cfg"
	chmod 644 "$cfg"
	mkdir -p "$NSFD_FAKE_DIR"
	status=0
	(cd "$WORK" && NSFDSUDS_CONFIG=$cfg NSFD_FAKE_EXIT=6 env -u NSFDSUDS_RUNTIME \
		"$NSFD_RUNTIME_BIN" state some-id) </dev/null 3>&- || status=$?
	[ "$status" -eq 6 ]
	_expect_call 0 "$WORK" state some-id
}

@test "runtime passthrough: a missing runtime is a clear error with exit 127" {
	local b vol id before
	NSFD_W_REAL=$(nsfd_tmpdir)/no-such-runtime
	_pt "$WORK" --root "$NSFD_W_ROOT" state x
	echo "$output"
	[ "$status" -eq 127 ]
	[[ $nsfd_stderr == *"cannot execute the runtime"*"$NSFD_W_REAL"*"No such file or directory"* ]]
	[[ $nsfd_stderr == *runtimePath* ]]
	_pt "$WORK"
	[ "$status" -eq 127 ]

	# Also for an activated create, which leaves nothing behind.
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_tmpdir vols/app)
	id=$(nsfd_unique_id missing)
	_nsfd_track wrapper-id "$id"
	before=$(nsfd_tmpdir)/mounts.before
	nsfd_mount_snapshot "$before"
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data
	_pt "$WORK" --root "$NSFD_W_ROOT" create --bundle "$b" "$id"
	echo "$output"
	[ "$status" -eq 127 ]
	[[ $nsfd_stderr == *"cannot execute the runtime"* ]]
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
	[ ! -e "$NSFD_W_RUNDIR/$id" ]
	nsfd_assert_mounts_equal "$before"
}
