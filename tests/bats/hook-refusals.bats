#!/usr/bin/env bats
# Hook mode, what must not happen: containers that are not activated are left exactly
# as they are; bad annotations and runtimes the hook cannot serve make the container
# fail before its process runs (fail closed), with the reason in the runtime's error
# and in the system log; nothing is left behind (volume, mounts, runtime dir, mounter);
# a mounter whose container never reaches createContainer is stopped by poststop or
# gives up after mounterLifetimeSeconds.

load ../lib/common
load ../lib/hook

setup () {
	nsfd_hook_setup
}

# --- d. not activated -----------------------------------------------------------------

# RUNTIME [annotations...]: the hook is registered at every stage, the container has a
# volume in an allowed place, but it is not activated: it runs on its own rootfs, the
# volume gets nothing, the rootfs is unchanged.
_untouched () {
	local rt=$1 b vol cfg id snap before after a
	shift
	local -a ann=()
	for a; do ann+=(--annotation "$a"); done
	cfg=$(nsfd_hook_config)
	vol=$(nsfd_hook_volume)
	b=$(nsfd_tmpdir bundle)
	nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" "${ann[@]}" \
		--args "sh -c 'echo ran; stat -f -c %t /; ls -A /data | wc -l'"
	mkdir -p "$b/rootfs/data"
	before=$(nsfd_tree_digest "$b/rootfs")
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id "untouched-$rt")
	nsfd_run_container "$rt" "$b" "$id"
	echo "status $status"; echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = ran ]
	[ "${lines[1]}" != 794c7630 ]  # not an overlay
	[ "${lines[2]}" = 0 ]          # the (empty) volume is mounted as is
	[ -z "$(ls -A "$vol")" ]
	after=$(nsfd_tree_digest "$b/rootfs")
	diff <(echo "$before") <(echo "$after")
	nsfd_delete "$rt" "$id" || true
	nsfd_hook_assert_clean "$id" "$snap"
}

@test "hook refusals: a container without the annotation is untouched (runc)" {
	_untouched runc
}

@test "hook refusals: a container without the annotation is untouched (crun)" {
	_untouched crun
}

@test "hook refusals: a sandbox container with nsfdsuds.io/persist is untouched (runc)" {
	_untouched runc io.kubernetes.cri.container-type=sandbox nsfdsuds.io/persist=/data
}

@test "hook refusals: a sandbox container with nsfdsuds.io/persist is untouched (crun)" {
	_untouched crun io.kubernetes.cri.container-type=sandbox nsfdsuds.io/persist=/data
}

# --- e, h. bad annotations --------------------------------------------------------------

