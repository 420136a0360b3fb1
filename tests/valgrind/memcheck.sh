#!/bin/bash
# Runs the hook's and the runtime wrapper's main paths under valgrind memcheck
# and fails on any memory error or leak of ours (docs/fuzzing.md, "valgrind").
#
#   tests/valgrind/memcheck.sh            (root; uses $NSFD_BUILD_DIR, default <repo>/build)
#
# Scenarios (each process under valgrind writes its own log, tagged by scenario):
#   idle      the three hook stages for a container without our annotations
#   hook      a real runc container with nsfdsuds.io/persist: the hook is registered
#             through a small wrapper script that runs createContainer and poststop
#             under valgrind; the write must land in the persistent layer
#   hook-cr   createRuntime itself under valgrind: valgrind does not implement
#             pidfd_open (3.19) nor the mount API (fsopen/fsmount/move_mount, still
#             missing in 3.24), so the activated container must fail closed, with a
#             clean error path and nothing left behind
#   wrapper   nsfdsuds-runtime: create of an activated container natively (same
#             mount-API limit), then start, state, kill and delete under valgrind
#             (delete releases the layer); create under valgrind of an activated
#             container fails closed; create of a plain container passes through
#
# A log fails when it reports an error (ERROR SUMMARY > 0), "definitely" or
# "indirectly lost" bytes, or a "still reachable" block allocated by our code in
# a process that ended by returning from main or exit() (blocks of the dynamic
# loader's, kept by a dlopen() of libmount that is meant to last as long as the
# process, do not count).  Forked children that
# _exit() (the mounter and its worker) keep their parent's memory by design and
# are checked for errors and lost bytes only.
# Environment: NSFD_BUILD_DIR, RUNC (default runc), NSFD_VG_KEEP=1 keeps the work dir,
# NSFD_VG_SCENARIOS (default "idle hook wrapper"; leave out "hook" for a runc that
# pivots into a pre-opened root, 1.3.6+, where hook mode refuses by design).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${NSFD_BUILD_DIR:-$repo/build}
hook=$build/hook/nsfdsuds-hook
wrapper=$build/runtime/nsfdsuds-runtime
runc=${RUNC:-runc}
runc=$(command -v "$runc")
valgrind=$(command -v valgrind) || { echo "memcheck: valgrind is not installed" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "memcheck: must run as root" >&2; exit 2; }
for b in "$hook" "$wrapper"; do
	[[ -x $b ]] || { echo "memcheck: not built: $b" >&2; exit 2; }
done
busybox=$(command -v busybox) || { echo "memcheck: busybox-static is not installed" >&2; exit 2; }

work=$(mktemp -d /tmp/nsfd-vg.XXXXXX)
chmod 755 "$work"
logs=$work/logs
mkdir -p "$logs"
run_id=G-vg-$$
scenarios=" ${NSFD_VG_SCENARIOS:-idle hook wrapper} "
want () { [[ $scenarios == *" $1 "* ]]; }
ids=()
fail=0

say () { printf 'memcheck: %s\n' "$*"; }
bad () { printf 'memcheck: FAIL: %s\n' "$*" >&2; fail=1; }

