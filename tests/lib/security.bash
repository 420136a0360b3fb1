# Helpers for the hostile-input tests (tests/bats/security-*.bats, docs/security.md).
# Load after common and hook:
#
#   load ../lib/common
#   load ../lib/hook
#   load ../lib/security
#
# Direct hook runs (no container; the runtime's part is played by the test):
#   sec_bundle DIR SRC [DEST]         a minimal bundle: config.json with one bind mount
#                                     SRC -> DEST (default /data) and an empty rootfs
#   sec_state ID BUNDLE PID [ANN]     an OCI state document; ANN is the annotations as
#                                     a JSON object (default {"nsfdsuds.io/persist":"/data"})
#   sec_config [HS_S] [LIFE_S]        an admin config allowing $(nsfd_tmpdir vols)
#   sec_init_pid                      a stand-in for the container's init (a tracked
#                                     sleep); prints its pid
#   sec_hook CFG STAGE FILE           run nsfdsuds-hook (bounded) with FILE as stdin;
#                                     sets status, output (stderr then stdout) and
#                                     sec_elapsed (seconds)
#   sec_make_layer CFG BUNDLE         a real layer in the bundle's volume, made by
#                                     createRuntime + poststop as a container would
#                                     (so it records this rootfs), and released
#   sec_layer_template                in setup_file: one layer made by sec_make_layer for
#                                     an empty rootfs; exports SEC_LAYER_TEMPLATE
#   sec_layer_copy VOL                a copy of it in VOL (for bundles made by sec_bundle,
#                                     whose empty rootfs has the same fingerprint)
#   sec_assert_refused TEXT           status 1 and TEXT in the output
#   sec_assert_no_leftovers ID SNAP   no /run/nsfdsuds/ID, no mounter, host mounts as SNAP
#
# A mounter held waiting for an attack (security-handshake.bats):
#   sec_rt                            runc where hook mode works, else crun
#   sec_gated_bundle DIR CFG [--without-poststop] [nsfd_bundle options]
#                                     hooks: ours at createRuntime and poststop; at
#                                     createContainer a gate script that waits for
#                                     $(sec_sync)/go before exec'ing ours (or exits 1
#                                     on $(sec_sync)/abort)
#   sec_gated_create RT BUNDLE ID     `create` in the background until the gate holds;
#                                     sets SEC_CREATE_PID, SEC_MPID (mounter), SEC_SOCK,
#                                     SEC_GATE_PID (the gate script, in the container's
#                                     namespaces)
#   sec_open_gate                     let the real agent go; waits for create; sets
#                                     SEC_CREATE_STATUS
#   sec_abort_gate                    make the runtime fail at the gate instead
#   sec_mounter_fds                   the mounter's open files, one per line, sorted
#   sec_peer ARGS...                  tests/security/hostile_peer.py (run it with `run`)
#   sec_short_dir                     a directory with a short path (socket paths are
#                                     limited to 107 bytes); removed by sec_teardown
#   sec_teardown                      nsfd_hook_teardown plus the short dirs

SEC_PEER=$NSFD_REPO/tests/security/hostile_peer.py
# The system python: a per-user one (pyenv under /root) is not reachable for the
# other uids the tests switch to.
SEC_PYTHON=/usr/bin/python3
[[ -x $SEC_PYTHON ]] || SEC_PYTHON=$(command -v python3)

sec_bundle () {
	local dir=$1 src=$2 dest=${3:-/data}
	mkdir -p "$dir/rootfs"
	printf '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"]},"mounts":[{"destination":"%s","type":"bind","source":"%s","options":["rbind","rw"]}]}\n' \
		"$dest" "$src" >"$dir/config.json"
}

# jq costs ~80 ms a call here; these documents are written with printf instead. The
# annotations are given as a JSON object, so a test can put any escape in them.
sec_state () {
	local id=$1 bundle=$2 pid=$3 ann=${4:-'{"nsfdsuds.io/persist":"/data"}'}
	printf '{"ociVersion":"1.0.2","id":"%s","status":"creating","pid":%s,"bundle":"%s","annotations":%s}\n' \
		"$id" "$pid" "$bundle" "$ann"
}