# _refused RUNTIME CASE: one bad-annotation case. Sets `expect` (a fixed string the
# error must contain) and runs the container; the marker command must not run; the
# volume gets nothing; the host is clean. runc's error output must name the problem;
# the system log must too (for crun it is the only place).
_refused () {
	local rt=$1 case=$2 b vol src cfg id snap marker
	local -a extra=()
	cfg=$(nsfd_hook_config)
	vol=$(nsfd_hook_volume)
	src=$vol
	marker=$(nsfd_tmpdir marker)
	case $case in
	not-a-mount)
		extra=(--annotation nsfdsuds.io/persist=/nothere)
		expect='names "/nothere", but this container has no mount there' ;;
	relative)
		extra=(--annotation nsfdsuds.io/persist=data)
		expect='is a relative path' ;;
	dotdot)
		extra=(--annotation nsfdsuds.io/persist=/data/../data)
		expect='contains a ".." component' ;;
	outside)
		src=$(nsfd_tmpdir outside/vol)
		extra=(--annotation nsfdsuds.io/persist=/data)
		expect='is outside the allowed volume prefixes' ;;
	unknown-key)
		extra=(--annotation nsfdsuds.io/persist=/data --annotation nsfdsuds.io/persits=/data)
		expect='unknown key under "nsfdsuds.io/"' ;;
	esac
	b=$(nsfd_tmpdir "bundle-$case")
	nsfd_hook_bundle "$b" "$cfg" --mount "$src:/data" --mount "$marker:/marker" "${extra[@]}" \
		--args "sh -c 'touch /marker/ran; echo MARKER-RAN'"
	snap=$(nsfd_tmpdir .snap)/before-$case
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id "$case-$rt")
	nsfd_run_container "$rt" "$b" "$id"
	echo "$case: status $status"; echo "$output"
	[ "$status" -ne 0 ]
	[[ $output != *MARKER-RAN* ]]
	[ ! -e "$marker/ran" ]
	if [[ $rt == runc ]]; then
		# runc quotes the hook's stderr in its error: compare without the backslashes.
		[[ ${output//\\\"/\"} == *"$expect"* ]] || { echo "runc's error does not say: $expect"; return 1; }
	fi
	nsfd_syslog_wait "container $id: .*${expect//./\\.}" 5
	[ -z "$(ls -A "$vol")" ]
	[ -z "$(ls -A "$src")" ]
	nsfd_delete "$rt" "$id" || true
	nsfd_hook_assert_clean "$id" "$snap"
}

_all_refusals () {
	local rt=$1 c
	nsfd_syslog_start
	for c in not-a-mount relative dotdot outside unknown-key; do
		_refused "$rt" "$c"
	done
	echo "system log:"; cat "$(nsfd_syslog_file)"
}

@test "hook refusals: bad annotations stop the container, runc says why, syslog too (runc)" {
	_all_refusals runc
}

@test "hook refusals: bad annotations stop the container, the reason is in syslog (crun)" {
	_all_refusals crun
}

# The hook's own refusal text also reaches crun's caller when the pod asks for it.
@test "hook refusals: crun shows the reason with run.oci.hooks.stderr" {
	local b vol cfg id errf
	cfg=$(nsfd_hook_config)
	vol=$(nsfd_hook_volume)
	errf=$(nsfd_tmpdir)/hook-stderr
	: >"$errf"
	b=$(nsfd_tmpdir bundle)
	nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/nothere \
		--annotation "run.oci.hooks.stderr=$errf" --args "echo MARKER-RAN"
	id=$(nsfd_unique_id stderr-crun)
	nsfd_run_container crun "$b" "$id"
	echo "status $status"; echo "$output"; cat "$errf"
	[ "$status" -ne 0 ]
	[[ $output != *MARKER-RAN* ]]
	grep -qF "container $id: createRuntime: " "$errf"
	grep -qF 'names "/nothere", but this container has no mount there' "$errf"
}

# --- g. runc with a pre-opened root ---------------------------------------------------

@test "hook refusals: runc that pivots into a pre-opened root refuses and names nsfdsuds-runtime" {
	if ! nsfd_runc_preopens_root; then
		skip "runc $NSFD_RUNC_VERSION pivots by path; the hook works there"
	fi
	local b vol cfg id snap marker
	nsfd_syslog_start
	cfg=$(nsfd_hook_config)
	vol=$(nsfd_hook_volume)
	marker=$(nsfd_tmpdir marker)
	b=$(nsfd_tmpdir bundle)
	nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" --mount "$marker:/marker" \
		--annotation nsfdsuds.io/persist=/data --args "sh -c 'touch /marker/ran; echo MARKER-RAN'"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id preopen)
	nsfd_run_container runc "$b" "$id"
	echo "status $status"; echo "$output"
	[ "$status" -ne 0 ]
	[[ $output != *MARKER-RAN* ]]
	[ ! -e "$marker/ran" ]
	[[ $output == *"createContainer"* ]]
	[[ $output == *"Use the runtime wrapper nsfdsuds-runtime"* ]]
	nsfd_syslog_wait "container $id: .*nsfdsuds-runtime"
	nsfd_delete runc "$id" || true
	nsfd_hook_assert_clean "$id" "$snap"
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
	# The layer was never mounted: nothing was written into it.
	[ -z "$(ls -A "$vol/.nsfdsuds/default/upper")" ]
}

# --- i. a mounter whose container never reaches createContainer -------------------------

# The bundle lacks the createContainer stage, so the mounter prepared at createRuntime
# waits. RUNTIME MODE: MODE delete = poststop (runtime delete) stops it; timeout = it
# gives up after mounterLifetimeSeconds on its own.
_waiting_mounter () {
	local rt=$1 mode=$2 b vol cfg id snap cmd layer rec mpid
	cmd=$(nsfd_runtime_cmd "$rt")
	if [[ $mode == timeout ]]; then
		nsfd_syslog_start
		cfg=$(nsfd_hook_config '.mounterLifetimeSeconds = 2')
	else
		cfg=$(nsfd_hook_config)
	fi
	vol=$(nsfd_hook_volume)
	layer=$vol/.nsfdsuds/default
	b=$(nsfd_tmpdir bundle)
	nsfd_hook_bundle "$b" "$cfg" --without createContainer --mount "$vol:/data" \
		--annotation nsfdsuds.io/persist=/data --args "echo MARKER-RAN"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id "waiting-$mode-$rt")
	nsfd_track_container "$rt" "$id"
	timeout -k 5 30 $cmd create --bundle "$b" "$id" </dev/null >/dev/null 2>&1 3>&-
	nsfd_wait_state "$rt" "$id" created

	# The mounter waits on its socket and holds the layer for the container.
	rec=$NSFD_HOOK_RUNDIR/$id/record
	[ -S "$NSFD_HOOK_RUNDIR/$id/socket" ]
	mpid=$(jq -r .mounterPid "$rec")
	[ "$mpid" -gt 1 ]
	[ "$(readlink "/proc/$mpid/exe")" = "$NSFD_HOOK_BIN" ]
	[ "$(nsfd_mounter_pids)" = "$mpid" ]
	[ "$(jq -r .container "$layer/holder.json")" = "$id" ]

	if [[ $mode == timeout ]]; then
		nsfd_wait_gone "$mpid" 10
		nsfd_syslog_wait "container $id: the container did not reach createContainer within 2 s"
		[ ! -e "$NSFD_HOOK_RUNDIR/$id" ]
		[ ! -e "$layer/holder.json" ]
	fi
	nsfd_delete "$rt" "$id"
	nsfd_wait_gone "$mpid" 5
	[ ! -e "$NSFD_HOOK_RUNDIR/$id" ]
	[ ! -e "$layer/holder.json" ]
	[ -z "$(ls -A "$layer/upper")" ]
	nsfd_hook_assert_clean "$id" "$snap"
}

@test "hook refusals: poststop stops a mounter still waiting for createContainer (runc)" {
	_waiting_mounter runc delete
}

@test "hook refusals: poststop stops a mounter still waiting for createContainer (crun)" {
	_waiting_mounter crun delete
}

@test "hook refusals: a waiting mounter gives up after mounterLifetimeSeconds (runc)" {
	_waiting_mounter runc timeout
}

@test "hook refusals: a waiting mounter gives up after mounterLifetimeSeconds (crun)" {
	_waiting_mounter crun timeout
}
