#!/bin/bash
# Soak: N create/start/stop/delete cycles of one activated container on one layer.
#
#   tests/soak/soak.sh N MODE
#
# MODE hook:    nsfdsuds-hook at createRuntime/createContainer/poststop, runc on the host
#               (it must pivot by path: runc up to 1.3.5 / 1.4.2, e.g. bookworm's 1.1.5).
# MODE wrapper: nsfdsuds-runtime around runc 1.3.6 inside the Debian sid tree (re-runs
#               itself there through tests/sid/enter.sh --overlay; the tree is not
#               written). The project is built in the tree into $NSFD_SOAK_SID_BUILD.
#
# Each cycle: create, start, wait until the container has appended "cycle <i>" to
# /var/lib/soak/log in its persistent root, stop it (kill KILL, wait stopped), delete.
# At the start and the end it records: host mount count (all, and without other people's
# /tmp, /var/lib/containers, ... mounts), entries under /run (recursive) and under
# <runDir> (both shared with anything else running on the machine: reported, not
# judged; <runDir>/<this id> must be gone), nsfdsuds processes of this build, open fds
# of this shell. At the end it
# checks that every cycle's line is in the layer, in order, and that nothing grew.
# Prints one "soak:" line per figure and a final "soak: PASS" or "soak: FAIL ...";
# exit status 0 on PASS.
#
# Environment: NSFD_BUILD_DIR (host build, default <repo>/build), NSFD_SOAK_SID_TREE
# (default $NSFD_SID_TREE or /var/cache/nsfdsuds-test/sid, the tree make-tree.sh makes), NSFD_SOAK_SID_BUILD (default <repo>/build-sid),
# NSFD_SOAK_TMP (where the bundle and volume go; default a new dir under /tmp),
# NSFD_SOAK_KEEP=1 keeps the temp dir, NSFD_SOAK_ID names the container. Already inside
# the tree (NSFD_SID=1, the sid suite), wrapper mode runs there directly;
# NSFD_SOAK_NO_BUILD=1 then uses $NSFD_SOAK_SID_BUILD (or $NSFD_BUILD_DIR) as built.
set -euo pipefail

n=${1:?usage: soak.sh N hook|wrapper}
mode=${2:?usage: soak.sh N hook|wrapper}
[[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || { echo "soak: N must be a positive number" >&2; exit 2; }
case $mode in hook | wrapper) ;; *) echo "soak: MODE is hook or wrapper" >&2; exit 2 ;; esac
[[ $(id -u) == 0 ]] || { echo "soak: must run as root" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# --- wrapper mode runs in the sid tree ---------------------------------------------------
if [[ $mode == wrapper && ${NSFD_SOAK_INSIDE:-0} != 1 && ${NSFD_SID:-0} != 1 ]]; then
	tree=${NSFD_SOAK_SID_TREE:-${NSFD_SID_TREE:-/var/cache/nsfdsuds-test/sid}}
	[[ -x $tree/usr/bin/jq ]] || tree=/var/tmp/nsfd-dev/sid
	[[ -x $tree/usr/bin/jq ]] || { echo "soak: no sid tree with jq (tests/sid/make-tree.sh makes one)" >&2; exit 2; }
	export NSFD_SOAK_INSIDE=1 NSFD_SOAK_SID_BUILD=${NSFD_SOAK_SID_BUILD:-$repo/build-sid}
	unset NSFD_SOAK_TMP RUNC
	exec "$repo/tests/sid/enter.sh" --overlay "$tree" -- /bin/bash "$repo/tests/soak/soak.sh" "$n" "$mode"
fi
if [[ $mode == wrapper && ${NSFD_SOAK_NO_BUILD:-0} == 1 ]]; then
	build=${NSFD_SOAK_SID_BUILD:-${NSFD_BUILD_DIR:-$repo/build-sid}}
elif [[ $mode == wrapper ]]; then
	build=${NSFD_SOAK_SID_BUILD:-$repo/build-sid}
	echo "soak: building in the sid tree into $build"
	if ! { cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSFD_BUILD_TESTS=OFF &&
		cmake --build "$build" -j2; } >"/tmp/soak-build.log" 2>&1; then
		tail -n 30 /tmp/soak-build.log >&2
		echo "soak: FAIL build" >&2
		exit 1
	fi
else
	build=${NSFD_BUILD_DIR:-$repo/build}
fi
hook_bin=$build/hook/nsfdsuds-hook
runtime_bin=$build/runtime/nsfdsuds-runtime
[[ -x $hook_bin && -x $runtime_bin ]] || { echo "soak: not built: $build" >&2; exit 2; }

tmp=${NSFD_SOAK_TMP:-$(mktemp -d /tmp/nsfd-soak.XXXXXX)}
mkdir -p "$tmp"
export NSFD_SUITE_CACHE=$tmp/cache
umask 022
source "$repo/tests/lib/rootfs.bash"
source "$repo/tests/lib/bundle.bash"
source "$repo/tests/lib/runtime.bash"
nsfd_runtime_setup
real_runc=$(command -v "$RUNC")
run_dir=/run/nsfdsuds
id=${NSFD_SOAK_ID:-nsfdt-soak-$mode-$$}
state_root=$tmp/state
vol=$tmp/vols/vol
bundle=$tmp/bundle
cfg=$tmp/config.json
mkdir -p "$vol" "$state_root"
jq -n --arg v "$tmp/vols" --arg r "$run_dir" '{allowedVolumePrefixes: [$v], runDir: $r,
	logLevel: "warning", log: ["stderr"], handshakeTimeoutSeconds: 10, mounterLifetimeSeconds: 30}' >"$cfg"
