#!/usr/bin/env bats
# Proves the fixtures in tests/lib against the real runtimes (runc and crun; on the host
# and, via tests/sid/run-sid-suite.sh, with runc 1.3.6 and crun 1.28 in the sid tree).

load ../lib/common

setup () {
	nsfd_skip_unless_root
}

@test "harness: runc runs a busybox bundle and its output comes back" {
	local b
	b=$(nsfd_tmpdir bundle)
	nsfd_bundle "$b" --args "sh -c 'echo hello from runc; echo err >&2; exit 3'"
	nsfd_run_container runc "$b" "$(nsfd_unique_id runc)"
	echo "$output"
	[ "$status" -eq 3 ]
	[ "${lines[0]}" = "hello from runc" ]
	[ "$nsfd_stderr" = "err" ]
}

@test "harness: crun runs a busybox bundle and its output comes back" {
	local b
	b=$(nsfd_tmpdir bundle)
	nsfd_bundle "$b" --args "sh -c 'echo hello from crun; exit 0'"
	nsfd_run_container crun "$b" "$(nsfd_unique_id crun)"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from crun" ]
}

@test "harness: the runtime versions are known" {
	echo "suite=$NSFD_SUITE runc=$NSFD_RUNC_VERSION crun=$NSFD_CRUN_VERSION"
	[[ $NSFD_RUNC_VERSION =~ ^[0-9]+\.[0-9]+ ]]
	[[ $NSFD_CRUN_VERSION =~ ^[0-9]+\.[0-9]+ ]]
	if [[ $NSFD_SUITE == sid ]]; then
		nsfd_runc_preopens_root
	fi
}

_userns_id () {
	local rt=$1 b
	b=$(nsfd_tmpdir "bundle-$rt")
	nsfd_bundle "$b" --userns --args "sh -c 'id; cat /proc/self/uid_map; touch /root/w && echo wrote'"
	[ "$(stat -c %u "$b/rootfs/bin")" -eq 100000 ]
	nsfd_run_container "$rt" "$b" "$(nsfd_unique_id "userns-$rt")"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "uid=0(root) gid=0(root)"* ]]
	[[ ${lines[1]} =~ ^\ +0\ +100000\ +65536$ ]]
	[ "${lines[2]}" = wrote ]
}

@test "harness: a userns bundle runs as root inside (runc)" {
	_userns_id runc
}

@test "harness: a userns bundle runs as root inside (crun)" {
	_userns_id crun
}

# Each kubelet mount is in the container with its ro/rw flag; the rslave one has a master.
_kubelet_mounts () {
	local rt=$1 userns=${2:-} b h dst mode prop kind line opts
	b=$(nsfd_tmpdir "bundle-$rt")
	h=$(nsfd_tmpdir "kubelet-$rt")
	nsfd_bundle "$b" $userns --kubelet-mounts "$h" --args "cat /proc/self/mountinfo"
	nsfd_run_container "$rt" "$b" "$(nsfd_unique_id "kubelet-$rt")"
	echo "$output"
	[ "$status" -eq 0 ]
	while read -r dst mode prop kind; do
		line=$(awk -v d="$dst" '$5 == d' <<<"$output" | tail -n1)
		[ -n "$line" ] || { echo "missing: $dst"; return 1; }
		opts=$(awk '{ print $6 }' <<<"$line")
		[[ $opts == "$mode" || $opts == "$mode",* ]] || { echo "$dst: want $mode, got $opts"; return 1; }
		if [[ $prop == rslave ]]; then
			[[ $line == *" master:"* ]] || { echo "$dst: not a slave: $line"; return 1; }
		else
			[[ $line != *" master:"* && $line != *" shared:"* ]] || { echo "$dst: not private: $line"; return 1; }
		fi
	done < <(nsfd_kubelet_mount_list)
	# The service-account volume is a tmpfs, as the kubelet's projected volumes are.
	grep -q ' /var/run/secrets/kubernetes.io/serviceaccount .* - tmpfs ' <<<"$output"
}

@test "harness: kubelet-like mounts have the right ro/rw flags (runc)" {
	_kubelet_mounts runc
}

@test "harness: kubelet-like mounts have the right ro/rw flags (crun)" {
	_kubelet_mounts crun
}

@test "harness: kubelet-like mounts in a userns bundle (runc)" {
	_kubelet_mounts runc --userns
}