# sec_config [HANDSHAKE_SECONDS] [LIFETIME_SECONDS]: like nsfd_hook_config (volumes
# under $(nsfd_tmpdir vols), debug log to stderr), without jq.
sec_config () {
	local dir cfg
	dir=$(nsfd_tmpdir etc)
	cfg=$dir/config.json
	printf '{"allowedVolumePrefixes":["%s"],"logLevel":"debug","log":["stderr"],"handshakeTimeoutSeconds":%s,"mounterLifetimeSeconds":%s}\n' \
		"$(nsfd_tmpdir vols)" "${1:-10}" "${2:-60}" >"$cfg"
	chmod 0644 "$cfg"
	printf '%s\n' "$cfg"
}

sec_init_pid () {
	sleep 120 </dev/null >/dev/null 2>&1 3>&- &
	nsfd_track_pid $!
	printf '%s\n' $!
}

sec_hook () {
	local cfg=$1 stage=$2 in=$3 d t0 t1
	d=$(nsfd_tmpdir .hook)
	status=0
	t0=$(date +%s.%N)
	timeout -k 2 30 "$NSFD_HOOK_BIN" --config "$cfg" "$stage" <"$in" >"$d/out" 2>"$d/err" 3>&- || status=$?
	t1=$(date +%s.%N)
	sec_elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	output=$(cat "$d/err" "$d/out")
	echo "hook $stage: status $status after ${sec_elapsed}s"
	echo "$output"
}

sec_assert_refused () {
	[[ $status == 1 ]] || { echo "expected exit status 1, got $status"; return 1; }
	[[ $output == *"$1"* ]] || { echo "the error does not say: $1"; return 1; }
}

sec_make_layer () {
	local cfg=$1 b=$2 vol pid id mpid st
	vol=$(jq -r '.mounts[] | select(.destination == "/data") | .source' "$b/config.json")
	st=$(nsfd_tmpdir .hook)/mklayer.json
	pid=$(sec_init_pid)
	id=$(nsfd_unique_id mklayer)
	sec_state "$id" "$b" "$pid" >"$st"
	sec_hook "$cfg" createRuntime "$st" >/dev/null
	[[ $status == 0 ]] || { echo "sec_make_layer: createRuntime failed: $output"; return 1; }
	mpid=$(jq -r .mounterPid "$NSFD_HOOK_RUNDIR/$id/record")
	sec_hook "$cfg" poststop "$st" >/dev/null
	[[ $status == 0 ]] || { echo "sec_make_layer: poststop failed: $output"; return 1; }
	nsfd_wait_gone "$mpid" 5
	kill "$pid"
	[[ -f $vol/.nsfdsuds/default/layer.json && ! -e $vol/.nsfdsuds/default/holder.json ]]
}

sec_layer_template () {
	local cfg vol b
	cfg=$(sec_config)
	vol=$(nsfd_hook_volume template)
	b=$(nsfd_tmpdir template-bundle)
	sec_bundle "$b" "$vol"
	sec_make_layer "$cfg" "$b" >&2 || return 1
	export SEC_LAYER_TEMPLATE=$vol/.nsfdsuds
}

sec_layer_copy () {
	cp -a "$SEC_LAYER_TEMPLATE" "$1/"
}

sec_assert_no_leftovers () {
	local id=$1 snap=$2
	nsfd_hook_assert_clean "$id" "$snap"
}

# --- a mounter held waiting ------------------------------------------------------------

sec_rt () {
	nsfd_hook_runtime
}

sec_sync () {
	local d
	d=$(nsfd_tmpdir sync)
	# The gate runs as the container's root, host uid 100000 with --userns.
	chmod 1777 "$d"
	printf '%s\n' "$d"
}

_sec_write_gate () {
	local gate=$1 sync=$2 cfg=$3
	cat >"$gate" <<GATE
#!/bin/sh
# createContainer gate (tests/lib/security.bash): hold the real agent back until the
# test has attacked the waiting mounter. stdin (the state) is left for the hook.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
: >"$sync/waiting"
i=0
while [ ! -e "$sync/go" ]; do
	[ -e "$sync/abort" ] && { echo "gate: aborted by the test" >&2; exit 1; }
	i=\$((i + 1))
	[ \$i -gt 600 ] && { echo "gate: no go after 60 s" >&2; exit 1; }
	sleep 0.1
done
exec "$NSFD_HOOK_BIN" --config "$cfg" createContainer
GATE
	chmod 755 "$gate"
}