chmod 644 "$cfg"

if [[ $mode == hook ]]; then
	if ! "$real_runc" --version | awk 'NR == 1 { v = $3; split(v, a, "."); exit !((a[1] == 1 && a[2] < 3) || (a[1] == 1 && a[2] == 3 && a[3] + 0 < 6)) }'; then
		echo "soak: hook mode needs a runc that pivots by path (this is $("$real_runc" --version | head -n1))" >&2
		exit 2
	fi
	rt=("$real_runc" --root "$state_root")
	hooks=()
	for st in createRuntime createContainer poststop; do
		hooks+=(--hook "$st" "$hook_bin" --config "$cfg" "$st")
	done
else
	rt=(env "NSFDSUDS_RUNTIME=$real_runc" "NSFDSUDS_CONFIG=$cfg" "$runtime_bin" --root "$state_root")
	hooks=()
fi
nsfd_bundle "$bundle" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
	--args "sh -c 'mkdir -p /var/lib/soak && echo \"cycle \$SOAK_CYCLE\" >>/var/lib/soak/log && exec sleep 600'" \
	"${hooks[@]}"
mkdir -p "$bundle/rootfs/data"
log=$vol/.nsfdsuds/default/upper/var/lib/soak/log

cleanup () {
	"${rt[@]}" delete --force "$id" </dev/null >/dev/null 2>&1 || true
	if [[ ${NSFD_SOAK_KEEP:-0} != 1 && -z ${NSFD_SOAK_TMP:-} ]]; then
		rm -rf --one-file-system "$tmp"
	fi
}
trap cleanup EXIT

noise='^/(tmp|var/tmp|var/lib/containers|var/lib/containerd|run/containers|run/containerd|run/netns|run/user)/'
# Processes of this build's binaries (processes vanish during the walk: find fails).
count_procs () {
	{ find /proc -mindepth 2 -maxdepth 2 -name exe \( -lname "$hook_bin" -o -lname "$runtime_bin" \) 2>/dev/null || true; } | wc -l
}
measure () {
	local tag=$1
	local mounts quiet runs ours procs fds
	mounts=$(wc -l </proc/self/mountinfo)
	quiet=$(awk -v noise="$noise" -v mine="$tmp/" '$5 ~ noise && index($5 "/", mine) != 1 { next } { c++ } END { print c + 0 }' /proc/self/mountinfo)
	runs=$({ find /run -xdev 2>/dev/null || true; } | wc -l)
	ours=$({ find "$run_dir" 2>/dev/null || true; } | wc -l)
	procs=$(count_procs)
	fds=$(find /proc/$$/fd -mindepth 1 -maxdepth 1 | wc -l)
	echo "soak: $tag: mounts=$mounts mounts-without-noise=$quiet run-entries=$runs rundir-entries=$ours nsfdsuds-procs=$procs shell-fds=$fds"
	eval "${tag}_mounts=$mounts ${tag}_quiet=$quiet ${tag}_runs=$runs ${tag}_ours=$ours ${tag}_procs=$procs ${tag}_fds=$fds"
}

