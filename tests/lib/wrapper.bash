# Driving nsfdsuds-runtime (the runtime wrapper) the way containerd's runc shim does:
#
#   nsfdsuds-runtime --root R --log L --log-format json create --bundle B --pid-file P ID
#   nsfdsuds-runtime --root R --log L --log-format json start ID     (state, exec, kill, delete)
#
# with the real runtime chosen by NSFDSUDS_RUNTIME and the admin config by NSFDSUDS_CONFIG.
# Load after common: `load ../lib/wrapper`.
#
#   nsfd_wrapper_setup RUNTIME [CONFIG-JSON-EXTRA]
#       per test: NSFD_W_REAL (the real runtime command: $RUNC, $CRUN, or a path),
#       NSFD_W_ROOT (runtime state root), NSFD_W_LOG, NSFD_W_CONFIG (admin config allowing
#       NSFD_W_VOLS), NSFD_W_DIR (call outputs). Everything lives under $(nsfd_tmpdir).
#   nsfd_wrapper ARGS...          one call with the shim's global flags; sets status,
#                                 output, lines, nsfd_stdout, nsfd_stderr; returns 0
#   nsfd_wrapper_bare ARGS...     the same without any global flag
#   nsfd_wrapper_create BUNDLE ID create --bundle --pid-file, tracked for cleanup
#   nsfd_wrapper_run_to_state ID STATE   bounded wait on `state`
#   nsfd_wrapper_exec ID CMD...   exec (like nsfd_exec)
#   nsfd_wrapper_gone ID VOLUME   the container left nothing: no runtime state, no
#                                 <runDir>/ID, no holder.json in VOLUME's default layer
#   nsfd_wrapper_holder VOLUME [LAYER]  prints holder.json (fails when absent)
#   nsfd_tree_sum DIR             a listing with owners, modes and file checksums

NSFD_W_RUNDIR=${NSFD_W_RUNDIR:-/run/nsfdsuds}

