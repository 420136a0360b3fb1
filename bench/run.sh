#!/bin/bash
# bench/run.sh: what nsfdsuds-hook and nsfdsuds-runtime add to a container start.
#
#   bench/run.sh [--smoke] [--rounds N] [--build DIR] [--compare DIR] [--podman|--no-podman] [--keep]
#
# Needs root, a build (default $NSFD_BUILD_DIR or ./build), runc, crun, jq, busybox
# and a C compiler (for bench/rusage-exec.c); podman for the native alternatives.
# Nothing else: times come from bash's $EPOCHREALTIME. Every comparison is measured
# alternately in one run (A B A B ..., N rounds); the table gives medians, the ratio
# of the medians, and the median of the per-round ratios. See docs/performance.md.
#
# --smoke:       1-2 rounds of everything with tiny sizes (CI: it must keep working).
# --compare DIR: a second build (e.g. of the previous commit); its hook and wrapper
#                run the same start-cost rows in the same rounds, side by side.
# --podman:      podman's own alternatives (--rootfs DIR:O, an :O,upperdir= volume)
#                against our hook under podman (default: on when podman is installed,
#                off with --smoke); --no-podman leaves them out.
# --keep:        keep the work directory (its path is printed).
# BENCH_SEED=N:  the seed of the random order of each round (printed at the top).
set -u
shopt -s extglob

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SMOKE=0 KEEP=0 ROUNDS='' BUILD=${NSFD_BUILD_DIR:-$REPO/build} BUILD2='' PODMAN=''
while (($#)); do
	case $1 in
	--smoke) SMOKE=1; shift ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--compare) BUILD2=$2; shift 2 ;;
	--podman) PODMAN=1; shift ;;
	--no-podman) PODMAN=0; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
BUILD=$(cd "$BUILD" && pwd) || exit 2
BENCH_SEED=${BENCH_SEED:-$((EPOCHSECONDS % 32768))}
RANDOM=$BENCH_SEED
HOOK=$BUILD/hook/nsfdsuds-hook
WRAPPER=$BUILD/runtime/nsfdsuds-runtime
for b in "$HOOK" "$WRAPPER"; do
	[[ -x $b ]] || { echo "bench/run.sh: not built: $b" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "bench/run.sh: needs root" >&2; exit 2; }
if [[ -n $BUILD2 ]]; then
	BUILD2=$(cd "$BUILD2" && pwd) || exit 2
	HOOK2=$BUILD2/hook/nsfdsuds-hook
	# Before the wrapper moved to runtime/, it was built in hook/.
	WRAPPER2=$BUILD2/runtime/nsfdsuds-runtime
	[[ -x $WRAPPER2 ]] || WRAPPER2=$BUILD2/hook/nsfdsuds-runtime
	for b in "$HOOK2" "$WRAPPER2"; do
		[[ -x $b ]] || { echo "bench/run.sh: not built: $b" >&2; exit 2; }
	done
fi
if [[ -z $PODMAN ]]; then
	PODMAN=$((!SMOKE))
	command -v podman >/dev/null || PODMAN=0
fi

if ((SMOKE)); then
	R1=${ROUNDS:-2} R2=${ROUNDS:-1} SCALE=(2 5) CONC=3 RC=1 EXECS=20
else
	R1=${ROUNDS:-30} R2=${ROUNDS:-10} SCALE=(10 100 500) CONC=20 RC=5 EXECS=200
fi
MOUNTS20=12  # 7 runtime mounts + the volume + 12 binds = 20 mounts under the rootfs

# --- the work area and its cleanup -------------------------------------------------

WORK=$(mktemp -d /tmp/nsfd-bench-H.XXXXXX)
chmod 755 "$WORK"
IDP=nsfdH-bench-$$
export NSFD_SUITE_TMP=$WORK/suite NSFD_SUITE_CACHE=$WORK/cache NSFD_BUILD_DIR=$BUILD
# The test harness's bundle, rootfs and crun-wrapper helpers (tests/lib).
source "$REPO/tests/lib/common.bash" || exit 2
RUNC_BIN=$(command -v runc)

