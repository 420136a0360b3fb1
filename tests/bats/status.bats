#!/usr/bin/env bats
# nsfdsuds status: a running hook-mode container (crun, which pivots by path on the host
# and in sid) and a running wrapper-mode container (runc; on sid runc 1.3.6, where only
# the wrapper works) each show up with mode, pid, since, layer and alive; after a
# SIGKILL of the container they are flagged stale (and doctor's runDir check says so);
# `status LAYER` shows one layer. Each test uses a runtime directory of its own.

load ../lib/common
load ../lib/hook
load ../lib/wrapper

setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN" "$NSFD_HOOK_BIN" "$NSFD_RUNTIME_BIN"
	RUN_DIR=$(nsfd_tmpdir run)
	chmod 0711 "$RUN_DIR"
}

teardown () {
	nsfd_wrapper_teardown
	_nsfd_syslog_stop
}

_status () {
	run "$NSFD_CLI_BIN" status --config "$CFG" "$@"
	echo "status $*: $status"
	echo "$output"
}

# _kill_container PID: SIGKILL the container's process and wait until it is gone.
_kill_container () {
	kill -KILL "$1"
	nsfd_wait_gone "$1" 10
}

_check_running () {
	local id=$1 mode=$2 layer=$3 pid
	_status --json
	[ "$status" -eq 0 ]
	[ "$(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .mode' <<<"$output")" = "$mode" ]
	[ "$(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .alive' <<<"$output")" = true ]
	[ "$(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .stale' <<<"$output")" = false ]
	[ "$(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .layer' <<<"$output")" = "$layer" ]
	[[ $(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .since' <<<"$output") =~ ^20[0-9][0-9]-.*Z$ ]]
	pid=$(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .pid' <<<"$output")
	[ "$pid" = "$(jq -r .pid "$layer/holder.json")" ]
	[ -d "/proc/$pid" ]
	_status
	[ "$status" -eq 0 ]
	grep -E "^$id +$mode +$pid +yes +20.* $layer\$" <<<"$output"
}

_check_stale () {
	local id=$1 pid=$2 layer=$3
	_status --json
	[ "$status" -eq 0 ]
	[ "$(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .alive' <<<"$output")" = false ]
	[ "$(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .stale' <<<"$output")" = true ]
	[[ $(jq -r --arg i "$id" '.containers[] | select(.id == $i) | .problem' <<<"$output") == "process $pid is gone"* ]]
	_status
	grep -E "^$id +[a-z]+ +$pid +no " <<<"$output"
	grep -E "^ +stale: process $pid is gone" <<<"$output"
	# doctor's runDir check lists it with the fix
	run "$NSFD_CLI_BIN" doctor --config "$CFG" --hooks-dir "$(nsfd_tmpdir nohooks)" \
		--containerd-config /nonexistent --crio-config-dir /nonexistent --probe-dir "$(nsfd_tmpdir probe)" \
		--runtime "$(realpath "$(command -v "$RUNC")")"
	echo "$output"
	grep -E "^rundir.stale +warn +$RUN_DIR/$id .*process $pid is gone" <<<"$output"
	grep -E "^ +fix: delete the container .*runc delete $id" <<<"$output"
	[ "$status" -ge 1 ]
}

@test "status: a hook-mode container (crun), running, then killed (stale)" {
	local b vol id pid layer
	CFG=$(nsfd_hook_config ".runDir = \"$RUN_DIR\"")
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_hook_volume)
	layer=$vol/.nsfdsuds/default
	nsfd_hook_bundle "$b" "$CFG" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "sleep 600"
	id=$(nsfd_unique_id hook)
	_status
	[ "$status" -eq 0 ]
	[[ $output == "no container uses a persistent layer"* ]]
	nsfd_create_start crun "$b" "$id" || { echo "$output"; nsfd_container_output "$id"; false; }
	nsfd_wait_state crun "$id" running
	_check_running "$id" hook "$layer"
	# status LAYER, given as the volume or as the layer directory
	_status --json "$vol"
	[ "$(jq -r '.containers | length' <<<"$output")" = 1 ]
	[ "$(jq -r .layer <<<"$output")" = "$layer" ]
	_status "$layer"
	grep -E "^$id +hook " <<<"$output"
	pid=$(jq -r .pid "$layer/holder.json")
	_kill_container "$pid"
	_check_stale "$id" "$pid" "$layer"
	nsfd_delete crun "$id"
	_status --json
	[ "$(jq -r '.containers | length' <<<"$output")" = 0 ]
}

@test "status: a wrapper-mode container (runc), running, then killed (stale)" {
	local b vol id pid layer
	NSFD_W_RUNDIR=$RUN_DIR
	nsfd_wrapper_setup runc
	CFG=$NSFD_W_CONFIG
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_tmpdir vols/app)
	layer=$vol/.nsfdsuds/default
	id=$(nsfd_unique_id wrapper)
	nsfd_bundle "$b" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data --args "sleep 600"
	nsfd_wrapper_create_start "$b" "$id"
	nsfd_wrapper_wait_state "$id" running
	_check_running "$id" wrapper "$layer"
	# another layer is not this one
	mkdir -p "$(nsfd_tmpdir vols/other)"
	_status --json "$(nsfd_tmpdir vols/other)"
	[ "$(jq -r '.containers | length' <<<"$output")" = 0 ]
	pid=$(jq -r .pid "$layer/holder.json")
	_kill_container "$pid"
	_check_stale "$id" "$pid" "$layer"
	nsfd_wrapper delete --force "$id"
	_status --json
	[ "$(jq -r '.containers | length' <<<"$output")" = 0 ]
}

@test "status: a layer's holder that is not in the runtime directory is shown" {
	local vol layer
	CFG=$(nsfd_hook_config ".runDir = \"$RUN_DIR\"")
	vol=$(nsfd_hook_volume)
	layer=$vol/.nsfdsuds/default
	mkdir -p "$layer/upper" "$layer/work"
	chmod 0700 "$vol/.nsfdsuds" "$layer"
	echo '{"format": 1}' >"$layer/layer.json"
	jq -n --arg b "$(cat /proc/sys/kernel/random/boot_id)" \
		'{container: "elsewhere", bootId: $b, pid: 999999999, pidStartTime: 1, mode: "runtime", since: "2026-01-01T00:00:00Z"}' \
		>"$layer/holder.json"
	_status --json "$layer"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.containers[0].id' <<<"$output")" = elsewhere ]
	[ "$(jq -r '.containers[0].mode' <<<"$output")" = wrapper ]
	[ "$(jq -r '.containers[0].inRunDir' <<<"$output")" = false ]
	[ "$(jq -r '.containers[0].stale' <<<"$output")" = true ]
}

@test "status: usage" {
	run "$NSFD_CLI_BIN" status --bogus
	[ "$status" -eq 2 ]
	run "$NSFD_CLI_BIN" status --help
	[ "$status" -eq 0 ]
	[[ $output == *"Usage: nsfdsuds status"* ]]
	run "$NSFD_CLI_BIN" status /nonexistent/layer
	[ "$status" -eq 1 ]
	[[ $output == *"nsfdsuds status:"* ]]
}