cleanup () {
	local id m
	for id in "${ids[@]}"; do
		"$runc" --root "$work/runc-root" delete -f "$id" >/dev/null 2>&1 || true
		"$runc" delete -f "$id" >/dev/null 2>&1 || true
		rm -rf "/run/nsfdsuds/$id"
	done
	# Nothing of ours may stay mounted; never rm -rf across a mount.
	for m in $(awk -v w="$work" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	if [[ ${NSFD_VG_KEEP:-0} == 1 || $fail != 0 ]]; then
		say "logs kept in $logs"
		find "$work" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null || true
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# Every valgrind run: full leak check, leaks of kind definite/indirect count as
# errors, one log per process (%p is re-evaluated after fork).
vg_opts=(--tool=memcheck --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=definite,indirect
	--num-callers=40 --child-silent-after-fork=no --trace-children=no --error-exitcode=97
	--suppressions="$here/nsfd.supp")
vg () {
	local tag=$1
	shift
	NSFD_VG_TAG=$tag "$valgrind" "${vg_opts[@]}" --log-file="$logs/%q{NSFD_VG_TAG}.%p.log" "$@"
}

# ---- fixtures ---------------------------------------------------------------

mkdir -p "$work/rootfs/bin" "$work/rootfs/data" "$work/vols" "$work/runc-root"
cp "$busybox" "$work/rootfs/bin/busybox"
for t in sh cat true sleep; do ln -s busybox "$work/rootfs/bin/$t"; done
cfg=$work/config.json
jq -n --arg v "$work/vols" '{allowedVolumePrefixes: [$v], logLevel: "debug", log: ["stderr"],
	handshakeTimeoutSeconds: 20, mounterLifetimeSeconds: 60}' >"$cfg"
chmod 644 "$cfg"

# hook_script NAME STAGES...: a hook path that runs nsfdsuds-hook, under
# valgrind for the stages listed (runtimes give hooks no environment of ours).
hook_script () {
	local name=$1 s
	shift
	{
		echo '#!/bin/sh'
		echo 'stage=$(for a in "$@"; do :; done; echo "$a")'
		echo 'case " '"$*"' " in'
		printf '*" $stage "*) NSFD_VG_TAG=%s-$stage exec %s' "$name" "$valgrind"
		for s in "${vg_opts[@]}"; do printf ' %q' "$s"; done
		printf ' --log-file=%q %q "$@" ;;\n' "$logs/%q{NSFD_VG_TAG}.%p.log" "$hook"
		printf '*) exec %q "$@" ;;\nesac\n' "$hook"
	} >"$work/$name-hook.sh"
	chmod 755 "$work/$name-hook.sh"
	echo "$work/$name-hook.sh"
}

# bundle DIR VOLUME ARGS_JSON [HOOK_SCRIPT]: a busybox bundle with the volume at
# /data and nsfdsuds.io/persist: /data (no hooks without HOOK_SCRIPT).
bundle () {
	local dir=$1 vol=$2 args=$3 hs=${4:-}
	mkdir -p "$dir" "$vol"
	cp -a "$work/rootfs" "$dir/rootfs"
	(cd "$dir" && "$runc" spec)
	jq --arg v "$vol" --argjson a "$args" --arg h "$hs" --arg c "$cfg" '
		.process.args = $a | .process.terminal = false | .root.readonly = false
		| .annotations = {"nsfdsuds.io/persist": "/data"}
		| .mounts += [{destination: "/data", type: "bind", source: $v, options: ["rbind", "rw"]}]
		| if $h == "" then . else .hooks = ([ "createRuntime", "createContainer", "poststop" ]
			| map({key: ., value: [{path: $h, args: [$h, "--config", $c, .]}]}) | from_entries) end' \
		"$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
}

# ---- idle path ----------------------------------------------------------------

if want idle; then
say "idle path: the three stages for a container without our annotations"
for st in createRuntime createContainer poststop; do
	jq -n --arg b "$work" '{ociVersion: "1.0.2-dev", id: "G-vg-idle", status: "creating", pid: 1,
		bundle: $b, annotations: {"io.kubernetes.cri.container-type": "container"}}' |
		vg "idle-$st" "$hook" --config "$cfg" "$st" >"$logs/idle-$st.out" 2>&1 ||
		bad "idle $st exited $? ($(tail -n 3 "$logs/idle-$st.out"))"
done

fi

# ---- hook mode, real container ----------------------------------------------------

if want hook; then
say "hook: runc container, createContainer and poststop under valgrind"
id=$run_id-hook
ids+=("$id")
hs=$(hook_script hook createContainer poststop)
bundle "$work/b-hook" "$work/vols/v1" '["sh","-c","echo persisted > /G-vg-file; cat /G-vg-file"]' "$hs"
if out=$(cd "$work/b-hook" && timeout 120 "$runc" run "$id" </dev/null 2>&1); then
	[[ $out == *persisted* ]] || bad "hook: unexpected container output: $out"
	[[ -f $work/vols/v1/.nsfdsuds/default/upper/G-vg-file ]] ||
		bad "hook: the container's write is not in the persistent layer"