cleanup () {
	local id rt
	if [[ -n ${PMS:-} ]]; then
		pm rm --all --force --time 0 >/dev/null 2>&1 || true
		_nsfd_kill_procs_under "$PMS" 2>/dev/null || true
		_nsfd_kill_procs_under "$WORK/podman" 2>/dev/null || true
	fi
	for rt in "$RUNC" "$CRUN"; do
		for id in $($rt list -q 2>/dev/null | grep "^$IDP-"); do
			timeout 20 $rt delete --force "$id" >/dev/null 2>&1 || true
		done
	done
	# Mounters still waiting (only after a failed start) exit when their run dir goes.
	local p
	for p in $(nsfd_mounts_under "$WORK" | awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2-); do
		umount -l "$p" 2>/dev/null || true
	done
	if ((KEEP)); then
		echo "work directory kept: $WORK" >&2
	elif [[ -z $(nsfd_mounts_under "$WORK") ]]; then
		rm -rf --one-file-system "$WORK"
	else
		echo "bench/run.sh: not removing $WORK, still mounted below" >&2
	fi
	if [[ -n ${PMS:-} && -d $PMS ]]; then
		for p in $(nsfd_mounts_under "$PMS" | awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2-); do
			umount -l "$p" 2>/dev/null || true
		done
		[[ -z $(nsfd_mounts_under "$PMS") ]] && rm -rf --one-file-system "$PMS"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -Wall -Wextra -o "$WORK/rusage-exec" "$BENCH_DIR/rusage-exec.c" || exit 2
cc -O2 -Wall -Wextra -o "$WORK/overlay-floor" "$BENCH_DIR/overlay-floor.c" || exit 2
cc -O2 -Wall -Wextra -o "$WORK/null-hook" "$BENCH_DIR/null-hook.c" || exit 2
cc -O2 -Wall -Wextra -o "$WORK/null-wrapper" "$BENCH_DIR/null-wrapper.c" || exit 2
RUSAGE=$WORK/rusage-exec

CFG=$WORK/config.json
mkdir -p "$WORK/vols" "$WORK/run"
cat >"$CFG" <<EOF
{ "allowedVolumePrefixes": ["$WORK/vols"], "runDir": "$WORK/run", "runtimePath": "$RUNC_BIN" }
EOF
chmod 644 "$CFG"
export NSFDSUDS_CONFIG=$CFG NSFDSUDS_RUNTIME=$RUNC_BIN

# newid: a fresh container id in $ID (no subshell: the counter must advance).
SEQ=0 ID=''
newid () { SEQ=$((SEQ + 1)); ID=$IDP-$SEQ; }

# --- bundles -----------------------------------------------------------------------

# mkbundle NAME [nsfd_bundle options]: $WORK/b/NAME, process `true`.
mkbundle () {
	local name=$1
	shift
	nsfd_bundle "$WORK/b/$name" --args true "$@" >/dev/null || {
		echo "bench/run.sh: could not make bundle $name" >&2
		exit 1
	}
}
HOOKS=(--hook createRuntime "$HOOK" --config "$CFG" createRuntime
	--hook createContainer "$HOOK" --config "$CFG" createContainer
	--hook poststop "$HOOK" --config "$CFG" poststop)
# The exec floor: a hook that reads the state and exits (bench/null-hook.c).
NULLHOOK=$WORK/null-hook
NULLHOOKS=(--hook createRuntime "$NULLHOOK" --hook createContainer "$NULLHOOK" --hook poststop "$NULLHOOK")
ACT=(--annotation nsfdsuds.io/persist=/data)
vol () { mkdir -p "$WORK/vols/$1" && printf '%s\n' "$WORK/vols/$1"; }
# binds N: a jq filter adding N bind mounts of small dirs at /m/0 .. /m/N-1.
binds () {
	local n=$1 src=$WORK/src/$1 i
	mkdir -p "$src"
	for ((i = 0; i < n; i++)); do mkdir -p "$src/$i"; done
	printf '.mounts += [range(0; %d) | {destination: "/m/\\(.)", type: "bind", source: "%s/\\(.)", options: ["rbind", "rw"]}]' "$n" "$src"
}

# --- timing ------------------------------------------------------------------------

declare -A T   # T[variant] = "us us us ..." in round order
FAILS=0

# timed VARIANT CMD...: run CMD once, add its wall time (us) to T[VARIANT].
timed () {
	local v=$1 t0 t1 rc
	shift
	t0=${EPOCHREALTIME/./}
	"$@" </dev/null >"$WORK/last.out" 2>&1
	rc=$?
	t1=${EPOCHREALTIME/./}
	if ((rc != 0)); then
		FAILS=$((FAILS + 1))
		echo "bench/run.sh: $v failed (exit $rc):" >&2
		sed 's/^/  /' "$WORK/last.out" | head -20 >&2
		T[$v]+="NA "
		return 1
	fi
	T[$v]+="$(((10#$t1 - 10#$t0))) "
}

runc_run () { newid; "$RUNC" run --bundle "$WORK/b/$1" "$ID"; }
crun_run () { newid; $CRUN run --bundle "$WORK/b/$1" "$ID"; }
wrap_run () { newid; "$WRAPPER" run --bundle "$WORK/b/$1" "$ID"; }
nullwrap_run () { newid; "$WORK/null-wrapper" run --bundle "$WORK/b/$1" "$ID"; }
wrap2_run () { newid; "$WRAPPER2" run --bundle "$WORK/b/$1" "$ID"; }

# rounds N VARIANT=CMD...: N rounds, each running every variant once, in a new
# random order every round. A rotation would keep each variant behind the same one
# in every round, and the order matters (a start right after an active one finds the
# disk still writing back), so one row would always carry its neighbour's cost.
# The order comes from bash's RANDOM, seeded once (BENCH_SEED, printed at the top),
# so a run can be repeated with the same orders.
rounds () {
	local n=$1 r i j t
	shift
	local -a vs=("$@") order
	local m=${#vs[@]}
	for ((r = 0; r < n; r++)); do
		order=("${vs[@]}")
		for ((i = m - 1; i > 0; i--)); do # Fisher-Yates
			j=$((RANDOM % (i + 1)))
			t=${order[i]} order[i]=${order[j]} order[j]=$t
		done
		for ((i = 0; i < m; i++)); do
			timed "${order[i]%%=*}" ${order[i]#*=} || true
		done
	done
}

# median of the numbers given
median () {
	printf '%s\n' "$@" | grep -v NA | sort -n | awk '{ a[NR] = $1 } END {
		if (NR == 0) { print "NA"; exit }
		if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med () { median ${T[$1]}; }
# paired B A: median over rounds of B_i / A_i
paired () {
	local -a a=(${T[$2]}) b=(${T[$1]})
	local i out=()
	for ((i = 0; i < ${#a[@]} && i < ${#b[@]}; i++)); do
		[[ ${a[i]} == NA || ${b[i]} == NA ]] && continue
		out+=("$(awk -v x="${b[i]}" -v y="${a[i]}" 'BEGIN { printf "%.4f", x / y }')")
	done
	((${#out[@]})) && median "${out[@]}" || echo NA
}
ms () { awk -v x="$1" 'BEGIN { if (x == "NA") print "NA"; else printf "%.2f", x / 1000 }'; }
ratio () { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "NA" || y == "NA" || y == 0) print "NA"; else printf "%.3f", x / y }'; }
r3 () { awk -v x="$1" 'BEGIN { if (x == "NA") print "NA"; else printf "%.3f", x }'; }

declare -A LABEL
row_fmt='%-42s %9s  %-42s %6s %6s\n'
header () {
	printf '\n%s\n' "$1"
	printf "$row_fmt" variant "median ms" "compared with" "ratio" "paired"
}
# row VARIANT [BASELINE]
row () {
	local v=$1 b=${2:-} mv
	mv=$(med "$v")
	if [[ -n $b ]]; then
		printf "$row_fmt" "${LABEL[$v]}" "$(ms "$mv")" "${LABEL[$b]}" "$(ratio "$mv" "$(med "$b")")" "$(r3 "$(paired "$v" "$b")")"
	else
		printf "$row_fmt" "${LABEL[$v]}" "$(ms "$mv")" "" "" ""
	fi
}

RUNC_VERSION=$("$RUNC" --version | awk 'NR == 1 { print $3 }')
CRUN_VERSION=$(crun --version | awk 'NR == 1 { print $3 }')
echo "nsfdsuds benchmark$( ((SMOKE)) && echo ' (smoke: tiny sizes, figures meaningless)')"
echo "machine: $(uname -r), $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "runc $RUNC_VERSION, crun $CRUN_VERSION, build $BUILD"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rounds: $R1 (start cost), $R2 (scaling), $RC (concurrency); order seed $BENCH_SEED"
echo "work directory: $WORK (removed at exit), container ids: $IDP-N"

# --- 1. start cost -----------------------------------------------------------------

echo "preparing bundles..." >&2
V1=$(vol v1) V2=$(vol v2) V3=$(vol v3)
mkbundle plain
mkbundle vol --mount "$V1:/data"
mkbundle truehook "${NULLHOOKS[@]}"
mkbundle truevol --mount "$V1:/data" "${NULLHOOKS[@]}"
mkbundle idle "${HOOKS[@]}"
mkbundle active --mount "$V1:/data" "${ACT[@]}" "${HOOKS[@]}"
mkbundle cactive --mount "$V2:/data" "${ACT[@]}" "${HOOKS[@]}"
mkbundle wactive --mount "$V3:/data" "${ACT[@]}"
mkbundle origin --mount "$V1:/data" --hook createContainer "$BENCH_DIR/origin-hook.sh" "$WORK/vols/origin-layer"
EXTRA_RUNC=() EXTRA_CRUN=()
if [[ -n $BUILD2 ]]; then
	HOOKS2=(--hook createRuntime "$HOOK2" --config "$CFG" createRuntime
		--hook createContainer "$HOOK2" --config "$CFG" createContainer
		--hook poststop "$HOOK2" --config "$CFG" poststop)
	mkbundle idle2 "${HOOKS2[@]}"
	mkbundle active2 --mount "$(vol v1b):/data" "${ACT[@]}" "${HOOKS2[@]}"
	mkbundle cactive2 --mount "$(vol v2b):/data" "${ACT[@]}" "${HOOKS2[@]}"
	mkbundle wactive2 --mount "$(vol v3b):/data" "${ACT[@]}"
	EXTRA_RUNC=(runc.idle2="runc_run idle2" runc.active2="runc_run active2"
		wrap.idle2="wrap2_run plain" wrap.active2="wrap2_run wactive2")
	EXTRA_CRUN=(crun.idle2="crun_run idle2" crun.active2="crun_run cactive2")
fi

LABEL=([runc.plain]="runc: plain"
	[runc.vol]="runc: plain + volume bind"
	[runc.true]="runc: null hook x3 (exec floor)"
	[runc.truevol]="runc: null hook x3 + volume bind"
	[runc.idle]="runc: our hook, not annotated"
	[runc.active]="runc: our hook, active"
	[runc.origin]="runc: origin-hook.sh (shell), active"
	[crun.plain]="crun: plain"
	[crun.vol]="crun: plain + volume bind"
	[crun.true]="crun: null hook x3 (exec floor)"
	[crun.truevol]="crun: null hook x3 + volume bind"
	[crun.idle]="crun: our hook, not annotated"
	[crun.active]="crun: our hook, active"
	[wrap.idle]="runc via nsfdsuds-runtime, not activated"
	[wrap.null]="runc via a null wrapper (exec floor)"
	[wrap.active]="runc via nsfdsuds-runtime, active"
	[runc.idle2]="compared build: runc, hook not annotated"
	[runc.active2]="compared build: runc, hook active"
	[crun.idle2]="compared build: crun, hook not annotated"
	[crun.active2]="compared build: crun, hook active"
	[wrap.idle2]="compared build: wrapper, not activated"
	[wrap.active2]="compared build: wrapper, active")

echo "1. start cost: $R1 rounds..." >&2
rounds "$R1" runc.plain="runc_run plain" runc.vol="runc_run vol" runc.true="runc_run truehook" \
	runc.truevol="runc_run truevol" \
	runc.idle="runc_run idle" runc.active="runc_run active" runc.origin="runc_run origin" \
	wrap.idle="wrap_run plain" wrap.active="wrap_run wactive" wrap.null="nullwrap_run plain" \
	"${EXTRA_RUNC[@]}"
rounds "$R1" crun.plain="crun_run plain" crun.vol="crun_run vol" crun.true="crun_run truehook" \
	crun.truevol="crun_run truevol" \
	crun.idle="crun_run idle" crun.active="crun_run cactive" "${EXTRA_CRUN[@]}"

header "1. Start cost: \`run\` of a busybox \`true\` container to its deletion ($R1 rounds)"
row runc.plain
row runc.vol runc.plain
row runc.true runc.plain
row runc.idle runc.true
row runc.truevol runc.vol
row runc.active runc.vol
row runc.active runc.truevol
row runc.origin runc.vol
row runc.active runc.origin
row crun.plain
row crun.vol crun.plain
row crun.true crun.plain
row crun.idle crun.true
row crun.truevol crun.vol
row crun.active crun.vol
row crun.active crun.truevol
row wrap.null runc.plain
row wrap.idle runc.plain
row wrap.idle wrap.null
row wrap.active runc.vol
row wrap.active runc.active
if [[ -n $BUILD2 ]]; then
	header "1b. This build against the build in $BUILD2 (same rounds)"
	row runc.idle2 runc.true
	row runc.idle runc.idle2
	row runc.active2 runc.vol
	row runc.active runc.active2
	row crun.idle2 crun.true
	row crun.idle crun.idle2
	row crun.active2 crun.vol
	row crun.active crun.active2
	row wrap.idle2 runc.plain
	row wrap.idle wrap.idle2
	row wrap.active2 runc.vol
	row wrap.active wrap.active2
fi

# The hook's exec cost alone: EXECS execs of the idle hook (state on stdin, not
# annotated) against /bin/true, in alternating blocks of 10.
printf '{"ociVersion":"1.0.2","id":"%s-x","status":"creating","pid":1,"bundle":"%s","annotations":{}}' \
	"$IDP" "$WORK/b/plain" >"$WORK/state.json"
execs () {
	local i
	for ((i = 0; i < 10; i++)); do "$@" <"$WORK/state.json" >/dev/null || return 1; done
}
LABEL[x.true]="exec /bin/true (per exec)"
LABEL[x.idle]="exec our hook, not annotated (per exec)"
rounds $((EXECS / 10)) x.true="execs /bin/true" x.idle="execs $HOOK --config $CFG createRuntime"
for v in x.true x.idle; do T[$v]=$(for t in ${T[$v]}; do [[ $t == NA ]] && echo NA || echo $((t / 10)); done | tr '\n' ' '); done
row x.true
row x.idle x.true
printf 'idle hook cost per start (3 stages) above the null-hook floor: %s ms\n' \
	"$(awk -v a="$(med x.idle)" -v b="$(med x.true)" 'BEGIN { printf "%.2f", 3 * (a - b) / 1000 }')"

# The kernel's share of an active start: mount + unmount of the same overlay (the
# unmount syncs the upper filesystem), no code of ours.
L1=$V1/.nsfdsuds/default
mkdir -p "$WORK/floor"
"$WORK/overlay-floor" "$WORK/b/active/rootfs" "$L1/upper" "$L1/work" "$WORK/floor" $((SMOKE ? 2 : R1)) >"$WORK/floor.txt" ||
	echo "bench/run.sh: overlay-floor failed" >&2
FM=$(median $(awk '{ print $1 }' "$WORK/floor.txt")) FU=$(median $(awk '{ print $2 }' "$WORK/floor.txt"))
printf 'kernel floor of an active start (overlay mount + unmount, no nsfdsuds code): %s + %s ms\n' "$(ms "$FM")" "$(ms "$FU")"
# The same with a volatile overlay (no sync of the upper filesystem at unmount): what
# giving up durability would save.  On a scratch layer: volatile marks its work dir.
mkdir -p "$WORK/floorv/upper" "$WORK/floorv/work"
"$WORK/overlay-floor" "$WORK/b/active/rootfs" "$WORK/floorv/upper" "$WORK/floorv/work" "$WORK/floor" $((SMOKE ? 2 : R1)) volatile \
	>"$WORK/floorv.txt" || echo "bench/run.sh: overlay-floor volatile failed" >&2
printf 'the same overlay mounted volatile (no sync at unmount, not durable): %s + %s ms\n' \
	"$(ms "$(median $(awk '{ print $1 }' "$WORK/floorv.txt"))")" "$(ms "$(median $(awk '{ print $2 }' "$WORK/floorv.txt"))")"
printf 'runc active - plain+volume (median of per-round differences): %s ms\n' "$(ms "$(
	a=(${T[runc.active]}) p=(${T[runc.vol]}) d=()
	for ((i = 0; i < ${#a[@]}; i++)); do [[ ${a[i]} == NA || ${p[i]} == NA ]] || d+=($((a[i] - p[i]))); done
	median "${d[@]}")")"

# --- 2. scaling with the number of mounts ------------------------------------------

echo "2. scaling: $R2 rounds of ${SCALE[*]} and $MOUNTS20 extra mounts..." >&2
declare -a SV=()
for n in "$MOUNTS20" "${SCALE[@]}"; do
	v=$(vol "s$n")
	f=$(binds "$n")
	mkbundle "splain$n" --mount "$v:/data" --jq "$f"
	mkbundle "sactive$n" --mount "$v:/data" "${ACT[@]}" "${HOOKS[@]}" --jq "$f"
	LABEL[s.plain$n]="runc: plain, $n extra binds"
	LABEL[s.active$n]="runc: our hook active, $n extra binds"
	SV+=(s.plain$n="runc_run splain$n" s.active$n="runc_run sactive$n")
done
rounds "$R2" "${SV[@]}"

header "2. Scaling: the volume plus N bind mounts at /m/0..N-1 ($R2 rounds)"
for n in "$MOUNTS20" "${SCALE[@]}"; do
	row "s.plain$n"
	row "s.active$n" "s.plain$n"
done
# Linear fit of the hook's added time against N: per round active - plain, the
# median of those per N, then least squares over the medians.
echo
fit=''
for n in "${SCALE[@]}"; do
	a=(${T[s.active$n]}) p=(${T[s.plain$n]}) d=()
	for ((i = 0; i < ${#a[@]}; i++)); do
		[[ ${a[i]} == NA || ${p[i]} == NA ]] && continue
		d+=($((a[i] - p[i])))
	done
	((${#d[@]})) && fit+="$n $(median "${d[@]}")"$'\n'
done
FIT_OUT=$(printf '%s' "$fit" | awk '
	{ n[NR] = $1; m[NR] = $2; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
	END {
		N = NR
		if (N < 2) { print "fit: not enough points"; exit }
		b = (N * sxy - sx * sy) / (N * sxx - sx * sx); a = (sy - b * sx) / N
		print "Hook time added (median of active - plain per round) against N extra mounts:"
		for (i = 1; i <= N; i++)
			printf "  N=%-4d added %8.2f ms   linear fit %8.2f ms   residual %+7.2f ms\n", n[i], m[i] / 1000, (a + b * n[i]) / 1000, (m[i] - a - b * n[i]) / 1000
		printf "  linear fit: %.1f us per extra mount, intercept %.2f ms\n", b, a / 1000
		for (i = 2; i <= N; i++)
			printf "  slope N=%d..%d: %.1f us per mount\n", n[i - 1], n[i], (m[i] - m[i - 1]) / (n[i] - n[i - 1])
	}')
printf '%s\n' "$FIT_OUT"
SLOPE=$(sed -n 's/^  linear fit: \(-\{0,1\}[0-9.]*\) us per extra mount.*/\1/p' <<<"$FIT_OUT")

# --- 3. concurrency ----------------------------------------------------------------

echo "3. concurrency: $CONC containers at once, $RC rounds..." >&2
for ((i = 0; i < CONC; i++)); do
	mkbundle "conc$i" --mount "$(vol "c$i"):/data" "${ACT[@]}" "${HOOKS[@]}"
done
# burst KIND: start CONC containers at once (each `runc run` to deletion), wait for all.
burst () {
	local kind=$1 i rc=0
	local -a pids=()
	for ((i = 0; i < CONC; i++)); do
		newid
		if [[ $kind == active ]]; then
			"$RUNC" run --bundle "$WORK/b/conc$i" "$ID" </dev/null >"$WORK/conc$i.out" 2>&1 &
		elif [[ $kind == true ]]; then
			"$RUNC" run --bundle "$WORK/b/truevol" "$ID" </dev/null >"$WORK/conc$i.out" 2>&1 &
		else
			"$RUNC" run --bundle "$WORK/b/vol" "$ID" </dev/null >"$WORK/conc$i.out" 2>&1 &
		fi
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		if ! wait "${pids[i]}"; then
			rc=1
			echo "bench/run.sh: concurrent $kind container $i failed:" >&2
			sed 's/^/  /' "$WORK/conc$i.out" | head -5 >&2
		fi
	done
	return $rc
}
LABEL[c.plain]="runc: $CONC plain at once (wall)"
LABEL[c.active]="runc: $CONC active at once (wall)"
LABEL[c.true]="runc: $CONC with null hooks at once (wall)"
rounds "$RC" c.plain="burst plain" c.active="burst active" c.true="burst true"
header "3. Concurrency: $CONC containers started at once on $(nproc) cores ($RC rounds)"
row c.plain
row c.true c.plain
row c.active c.plain
row c.active c.true
nfail=$(grep -o NA <<<"${T[c.active]}" | wc -l)
echo "active bursts with a failed container: $nfail of $RC"

# --- 4. memory and size ------------------------------------------------------------

echo "4. peak RSS and sizes..." >&2
RSS=$WORK/rss.txt
: >"$RSS"
V4=$(vol rss)
mkbundle rss --mount "$V4:/data" "${ACT[@]}" \
	--hook createRuntime "$RUSAGE" "$RSS" createRuntime "$HOOK" --config "$CFG" createRuntime \
	--hook createContainer "$RUSAGE" "$RSS" createContainer "$HOOK" --config "$CFG" createContainer \
	--hook poststop "$RUSAGE" "$RSS" poststop "$HOOK" --config "$CFG" poststop
mkbundle rssidle --hook createRuntime "$RUSAGE" "$RSS" idle "$HOOK" --config "$CFG" createRuntime
mkbundle wsleep --mount "$(vol wsleep):/data" "${ACT[@]}" --args "sleep 0.5"
for ((i = 0; i < (SMOKE ? 1 : 3); i++)); do
	newid
	"$RUNC" run --bundle "$WORK/b/rss" "$ID" </dev/null >/dev/null 2>&1 || echo "bench/run.sh: rss run failed" >&2
	newid
	"$RUNC" run --bundle "$WORK/b/rssidle" "$ID" </dev/null >/dev/null 2>&1 || echo "bench/run.sh: rss idle run failed" >&2
	# The wrapper waits for the runtime, so wait4 would report runc's RSS too: read
	# the wrapper's own high-water mark while the container sleeps.
	newid
	"$WRAPPER" run --bundle "$WORK/b/wsleep" "$ID" </dev/null >/dev/null 2>&1 &
	wp=$! hwm=0
	while kill -0 "$wp" 2>/dev/null; do
		h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$wp/status" 2>/dev/null)
		[[ -n $h ]] && ((h > hwm)) && hwm=$h
		sleep 0.05
	done
	wait "$wp" || echo "bench/run.sh: wrapper rss run failed" >&2
	echo "wrapper main $wp $hwm" >>"$RSS"
done
# The mounter's line arrives when it exits; bounded wait for it.
for ((i = 0; i < 100; i++)); do
	(($(grep -c '^createRuntime descendant' "$RSS") >= (SMOKE ? 1 : 3))) && break
	sleep 0.1
done
printf '\n4. Peak RSS (max over runs, KiB; wait4 ru_maxrss, the wrapper: VmHWM)\n'
printf '%-52s %8s\n' process "peak KiB"
rss_row () {
	local what=$1 label=$2 v
	v=$(awk -v w="$what" '$1 " " $2 == w { if ($4 > m) m = $4 } END { print m + 0 }' "$RSS")
	printf '%-52s %8s\n' "$label" "$v"
}
rss_row "idle main" "hook createRuntime, not annotated"
rss_row "createRuntime main" "hook createRuntime, active"
rss_row "createRuntime descendant" "mounter (incl. its mount worker)"
rss_row "createContainer main" "hook createContainer (the agent)"
rss_row "poststop main" "hook poststop"
rss_row "wrapper main" "nsfdsuds-runtime run (own, not runc's)"
printf '%-52s %8s\n' "for scale: /bin/true" \
	"$("$RUSAGE" "$WORK/true.txt" t /bin/true; sleep 0.1; awk '{ print $4 }' "$WORK/true.txt")"

PREFIX=$WORK/prefix
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null 2>&1 || echo "bench/run.sh: cmake --install failed" >&2
printf '\nInstalled binaries (cmake --install into a temp prefix; bytes)\n'
printf '%-40s %10s %10s\n' binary installed stripped
while IFS= read -r f; do
	cp "$f" "$WORK/stripped.tmp" && strip "$WORK/stripped.tmp"
	printf '%-40s %10s %10s\n' "${f#"$PREFIX"/}" "$(stat -c %s "$f")" "$(stat -c %s "$WORK/stripped.tmp")"
done < <(find "$PREFIX" -type f -perm -u+x | sort)
printf 'shared libraries the hook loads: %s\n' "$(ldd "$HOOK" | awk '$3 ~ /^\// { printf "%s ", $1 }')"

# --- 5. podman: the native alternatives ---------------------------------------------

if ((PODMAN)); then
	echo "5. podman: $R1 rounds..." >&2
	source "$REPO/tests/lib/engines.bash" || exit 2
	PMD=$WORK/podman
	mkdir -p "$PMD"/{storage,hooks.d}
	# conmon's socket paths must stay under 108 bytes: runroot and tmpdir short, in /tmp.
	PMS=$(mktemp -d /tmp/nsfdpm.XXXXXX)
	mkdir -p "$PMS"/{runroot,tmp}
	cat >"$PMD/containers.conf" <<-EOF
	[containers]
	default_ulimits = []
	[engine]
	cgroup_manager = "cgroupfs"
	events_logger = "file"
	events_logfile_path = "$PMD/events.log"
	EOF
	cat >"$PMD/storage.conf" <<-EOF
	[storage]
	driver = "vfs"
	runroot = "$PMS/runroot"
	graphroot = "$PMD/storage"
	EOF
	pm () {
		CONTAINERS_CONF=$PMD/containers.conf CONTAINERS_STORAGE_CONF=$PMD/storage.conf \
			podman --tmpdir "$PMS/tmp" --hooks-dir "$PMD/hooks.d" --runtime "$RUNC_BIN" "$@"
	}
	# The shipped hooks.d files (only annotated containers get the hook), pointed at
	# this build and the benchmark's config.
	NSFD_HOOK_BIN=$HOOK nsfd_engine_hooksd "$BUILD/config/hooks.d" "$PMD/hooks.d" "$CFG" || exit 2
	pm import "$(nsfd_busybox_tar)" nsfd-bench-busybox >/dev/null 2>&1 || { echo "bench/run.sh: podman import failed" >&2; exit 1; }
	P5=$(vol p5) P6=$(vol p6) P7=$(vol p7)
	mkdir -p "$P7/upper" "$P7/work" "$WORK/pmlower"
	PMRUN=(run --rm --network none)
	IMG=nsfd-bench-busybox
	LABEL[pm.vol]="podman: plain + volume bind"
	LABEL[pm.active]="podman: our hook, active"
	LABEL[pm.rootfs]="podman: --rootfs DIR:O (volatile root)"
	LABEL[pm.ovlvol]="podman: -v DIR:/data:O,upperdir=,workdir="
	rounds "$R1" pm.vol="pm ${PMRUN[*]} -v $P5:/data $IMG true" \
		pm.active="pm ${PMRUN[*]} --annotation nsfdsuds.io/persist=/data -v $P6:/data $IMG true" \
		pm.rootfs="pm ${PMRUN[*]} --rootfs $WORK/b/plain/rootfs:O true" \
		pm.ovlvol="pm ${PMRUN[*]} -v $WORK/pmlower:/data:O,upperdir=$P7/upper,workdir=$P7/work $IMG true"
	header "5. podman $(podman --version | awk '{ print $3 }') --runtime runc: the native alternatives ($R1 rounds)"
	row pm.vol
	row pm.active pm.vol
	row pm.rootfs pm.vol
	row pm.ovlvol pm.vol
	row pm.active pm.rootfs
	row pm.active pm.ovlvol
	echo "(--rootfs DIR:O: a throw-away upper, nothing persists; :O,upperdir=: a persistent overlay of one directory, not of the root)"
fi

# --- targets -----------------------------------------------------------------------

# target NAME FIGURE LIMIT: one line, "met" when FIGURE <= LIMIT.
target () {
	awk -v n="$1" -v x="$2" -v l="$3" 'BEGIN {
		if (x == "NA" || x == "") { printf "%-58s %8s  limit %-7s %s\n", n, "NA", l, "not measured"; exit }
		printf "%-58s %8.3f  limit %-7s %s\n", n, x, l, (x + 0 <= l + 0) ? "met" : "NOT MET" }'
}
# floor NAME VALUE LIMIT [WHAT]: what the runtime alone costs for the same row (no
# code of ours), under a target; when it is above the limit no WHAT (default: hook)
# can meet the target.
floor () {
	awk -v n="$1" -v x="$2" -v l="$3" -v w="${4:-hook}" 'BEGIN {
		if (x == "NA" || x == "") { printf "  floor: %-49s %8s\n", n, "NA"; exit }
		printf "  floor: %-49s %8.3f  %s\n", n, x, (x + 0 > l + 0) ? "above the limit: no " w " can meet it" : "" }'
}
printf '\nTargets (paired medians of this run)\n'
target "runc hook mode: active / plain + volume (the headline)" "$(paired runc.active runc.vol)" 1.15
floor "a null hook at the three stages, same bundle" "$(paired runc.truevol runc.vol)" 1.15
target "crun hook mode: active / plain + volume" "$(paired crun.active crun.vol)" 1.25
floor "a null hook at the three stages, same bundle" "$(paired crun.truevol crun.vol)" 1.25
target "wrapper: active / plain + volume" "$(paired wrap.active runc.vol)" 1.05
floor "a wrapper that only execs runc" "$(paired wrap.null runc.plain)" 1.05 wrapper
target "wrapper: not activated / plain" "$(paired wrap.idle runc.plain)" 1.02
floor "a wrapper that only execs runc" "$(paired wrap.null runc.plain)" 1.02 wrapper
target "idle hook start / null hook start (runc)" "$(paired runc.idle runc.true)" 1.02
target "idle hook exec / /bin/true exec" "$(paired x.idle x.true)" 1.02
target "per extra mount, linear fit, us" "${SLOPE:-NA}" 15
target "$CONC active at once / $CONC plain (wall)" "$(paired c.active c.plain)" 1.15
floor "$CONC with null hooks at once" "$(paired c.true c.plain)" 1.15
target "peak RSS of our processes, MiB (max)" "$(awk '$1 != "t" { if ($4 > m) m = $4 } END { printf "%.3f", m / 1024 }' "$RSS")" 2
printf 'active bursts with a failed container: %s of %s (target: none)\n' "$nfail" "$RC"

echo
if ((FAILS)); then
	echo "runs failed: $FAILS"
else
	echo "all runs succeeded"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
((FAILS == 0))