@test "harness: options reach config.json (annotation, mount, tmpfs, hook, env, readonly)" {
	local b src
	b=$(nsfd_tmpdir bundle)
	src=$(nsfd_tmpdir src)
	nsfd_bundle "$b" --readonly-rootfs --annotation nsfdsuds.io/persist=/data --annotation a.b/c=x=y \
		--mount "$src:/data:ro,rslave" --tmpfs /scratch:size=1m --env FOO=bar \
		--hook createRuntime /bin/true one two --hook-env K=V --hook-timeout 7 \
		--hook poststop /bin/false --jq '.hostname = "h1"'
	local c=$b/config.json
	[ "$(jq -r '.annotations["nsfdsuds.io/persist"]' "$c")" = /data ]
	[ "$(jq -r '.annotations["a.b/c"]' "$c")" = x=y ]
	[ "$(jq -c '.mounts[] | select(.destination == "/data") | .options' "$c")" = '["rbind","ro","rslave"]' ]
	[ "$(jq -r '.mounts[] | select(.destination == "/scratch") | .type' "$c")" = tmpfs ]
	[ "$(jq -c '.hooks.createRuntime[0]' "$c")" = '{"path":"/bin/true","args":["/bin/true","one","two"],"env":["K=V"],"timeout":7}' ]
	[ "$(jq -c '.hooks.poststop[0].args' "$c")" = '["/bin/false"]' ]
	[ "$(jq -r '.root.readonly' "$c")" = true ]
	[ "$(jq -r '.process.terminal' "$c")" = false ]
	[ "$(jq -r '.hostname' "$c")" = h1 ]
	jq -e '.process.env | index("FOO=bar")' "$c"
	jq -e 'has("nsfdLastHook") | not' "$c"
}

# Hooks reference binaries by absolute path; a createRuntime hook sees the OCI state.
_hook_runs () {
	local rt=$1 b d
	b=$(nsfd_tmpdir "bundle-$rt")
	d=$(nsfd_tmpdir "hookout-$rt")
	cat >"$d/hook.sh" <<-HOOK
	#!/bin/sh
	cat > "$d/\$1.state"
	HOOK
	chmod +x "$d/hook.sh"
	nsfd_bundle "$b" --args "true" --annotation nsfdsuds.io/test=1 \
		--hook createRuntime "$d/hook.sh" createRuntime --hook poststop "$d/hook.sh" poststop
	local id
	id=$(nsfd_unique_id "hook-$rt")
	nsfd_run_container "$rt" "$b" "$id"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r .id "$d/createRuntime.state")" = "$id" ]
	[ "$(jq -r '.annotations["nsfdsuds.io/test"]' "$d/createRuntime.state")" = 1 ]
	[ "$(jq -r .pid "$d/createRuntime.state")" -gt 1 ]
	[ -f "$d/poststop.state" ]
}

@test "harness: hooks run with the OCI state (runc)" {
	_hook_runs runc
}

@test "harness: hooks run with the OCI state (crun)" {
	_hook_runs crun
}

_detached () {
	local rt=$1 b id
	b=$(nsfd_tmpdir "bundle-$rt")
	id=$(nsfd_unique_id "detached-$rt")
	nsfd_bundle "$b" --args "sh -c 'echo started; exec sleep 1000'"
	nsfd_create_start "$rt" "$b" "$id"
	nsfd_wait_state "$rt" "$id" running
	nsfd_exec "$rt" "$id" sh -c 'echo in-exec $(id -u)'
	[ "$status" -eq 0 ]
	[ "$output" = "in-exec 0" ]
	nsfd_delete "$rt" "$id"
	run nsfd_container_state "$rt" "$id"
	[ -z "$output" ]
	[[ $(nsfd_container_output "$id") == *started* ]]
}

@test "harness: create/start/exec/delete a detached container (runc)" {
	_detached runc
}

@test "harness: create/start/exec/delete a detached container (crun)" {
	_detached crun
}