wait_for () {
	local what=$1 i
	shift
	for ((i = 0; i < 200; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "soak: FAIL waiting for $what" >&2
	return 1
}
has_line () { [[ -f $log ]] && grep -qx "cycle $1" "$log"; }
is_stopped () { [[ $("${rt[@]}" state "$id" 2>/dev/null </dev/null | jq -r .status) == stopped ]]; }

echo "soak: $n cycles, mode $mode, runc $("$real_runc" --version | awk 'NR == 1 { print $3 }'), build $build"
measure start
times=()
for ((i = 1; i <= n; i++)); do
	t0=$(date +%s%N)
	_nsfd_jq "$bundle/config.json" --arg c "SOAK_CYCLE=$i" \
		'.process.env = ([.process.env[] | select(startswith("SOAK_CYCLE=") | not)] + [$c])'
	if ! "${rt[@]}" create --bundle "$bundle" "$id" </dev/null >"$tmp/create.out" 2>&1 3>&-; then
		echo "soak: FAIL cycle $i: create: $(cat "$tmp/create.out")" >&2
		exit 1
	fi
	"${rt[@]}" start "$id" </dev/null >"$tmp/start.out" 2>&1 3>&- || {
		echo "soak: FAIL cycle $i: start: $(cat "$tmp/start.out")" >&2
		exit 1
	}
	wait_for "cycle $i's line" has_line "$i"
	"${rt[@]}" kill "$id" KILL </dev/null >/dev/null 2>&1
	wait_for "cycle $i to stop" is_stopped
	"${rt[@]}" delete "$id" </dev/null >"$tmp/delete.out" 2>&1 || {
		echo "soak: FAIL cycle $i: delete: $(cat "$tmp/delete.out")" >&2
		exit 1
	}
	times+=($(( ($(date +%s%N) - t0) / 1000000 )))
	if ((i % 50 == 0)); then echo "soak: $i cycles done"; fi
done
# A mounter, a poststop, a wrapper: all bounded; give stragglers a moment.
no_procs () { (($(count_procs) == 0)); }
wait_for "nsfdsuds processes to exit" no_procs || true
measure end

fail=()
expected=$(seq 1 "$n" | sed 's/^/cycle /')
if [[ $(cat "$log") != "$expected" ]]; then
	fail+=("lines: $(wc -l <"$log") of $n, or out of order")
fi
[[ -e $vol/.nsfdsuds/default/holder.json ]] && fail+=("holder.json left")
[[ -e $run_dir/$id ]] && fail+=("$run_dir/$id left")
((end_quiet == start_quiet)) || fail+=("mounts $start_quiet -> $end_quiet")
((end_procs == 0)) || fail+=("nsfdsuds processes left: $end_procs")
((end_fds == start_fds)) || fail+=("shell fds $start_fds -> $end_fds")

sorted=($(printf '%s\n' "${times[@]}" | sort -n))
cnt=${#sorted[@]}
if ((cnt % 2)); then median=${sorted[cnt / 2]}; else median=$(( (sorted[cnt / 2 - 1] + sorted[cnt / 2]) / 2 )); fi
echo "soak: lines $(wc -l <"$log")/$n; per cycle ms: median $median, min ${sorted[0]}, max ${sorted[cnt - 1]}"
if ((${#fail[@]})); then
	echo "soak: FAIL ${fail[*]}"
	exit 1
fi
echo "soak: PASS"