else
	bad "hook: runc run failed: $out"
fi
[[ ! -e /run/nsfdsuds/$id ]] || bad "hook: /run/nsfdsuds/$id left behind"
[[ ! -e $work/vols/v1/.nsfdsuds/default/holder.json ]] || bad "hook: the layer is still held after poststop"

say "hook-cr: createRuntime under valgrind fails closed"
id=$run_id-cr
ids+=("$id")
hs=$(hook_script hookcr createRuntime createContainer poststop)
bundle "$work/b-cr" "$work/vols/v2" '["true"]' "$hs"
if out=$(cd "$work/b-cr" && timeout 120 "$runc" run "$id" </dev/null 2>&1); then
	bad "hook-cr: the container started although createRuntime cannot work under valgrind"
else
	say "hook-cr: refused as expected: $(grep -o 'nsfdsuds[^"]*' <<<"$out" | head -n 1)"
fi
"$runc" delete -f "$id" >/dev/null 2>&1 || true
[[ ! -e /run/nsfdsuds/$id ]] || bad "hook-cr: /run/nsfdsuds/$id left behind"
[[ ! -e $work/vols/v2/.nsfdsuds/default/holder.json ]] || bad "hook-cr: the layer is still held"

fi

# ---- runtime wrapper ------------------------------------------------------------------

if want wrapper; then
export NSFDSUDS_RUNTIME=$runc NSFDSUDS_CONFIG=$cfg

say "wrapper: native create, then start/state/kill/delete under valgrind"
id=$run_id-w
ids+=("$id")
bundle "$work/b-w" "$work/vols/v3" '["sh","-c","echo persisted > /G-vg-file; exec sleep 60"]'
if timeout 60 "$wrapper" --root "$work/runc-root" create --bundle "$work/b-w" "$id" \
	</dev/null >"$logs/wrapper-create.out" 2>&1; then
	vg wrapper-start "$wrapper" --root "$work/runc-root" start "$id" >"$logs/wrapper-start.out" 2>&1 ||
		bad "wrapper: start failed ($(tail -n 3 "$logs/wrapper-start.out"))"
	for _ in $(seq 50); do
		[[ -f $work/vols/v3/.nsfdsuds/default/upper/G-vg-file ]] && break
		sleep 0.1
	done
	[[ -f $work/vols/v3/.nsfdsuds/default/upper/G-vg-file ]] ||
		bad "wrapper: the container's write is not in the persistent layer"
	vg wrapper-state "$wrapper" --root "$work/runc-root" state "$id" >"$logs/wrapper-state.out" 2>&1 ||
		bad "wrapper: state failed"
	vg wrapper-kill "$wrapper" --root "$work/runc-root" kill "$id" KILL >"$logs/wrapper-kill.out" 2>&1 ||
		bad "wrapper: kill failed"
	for _ in $(seq 50); do
		[[ $("$runc" --root "$work/runc-root" state "$id" 2>/dev/null | jq -r .status) == stopped ]] && break
		sleep 0.1
	done
	vg wrapper-delete "$wrapper" --root "$work/runc-root" delete "$id" >"$logs/wrapper-delete.out" 2>&1 ||
		bad "wrapper: delete failed ($(tail -n 3 "$logs/wrapper-delete.out"))"
	[[ ! -e $work/vols/v3/.nsfdsuds/default/holder.json ]] || bad "wrapper: the layer is still held after delete"
	[[ ! -e /run/nsfdsuds/$id ]] || bad "wrapper: /run/nsfdsuds/$id left behind"
else
	bad "wrapper: native create failed: $(tail -n 5 "$logs/wrapper-create.out")"
fi