sec_gated_bundle () {
	local dir=$1 cfg=$2 gate sync
	local -a poststop=(--hook poststop "$NSFD_HOOK_BIN" --config "$cfg" poststop)
	shift 2
	if [[ ${1:-} == --without-poststop ]]; then
		poststop=()
		shift
	fi
	sync=$(sec_sync)
	gate=$(nsfd_tmpdir)/gate.sh
	_sec_write_gate "$gate" "$sync" "$cfg"
	nsfd_bundle "$dir" "$@" \
		--hook createRuntime "$NSFD_HOOK_BIN" --config "$cfg" createRuntime \
		--hook createContainer "$gate" "${poststop[@]}"
}

# The host pid of the gate script (it runs in the container's namespaces).
_sec_gate_pid () {
	local gate p
	gate=$(nsfd_tmpdir)/gate.sh
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$gate"; then
			printf '%s\n' "${p#/proc/}"
			return 0
		fi
	done
	return 1
}

# SYNC: the gate was reached, or the create in the background ended before it.
_sec_at_gate_or_gone () {
	[[ -e $1/waiting ]] || ! kill -0 "$SEC_CREATE_PID" 2>/dev/null
}

sec_gated_create () {
	local rt=$1 b=$2 id=$3 cmd d sync
	cmd=$(nsfd_runtime_cmd "$rt")
	d=$(nsfd_tmpdir .runtime)
	sync=$(sec_sync)
	nsfd_track_container "$rt" "$id"
	timeout -k 5 60 $cmd create --bundle "$b" "$id" </dev/null >"$d/$id.out" 2>"$d/$id.err" 3>&- &
	SEC_CREATE_PID=$!
	nsfd_track_pid "$SEC_CREATE_PID"
	if ! nsfd_wait_until 20 _sec_at_gate_or_gone "$sync" 2>/dev/null; then
		echo "the gate was not reached in 20 s"
		return 1
	fi
	if [[ ! -e $sync/waiting ]]; then
		echo "create ended before the gate:"; cat "$d/$id.out" "$d/$id.err"
		return 1
	fi
	SEC_SOCK=$NSFD_HOOK_RUNDIR/$id/socket
	[[ -S $SEC_SOCK ]] || { echo "no mounter socket at $SEC_SOCK"; return 1; }
	SEC_MPID=$(jq -r .mounterPid "$NSFD_HOOK_RUNDIR/$id/record")
	[[ $(readlink "/proc/$SEC_MPID/exe") == "$NSFD_HOOK_BIN" ]] || { echo "no mounter ($SEC_MPID)"; return 1; }
	SEC_GATE_PID=$(_sec_gate_pid) || { echo "gate process not found"; return 1; }
}

sec_open_gate () {
	local sync
	sync=$(sec_sync)
	: >"$sync/go"
	SEC_CREATE_STATUS=0
	wait "$SEC_CREATE_PID" || SEC_CREATE_STATUS=$?
	SEC_CREATE_PID=''
}

# sec_abort_gate: the gate exits 1, so the runtime fails at createContainer before our
# agent runs; waits for create; sets SEC_CREATE_STATUS.
sec_abort_gate () {
	local sync
	sync=$(sec_sync)
	: >"$sync/abort"
	SEC_CREATE_STATUS=0
	wait "$SEC_CREATE_PID" || SEC_CREATE_STATUS=$?
	SEC_CREATE_PID=''
}

sec_mounter_fds () {
	find "/proc/$SEC_MPID/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null | LC_ALL=C sort
}

sec_peer () {
	timeout -k 2 30 "$SEC_PYTHON" "$SEC_PEER" "$@" </dev/null 3>&-
}

sec_short_dir () {
	local d
	d=$(mktemp -d /tmp/nsfdsec.XXXXXX)
	printf '%s\n' "$d" >>"$(nsfd_tmpdir)/.short-dirs"
	printf '%s\n' "$d"
}

sec_teardown () {
	local list d
	# A test that stopped while its container was held at the gate: let the runtime
	# fail there now (killing the tracked `timeout` would leave runc waiting).
	if [[ -n ${SEC_CREATE_PID:-} ]] && kill -0 "$SEC_CREATE_PID" 2>/dev/null; then
		sec_abort_gate
	fi
	list=$NSFD_SUITE_TMP/$(_nsfd_test_key)/.short-dirs
	if [[ -f $list ]]; then
		while IFS= read -r d; do
			[[ $d == /tmp/nsfdsec.* ]] && rm -rf --one-file-system "$d"
		done <"$list"
	fi
	nsfd_hook_teardown
}