# Cleanup after a test that stops midway: a nested bats run whose test leaves a running
# container per runtime, a userns container, host mounts (kubelet set, a stacked tmpfs),
# and a background process, then fails. Afterwards nothing of it may remain.
@test "harness: cleanup after a failing test leaves nothing behind" {
	local root before after inner id1 id2
	root=$(nsfd_tmpdir nested-root)
	before=$(nsfd_tmpdir snap)/before
	nsfd_mount_snapshot "$before"
	inner=$(nsfd_tmpdir inner)/inner.bats
	id1=$NSFD_ID_PREFIX-nested-runc-$RANDOM
	id2=$NSFD_ID_PREFIX-nested-crun-$RANDOM
	# bats rewrites every line that starts with @test, even in a heredoc: spell it apart.
	local at=@
	cat >"$inner" <<-INNER
	load $NSFD_LIB_DIR/common
	${at}test "fails midway" {
		b=\$(nsfd_tmpdir b1); h=\$(nsfd_tmpdir kube)
		nsfd_bundle "\$b" --userns --kubelet-mounts "\$h" --args "sleep 1000"
		nsfd_create_start runc "\$b" $id1
		b2=\$(nsfd_tmpdir b2)
		nsfd_bundle "\$b2" --args "sleep 1000"
		nsfd_create_start crun "\$b2" $id2
		m=\$(nsfd_tmpdir m)
		nsfd_track_mount "\$m"
		mount -t tmpfs t1 "\$m"; mount -t tmpfs t2 "\$m"; mkdir "\$m/sub"; mount -t tmpfs t3 "\$m/sub"
		sleep 1000 3>&- &
		nsfd_track_pid \$!
		echo \$! > "$root/pid"
		false
	}
	INNER
	# A clean environment: the outer bats' variables confuse a nested bats.
	local path
	path=$(tr : '\n' <<<"$PATH" | grep -v bats-core | paste -sd:)
	run env -i PATH="$path" HOME="$HOME" NSFD_SUITE_TMP="$root/suite" NSFD_SUITE_CACHE="$root/cache" \
		NSFD_BUILD_DIR="$NSFD_BUILD_DIR" bats --tap "$inner"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"not ok 1 fails midway"* ]]
	[ -s "$root/pid" ] || { echo "the nested test stopped before its last step"; false; }
	# The failing test's own teardown must have succeeded: no cleanup complaint.
	[[ $output != *nsfd_cleanup:* ]]
	run nsfd_container_state runc "$id1"
	[ -z "$output" ]
	run nsfd_container_state crun "$id2"
	[ -z "$output" ]
	[ ! -e "/proc/$(cat "$root/pid")" ] || [ "$(awk '{ print $3 }' "/proc/$(cat "$root/pid")/stat")" = Z ]
	[ -z "$(nsfd_mounts_under "$root")" ]
	[ -z "$(find "$root/suite" -mindepth 1 2>/dev/null)" ]
	nsfd_assert_mounts_equal "$before"
}

@test "harness: nsfd_track_pid does not kill a recycled pid" {
	local pid
	sleep 1000 3>&- &
	pid=$!
	nsfd_track_pid "$pid"
	# Pretend the pid was recycled: rewrite its recorded start time.
	sed -i "s/^pid\t$pid\t.*/pid\t$pid\t1/" "$(_nsfd_track_file)"
	nsfd_cleanup
	kill -0 "$pid"
	kill -KILL "$pid"
	wait "$pid" || true
}

_tries=0
_third_try () {
	_tries=$((_tries + 1))
	((_tries >= 3))
}

@test "harness: nsfd_wait_until waits for a condition, bounded, and names it on timeout" {
	local f t0 ms
	f=$(nsfd_tmpdir)/flag
	(sleep 0.3 && : >"$f") </dev/null 3>&- &
	nsfd_track_pid "$!"
	nsfd_wait_until 5 test -e "$f"
	# CMD runs in the caller's shell: a function sees and sets its variables.
	_tries=0
	nsfd_wait_until 5 _third_try
	[ "$_tries" -eq 3 ]
	# A condition that never holds: 1 after about SECS (fractional), naming the command.
	t0=${EPOCHREALTIME//[!0-9]/}
	run nsfd_wait_until 0.5 test -e "$f.never"
	ms=$(((${EPOCHREALTIME//[!0-9]/} - t0) / 1000))
	echo "status $status after $ms ms: $output"
	[ "$status" -eq 1 ]
	[ "$output" = "nsfd_wait_until: test -e $f.never did not succeed within 0.5 s" ]
	((ms >= 500 && ms < 3000))
	# Usage errors are 2, not a timeout.
	run nsfd_wait_until soon true
	[ "$status" -eq 2 ]
	run nsfd_wait_until 1
	[ "$status" -eq 2 ]
}

# At createContainer the hook runs in the container's pid namespace with the host's
# /proc still mounted. A sanitizer build's exit-time leak check reads /proc/<pid>/task
# and, when that pid is no host process, fails the hook and the container
# (hook/sanitizer-lsan.c). The same situation, made deterministic: a new pid
# namespace, host /proc, and a pid that names nothing there.
@test "harness: a sanitizer build's hook exits cleanly in a pid namespace that sees the host's /proc" {
	nsfd_require_build "$NSFD_HOOK_BIN"
	ldd "$NSFD_HOOK_BIN" 2>/dev/null | grep -q 'libasan' ||
		skip "$NSFD_HOOK_BIN is not a sanitizer build (the ASan pass runs this)"
	run unshare --pid --fork sh -c '
		i=0
		while [ $i -lt 5000 ]; do
			p=$(sh -c "echo \$\$")
			[ -e /proc/$((p + 1)) ] || break
			i=$((i + 1))
		done
		sh -c "echo pid=\$\$; exec \"\$0\" --version" "$1" 2>&1
	' sh "$NSFD_HOOK_BIN"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"nsfdsuds-hook "[0-9]* ]]
	[[ $output != *LeakSanitizer* ]]
	# The hook ran as a pid the host's /proc does not have (else the case was not made).
	local pid
	pid=$(sed -n 's/^pid=//p' <<<"$output")
	[ -n "$pid" ] && [ ! -e "/proc/$pid" ]
}