say "wrapper: create under valgrind of an activated container fails closed"
id=$run_id-wf
ids+=("$id")
bundle "$work/b-wf" "$work/vols/v4" '["true"]'
if vg wrapper-create-fail "$wrapper" --root "$work/runc-root" create --bundle "$work/b-wf" "$id" \
	</dev/null >"$logs/wrapper-create-fail.out" 2>&1; then
	bad "wrapper: create succeeded although the mount API is missing under valgrind"
fi
"$runc" --root "$work/runc-root" state "$id" >/dev/null 2>&1 && bad "wrapper: a container was created"
[[ ! -e $work/vols/v4/.nsfdsuds/default/holder.json ]] || bad "wrapper: the layer is still held after a failed create"

say "wrapper: create under valgrind of a plain container passes through"
id=$run_id-wp
ids+=("$id")
bundle "$work/b-wp" "$work/vols/v5" '["true"]'
jq 'del(.annotations)' "$work/b-wp/config.json" >"$work/b-wp/c" && mv "$work/b-wp/c" "$work/b-wp/config.json"
vg wrapper-create-plain "$wrapper" --root "$work/runc-root" create --bundle "$work/b-wp" "$id" \
	</dev/null >"$logs/wrapper-create-plain.out" 2>&1 || bad "wrapper: plain create failed"
vg wrapper-delete-plain "$wrapper" --root "$work/runc-root" delete -f "$id" \
	>"$logs/wrapper-delete-plain.out" 2>&1 || bad "wrapper: plain delete failed"
fi

# ---- the logs -------------------------------------------------------------------------------

# Our code: any frame in a source file of lib/, hook/ or cli/.
ours_re='\((('"$(cd "$repo" && ls lib/*.c hook/*.c cli/*.c | xargs -n1 basename | sed 's/\./\\./' | paste -sd'|')"')):[0-9]+\)'
n_logs=0
for log in "$logs"/*.log; do
	[[ -e $log ]] || continue
	n_logs=$((n_logs + 1))
	name=${log##*/}
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
	definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -n 1)
	indirect=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -n 1)
	if [[ -z $errors ]]; then
		# A process that exec()ed (the wrapper handing over to runc) has no summary.
		grep -q 'ERROR SUMMARY' "$log" || { say "$name: exec'ed, no summary"; continue; }
	fi
	((${errors:-0} == 0)) || bad "$name: $errors error(s)"
	((${definite:-0} == 0)) || bad "$name: $definite bytes definitely lost"
	((${indirect:-0} == 0)) || bad "$name: $indirect bytes indirectly lost"
	# Still reachable from our code, in a process that exited through main/exit().
	# A child forked by a process under valgrind (its parent has a log here) is
	# the mounter or its worker, which _exit() with their parent's memory.
	ppid=$(sed -n 's/^==[0-9]*== Parent PID: \([0-9]*\)$/\1/p' "$log" | head -n 1)
	if ! compgen -G "$logs/*.${ppid:-none}.log" >/dev/null &&
		awk '/still reachable in loss record/ { rec = 1; buf = ""; next }
			rec && /^==[0-9]+== *$/ { if (buf !~ /dlopen/) print buf; rec = 0 } rec { buf = buf $0 "\n" }' "$log" |
		grep -Eq "$ours_re"; then
		bad "$name: still reachable memory allocated by our code (see the log)"
	fi
	printf 'memcheck: %-40s errors=%s definitely=%s indirectly=%s reachable=%s\n' "$name" "${errors:-0}" \
		"${definite:-0}" "${indirect:-0}" \
		"$(sed -n 's/.*still reachable: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -n 1)"
done
min_logs=0
want idle && min_logs=$((min_logs + 3))
want hook && min_logs=$((min_logs + 4))
want wrapper && min_logs=$((min_logs + 6))
((n_logs >= min_logs)) || bad "only $n_logs valgrind logs were written (expected at least $min_logs)"
if ((fail)); then
	say "FAILED"
	exit 1
fi
say "ok: $n_logs processes under valgrind, no errors, no leaks"