nsfd_wrapper_setup () {
	local rt=$1 extra=${2:-}
	NSFD_W_REAL=$(nsfd_runtime_cmd "$rt")
	# The wrapper execs the runtime by path: resolve a bare name.
	[[ $NSFD_W_REAL == /* ]] || NSFD_W_REAL=$(command -v "$NSFD_W_REAL")
	NSFD_W_DIR=$(nsfd_tmpdir wrapper)
	NSFD_W_ROOT=$(nsfd_tmpdir wrapper/state)
	NSFD_W_VOLS=$(nsfd_tmpdir vols)
	NSFD_W_LOG=$NSFD_W_DIR/runtime.log
	NSFD_W_CONFIG=$NSFD_W_DIR/config.json
	jq -n --arg v "$NSFD_W_VOLS" --arg r "$NSFD_W_RUNDIR" --argjson x "{${extra}}" \
		'{allowedVolumePrefixes: [$v], runDir: $r, logLevel: "info", log: ["stderr"]} + $x' \
		>"$NSFD_W_CONFIG"
	chmod 644 "$NSFD_W_CONFIG"
	export NSFD_W_REAL NSFD_W_DIR NSFD_W_ROOT NSFD_W_VOLS NSFD_W_LOG NSFD_W_CONFIG
}

# The wrapper's command line for cleanup (word-split by nsfd_cleanup: no spaces in paths).
_nsfd_wrapper_cmdline () {
	printf 'env NSFDSUDS_RUNTIME=%s NSFDSUDS_CONFIG=%s %s --root %s\n' \
		"$NSFD_W_REAL" "$NSFD_W_CONFIG" "$NSFD_RUNTIME_BIN" "$NSFD_W_ROOT"
}

# Output files per call, named after the subcommand and id; the container's stdio stay
# on the create call's files.
_nsfd_wrapper_call () {
	local tag=$1 n
	shift
	n=$(ls "$NSFD_W_DIR" | grep -c '^call-' || true)
	local out=$NSFD_W_DIR/call-$n-$tag.out err=$NSFD_W_DIR/call-$n-$tag.err
	status=0
	NSFDSUDS_RUNTIME=$NSFD_W_REAL NSFDSUDS_CONFIG=$NSFD_W_CONFIG \
		timeout -k 5 "${NSFD_RUN_TIMEOUT:-60}" "$NSFD_RUNTIME_BIN" "$@" \
		</dev/null >"$out" 2>"$err" 3>&- || status=$?
	_nsfd_set_result "$out" "$err"
	return 0
}

nsfd_wrapper () {
	_nsfd_wrapper_call "${1:-none}" --root "$NSFD_W_ROOT" --log "$NSFD_W_LOG" --log-format json "$@"
}

nsfd_wrapper_bare () {
	_nsfd_wrapper_call "${1:-none}" "$@"
}

# nsfd_wrapper_create BUNDLE ID: tracked (the wrapper's delete --force first, then the
# real runtime's) before it exists.
nsfd_wrapper_create () {
	local b=$1 id=$2
	nsfd_track_container "$NSFD_W_REAL --root $NSFD_W_ROOT" "$id"
	nsfd_track_container "$(_nsfd_wrapper_cmdline)" "$id"
	_nsfd_track wrapper-id "$id"
	nsfd_wrapper create --bundle "$b" --pid-file "$NSFD_W_DIR/$id.pid" "$id"
}

# nsfd_wrapper_create_start BUNDLE ID: create + start; returns non-zero (printing the
# output) when either fails.
nsfd_wrapper_create_start () {
	nsfd_wrapper_create "$1" "$2"
	if ((status != 0)); then
		echo "create $2: status $status: $output" >&2
		return 1
	fi
	nsfd_wrapper start "$2"
	if ((status != 0)); then
		echo "start $2: status $status: $output" >&2
		return 1
	fi
}

nsfd_wrapper_state () {
	NSFDSUDS_RUNTIME=$NSFD_W_REAL NSFDSUDS_CONFIG=$NSFD_W_CONFIG timeout 30 "$NSFD_RUNTIME_BIN" \
		--root "$NSFD_W_ROOT" --log "$NSFD_W_LOG" --log-format json state "$1" \
		</dev/null 2>/dev/null 3>&- | jq -r .status
}

# nsfd_wrapper_wait_state ID STATE [SECONDS]
_nsfd_wrapper_state_is () {
	[[ $(nsfd_wrapper_state "$1") == "$2" ]]
}

nsfd_wrapper_wait_state () {
	nsfd_wait_until "${3:-10}" _nsfd_wrapper_state_is "$1" "$2" 2>/dev/null && return 0
	echo "nsfd_wrapper_wait_state: $1 did not reach $2 (now: $(nsfd_wrapper_state "$1"))" >&2
	return 1
}

nsfd_wrapper_exec () {
	local id=$1
	shift
	nsfd_wrapper exec "$id" "$@"
}

# The shim's stop: kill ID KILL, wait until stopped, delete ID.
nsfd_wrapper_stop_delete () {
	local id=$1
	nsfd_wrapper kill "$id" KILL
	((status == 0)) || { echo "kill $id: status $status: $output" >&2; return 1; }
	nsfd_wrapper_wait_state "$id" stopped 20 || return 1
	nsfd_wrapper delete "$id"
	((status == 0)) || { echo "delete $id: status $status: $output" >&2; return 1; }
}

nsfd_wrapper_holder () {
	cat "$1/.nsfdsuds/${2:-default}/holder.json"
}

# nsfd_wrapper_gone ID [VOLUME]: nothing of ID is left.
nsfd_wrapper_gone () {
	local id=$1 vol=${2:-} rc=0
	if timeout 10 "$NSFD_W_REAL" --root "$NSFD_W_ROOT" state "$id" >/dev/null 2>&1 </dev/null 3>&-; then
		echo "container $id still exists" >&2
		rc=1
	fi
	if [[ -e $NSFD_W_RUNDIR/$id ]]; then
		echo "$NSFD_W_RUNDIR/$id is left" >&2
		ls -la "$NSFD_W_RUNDIR/$id" >&2
		rc=1
	fi
	if [[ -n $vol && -e $vol/.nsfdsuds/default/holder.json ]]; then
		echo "holder.json not released:" >&2
		cat "$vol/.nsfdsuds/default/holder.json" >&2
		rc=1
	fi
	return $rc
}

# nsfd_tree_sum DIR: every entry with type, owner, mode and (files) checksum, sorted.
nsfd_tree_sum () {
	(cd "$1" && find . -xdev -printf '%y %U:%G %m %p -> %l\n' | LC_ALL=C sort &&
		find . -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum)
}

# Teardown for wrapper tests: the usual cleanup, and no runtime directory may be left
# for any container the test created through the wrapper (failing the test if one is).
nsfd_wrapper_teardown () {
	local rc=0 track kind id rest
	track=$(_nsfd_track_file)
	local -a ids=()
	if [[ -f $track ]]; then
		while IFS=$'\t' read -r kind id rest; do
			[[ $kind == wrapper-id ]] && ids+=("$id")
		done <"$track"
	fi
	nsfd_cleanup || rc=1
	for id in "${ids[@]}"; do
		if [[ -n $id && -d $NSFD_W_RUNDIR/$id ]]; then
			echo "nsfd_wrapper_teardown: $NSFD_W_RUNDIR/$id was left; removing it" >&2
			rm -rf --one-file-system "${NSFD_W_RUNDIR:?}/$id"
			rc=1
		fi
	done
	return $rc
}

# nsfd_fake_runtime PATH: a stand-in runtime at PATH. Each call N (0, 1, ...) writes to
# $NSFD_FAKE_DIR/call.N/: argv (argv[0] first, one per line), argc, cwd and, when
# NSFD_FAKE_PROBE names a path, probe (its file system type as the runtime sees it).
# Exits with $NSFD_FAKE_EXIT (default 0).
nsfd_fake_runtime () {
	cat >"$1" <<'FAKE'
#!/bin/sh
d=${NSFD_FAKE_DIR:?}
n=0
while ! mkdir "$d/call.$n" 2>/dev/null; do n=$((n + 1)); done
printf '%s\n' "$0" "$@" >"$d/call.$n/argv"
echo "$#" >"$d/call.$n/argc"
pwd -P >"$d/call.$n/cwd"
if [ -n "${NSFD_FAKE_PROBE:-}" ]; then
	stat -f -c %T "$NSFD_FAKE_PROBE" >"$d/call.$n/probe" 2>&1
fi
exit "${NSFD_FAKE_EXIT:-0}"
FAKE
	chmod 755 "$1"
}
