#!/usr/bin/env bats
# The Kubernetes path: containerd's CRI plugin driven the way the kubelet drives it
# (tests/cri/cri_client.py; its stubs are generated at test time from Debian's CRI
# api.proto). One containerd for the file, started here with root, state, sockets and
# empty CNI dirs under the file's temp dir, configured from the shipped snippets in
# config/containerd (paths filled in only). Handlers: "nsfdsuds" (the wrapper in front of
# runc) and "nsfdsuds-hooks" (hook mode on crun through the base runtime spec). The
# kubelet's directories (pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount, etc-hosts,
# the termination log, the projected service-account token) are laid out under the
# temp dir, which is the admin config's allowedVolumePrefixes entry.
load ../lib/common
load ../lib/engines
load ../lib/cri

APP_IMG=$NSFD_CRI_APP_IMAGE

setup_file () {
	[[ $(id -u) == 0 ]] || return 0
	command -v containerd >/dev/null && command -v ctr >/dev/null || return 0
	nsfd_cri_proto >/dev/null || return 0
	nsfd_cri_python >/dev/null || return 0
	local d
	d=$(nsfd_tmpdir)
	nsfd_cri_kubelet "$d"
	NSFD_CRI_CONFIG=$(nsfd_engine_config "$d/etc" "$NSFD_KUBELET/pods")
	export NSFD_CRI_CONFIG
	nsfd_cri_stubs "$d/stubs"
	nsfd_cri_containerd_start "$d/ctr"
	nsfd_cri_import_images
	export NSFD_CRI_READY=1
}

teardown_file () {
	nsfd_cri_cleanup
	nsfd_cleanup
}

setup () {
	# The examples check needs no containerd.
	[[ $BATS_TEST_DESCRIPTION == "cri config:"* ]] && return 0
	nsfd_skip_unless_root
	[[ ${NSFD_CRI_READY:-} == 1 ]] ||
		skip "needs containerd, ctr, the CRI api.proto (golang-github-kubernetes-cri-api-dev here or in the sid tree), python3-grpcio, python3-grpc-tools"
	if [[ $BATS_TEST_DESCRIPTION == *nsfdsuds-hooks* ]]; then
		nsfd_require_build "$NSFD_HOOK_BIN"
	else
		nsfd_require_build "$NSFD_RUNTIME_BIN"
	fi
}

teardown () {
	local rc=0
	[[ ${NSFD_CRI_READY:-} == 1 ]] && { nsfd_cri_remove_all || rc=1; }
	nsfd_cleanup || rc=1
	return $rc
}

uuid () { cat /proc/sys/kernel/random/uuid; }

# The StatefulSet's container: one line per boot into a file of its root filesystem, a
# lower file deleted, the count on stdout (the CRI log), then it stays.
APP_CMD='["sh", "-c", "echo boot >> /root/boots; rm -f /usr/bin/yes; echo \"boots: $(wc -l < /root/boots)\"; exec sleep 600"]'

# start_app POD_CFG NAME ATTEMPT [MOUNT_JSON...]: CreateContainer + StartContainer; sets CID.
start_app () {
	local pcfg=$1 name=$2 attempt=$3 c
	shift 3
	c=$(nsfd_cri_container "$pcfg" "$name" "$attempt" "$APP_IMG" "$APP_CMD" "$@")
	nsfd_cri_create "$POD" "$pcfg" "$c"
	((status == 0)) || { echo "CreateContainer: $output" >&2; return 1; }
	nsfd_cri_start_container "$CID"
	((status == 0)) || { echo "StartContainer: $output" >&2; return 1; }
}

# log_of POD_CFG NAME ATTEMPT: the CRI log file the kubelet asked for.
log_of () {
	printf '%s/%s/%s.log\n' "$(jq -r .log_directory "$1")" "$2" "$3"
}

# The container's root is the persistent overlay: the volume is hidden and the file the
# container wrote is in the layer's upper directory in STORAGE.
assert_activated () {
	local cid=$1 storage=$2 layer=${3:-default}
	nsfd_cri_exec "$cid" sh -c 'ls -A /persist | wc -l'
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	[ -f "$storage/.nsfdsuds/$layer/upper/root/boots" ]
}

# -------------------------------------------------------------------------- (a) (b) (f)

persistence () {
	local h=$1 sto pvc uid1 uid2 uid3 pid log moved
	sto=$(nsfd_cri_csi_storage "pv-$h")
	uid1=$(uuid)
	pvc=$(nsfd_cri_csi_publish "$uid1" "pv-$h" "$sto")
	nsfd_cri_run_pod web-0 "$uid1" "$h" '{"nsfdsuds.io/persist": "/persist"}'
	start_app "$POD_CFG" app 0 "$(nsfd_cri_mount /persist "$pvc")"
	nsfd_cri_wait_log "$(log_of "$POD_CFG" app 0)" "boots: 1"
	assert_activated "$CID" "$sto"
	# (d) The pod annotation reached the container's spec through pod_annotations; the
	# kubelet put none into the container config.
	[[ $(nsfd_cri_spec_annotations "$CID") == *'"nsfdsuds.io/persist":"/persist"'* ]]
	# (b) kubectl exec: sees the persistent root and writes to it.
	nsfd_cri_exec "$CID" sh -c 'cat /root/boots; test ! -e /usr/bin/yes && echo exec-1 > /root/exec'
	[ "$status" -eq 0 ]
	[ "$output" = boot ]
	[ "$(cat "$sto/.nsfdsuds/default/upper/root/exec")" = exec-1 ]
	# The sandbox (pause) is never activated.
	[ ! -e "/run/nsfdsuds/$POD" ]

	# A crash: the kubelet creates attempt 1 in the same sandbox; the exited attempt 0
	# stays until garbage collection.
	pid=$(nsfd_cri_pid "$CID")
	[[ $pid =~ ^[0-9]+$ ]]
	kill -KILL "$pid"
	nsfd_cri_wait_exited "$CID"
	[ "$CRI_EXIT" = 137 ]
	start_app "$POD_CFG" app 1 "$(nsfd_cri_mount /persist "$pvc")"
	nsfd_cri_wait_log "$(log_of "$POD_CFG" app 1)" "boots: 2"
	# The new attempt holds the layer (the dead one's record was stale).
	[ "$(jq -r .container "$sto/.nsfdsuds/default/holder.json")" = "$CID" ]
	nsfd_cri_exec "$CID" cat /root/exec
	[ "$output" = exec-1 ]
	# (f) Both attempts' CRI logs have their output.
	log=$(log_of "$POD_CFG" app 0)
	grep -Eq '^[0-9T:.-]+Z stdout F boots: 1$' "$log"
	grep -q ' stdout F boots: 2$' "$(log_of "$POD_CFG" app 1)"

	# kubectl delete pod: the StatefulSet recreates it (new uid), the same volume. The
	# layer is released when the container is removed.
	nsfd_cri_remove_pod "$POD"
	[ ! -e "$sto/.nsfdsuds/default/holder.json" ]
	nsfd_cri_csi_unpublish "$pvc"
	uid2=$(uuid)
	pvc=$(nsfd_cri_csi_publish "$uid2" "pv-$h" "$sto")
	nsfd_cri_run_pod web-0 "$uid2" "$h" '{"nsfdsuds.io/persist": "/persist"}'
	start_app "$POD_CFG" app 0 "$(nsfd_cri_mount /persist "$pvc")"
	nsfd_cri_wait_log "$(log_of "$POD_CFG" app 0)" "boots: 3"
	nsfd_cri_exec "$CID" sh -c 'cat /root/exec; test ! -e /usr/bin/yes && echo gone'
	[ "${lines[0]}" = exec-1 ]
	[ "${lines[1]}" = gone ]

	# Another node: the volume's content copied (xattrs and whiteouts too) under another
	# pod uid; the original is removed so only the copy can be what the pod sees.
	nsfd_cri_remove_pod "$POD"
	nsfd_cri_csi_unpublish "$pvc"
	uid3=$(uuid)
	moved=$(nsfd_cri_pvc "$uid3" "pv-$h")
	cp -a "$sto/." "$moved/"
	rm -rf "$sto"
	nsfd_cri_run_pod web-0 "$uid3" "$h" '{"nsfdsuds.io/persist": "/persist"}'
	start_app "$POD_CFG" app 0 "$(nsfd_cri_mount /persist "$moved")"
	nsfd_cri_wait_log "$(log_of "$POD_CFG" app 0)" "boots: 4"
	nsfd_cri_exec "$CID" sh -c 'cat /root/exec; test ! -e /usr/bin/yes && echo gone'
	[ "${lines[0]}" = exec-1 ]
	[ "${lines[1]}" = gone ]
	[ "$(wc -l <"$moved/.nsfdsuds/default/upper/root/boots")" = 4 ]
	# The kubelet's mount points the image lacks are not junk in the persistent layer.
	local junk
	for junk in persist etc/hosts etc/hostname etc/resolv.conf dev/termination-log var/run/secrets; do
		[ ! -e "$moved/.nsfdsuds/default/upper/$junk" ] || { echo "left in the layer: $junk"; false; }
	done
	nsfd_cri_remove_pod "$POD"
	[ ! -e "/run/nsfdsuds/$CID" ]
}

@test "cri nsfdsuds: persistent root across a restart in the pod, pod recreation, another node; ExecSync; logs" {
	persistence nsfdsuds
}

@test "cri nsfdsuds-hooks: persistent root across a restart in the pod, pod recreation, another node; ExecSync; logs" {
	persistence nsfdsuds-hooks
}

# ------------------------------------------------------------------------------ (c)

multi_container () {
	local h=$1 uid sto pvc app side c
	uid=$(uuid)
	sto=$(nsfd_cri_csi_storage "pv-multi-$h")
	pvc=$(nsfd_cri_csi_publish "$uid" "pv-multi-$h" "$sto")
	nsfd_cri_run_pod multi "$uid" "$h" '{"nsfdsuds.io/persist.app": "/persist", "nsfdsuds.io/layer.app": "approot"}'
	start_app "$POD_CFG" app 0 "$(nsfd_cri_mount /persist "$pvc")"
	app=$CID
	# The sidecar mounts the same volume: were it activated, it would be hidden here.
	c=$(nsfd_cri_container "$POD_CFG" logger 0 "$APP_IMG" \
		'["sh", "-c", "echo side > /root/side; echo logger up; exec sleep 600"]' "$(nsfd_cri_mount /persist "$pvc")")
	nsfd_cri_create "$POD" "$POD_CFG" "$c"
	[ "$status" -eq 0 ]
	side=$CID
	nsfd_cri_start_container "$side"
	[ "$status" -eq 0 ]
	nsfd_cri_wait_log "$(log_of "$POD_CFG" app 0)" "boots: 1"
	nsfd_cri_wait_log "$(log_of "$POD_CFG" logger 0)" "logger up"
	assert_activated "$app" "$sto" approot
	# Sidecar: running, on the image's root, the volume as it is.
	[ "$(nsfd_cri_state "$side")" = CONTAINER_RUNNING ]
	nsfd_cri_exec "$side" sh -c 'cat /root/side; ls -A /persist/.nsfdsuds'
	[ "${lines[0]}" = side ]
	[ "${lines[1]}" = approot ]
	[ "$(ls -A "$sto/.nsfdsuds")" = approot ]
	[ ! -e "$sto/.nsfdsuds/approot/upper/root/side" ]
	[ ! -e "/run/nsfdsuds/$side" ]
	# Sandbox: ready, the pod annotations in its spec, not activated.
	nsfd_cri_ok PodSandboxStatus "{\"pod_sandbox_id\": \"$POD\"}"
	[ "$(jq -r .status.state <<<"$output")" = SANDBOX_READY ]
	[[ $(nsfd_cri_spec_annotations "$POD" sandbox) == *'"nsfdsuds.io/persist.app":"/persist"'* ]]
	[ ! -e "/run/nsfdsuds/$POD" ]
	[ "$(nsfd_cri_state "$app")" = CONTAINER_RUNNING ]
}

@test "cri nsfdsuds: multi-container pod, per-container annotation: only that container activated" {
	multi_container nsfdsuds
}

@test "cri nsfdsuds-hooks: multi-container pod, per-container annotation: only that container activated" {
	multi_container nsfdsuds-hooks
}

# ------------------------------------------------------------------------------ (d)

# containerd passes a pod annotation when a glob of pod_annotations matches it as a path
# pattern: "*" stops at "/". "nsfdsuds.io/persist/app" (a slash for the dot of the
# per-container form) is dropped, so the container is plainly not activated: the volume
# visible and writable, the root the image's, nothing written into the volume.
not_passed () {
	local h=$1 uid pvc
	uid=$(uuid)
	pvc=$(nsfd_cri_pvc "$uid" "pv-np-$h")
	nsfd_cri_run_pod np "$uid" "$h" '{"nsfdsuds.io/persist/app": "/persist"}'
	start_app "$POD_CFG" app 0 "$(nsfd_cri_mount /persist "$pvc")"
	nsfd_cri_wait_log "$(log_of "$POD_CFG" app 0)" "boots: 1"
	[[ $(nsfd_cri_spec_annotations "$CID") != *nsfdsuds.io* ]]
	nsfd_cri_exec "$CID" sh -c 'echo plain > /persist/f && cat /persist/f'
	[ "$status" -eq 0 ]
	[ "$output" = plain ]
	[ "$(ls -A "$pvc")" = f ]
	[ ! -e "/run/nsfdsuds/$CID" ]
}

@test "cri nsfdsuds: an annotation outside the handler's globs is not passed: plainly not activated" {
	not_passed nsfdsuds
}

@test "cri nsfdsuds-hooks: an annotation outside the handler's globs is not passed: plainly not activated" {
	not_passed nsfdsuds-hooks
}

# ------------------------------------------------------------------------------ (e)

# refused HANDLER ANN_JSON VOLUME_DIR: StartContainer fails; REFUSAL is the CRI error
# message. Nothing was written into the volume and no run dir is left.
refused () {
	local h=$1 ann=$2 vol=$3 uid
	REFUSAL=
	uid=$(uuid)
	nsfd_cri_run_pod bad "$uid" "$h" "$ann"
	local c
	c=$(nsfd_cri_container "$POD_CFG" app 0 "$APP_IMG" "$APP_CMD" "$(nsfd_cri_mount /persist "$vol")")
	nsfd_cri_create "$POD" "$POD_CFG" "$c"
	[ "$status" -eq 0 ]
	nsfd_cri_start_container "$CID"
	[ "$status" -ne 0 ]
	REFUSAL=$(jq -r .error.message <<<"$output")
	echo "CRI error: $REFUSAL"
	[ "$(nsfd_cri_state "$CID")" != CONTAINER_RUNNING ]
	[ -z "$(ls -A "$vol")" ]
	[ ! -e "/run/nsfdsuds/$CID" ]
	# The pod itself is unharmed: the kubelet will retry the container.
	nsfd_cri_ok PodSandboxStatus "{\"pod_sandbox_id\": \"$POD\"}"
	[ "$(jq -r .status.state <<<"$output")" = SANDBOX_READY ]
}

@test "cri nsfdsuds: refused pods: the CRI error names the problem and the fix" {
	local vol
	vol=$(nsfd_tmpdir outside)/volumes/kubernetes.io~csi/pv/mount
	mkdir -p "$vol"
	refused nsfdsuds '{"nsfdsuds.io/persist": "/persist"}' "$vol"
	[[ $REFUSAL == *"OCI runtime create failed: nsfdsuds-runtime: the container cannot get its persistent root"* ]]
	[[ $REFUSAL == *"$vol"* && $REFUSAL == *allowedVolumePrefixes* ]]

	vol=$(nsfd_cri_pvc "$(uuid)" pv-typo)
	refused nsfdsuds '{"nsfdsuds.io/persits": "/persist"}' "$vol"
	[[ $REFUSAL == *'annotation "nsfdsuds.io/persits": unknown key under "nsfdsuds.io/"'* ]]
	[[ $REFUSAL == *"fix the spelling or remove it"* ]]
}

# crun reports a failed hook by its path and exit code only; the hook's own message goes
# to its log (syslog, tagged with the container id). docs/install.md says so.
@test "cri nsfdsuds-hooks: refused pods: the CRI error names the failed hook" {
	local vol
	vol=$(nsfd_tmpdir outside)/volumes/kubernetes.io~csi/pv/mount
	mkdir -p "$vol"
	refused nsfdsuds-hooks '{"nsfdsuds.io/persist": "/persist"}' "$vol"
	[[ $REFUSAL == *"error executing hook \`$NSFD_HOOK_BIN\` (exit code: 1)"* ]]

	vol=$(nsfd_cri_pvc "$(uuid)" pv-typo)
	refused nsfdsuds-hooks '{"nsfdsuds.io/persits": "/persist"}' "$vol"
	[[ $REFUSAL == *"error executing hook \`$NSFD_HOOK_BIN\` (exit code: 1)"* ]]
}

# ------------------------------------------------------------- examples vs config

# _containers_mounts FILE: "container mountPath" for every volume mount of every container
# (a name alone for a container without mounts), from a pod template in FILE.
_containers_mounts () {
	awk '
	function indent(s) { match(s, /^ */); return RLENGTH }
	/^ *containers:$/ { c = indent($0); item = sprintf("%" c "s- ", ""); inside = 1; next }
	inside && indent($0) <= c && index($0, item) != 1 { inside = 0 }
	inside && index($0, item "name: ") == 1 { name = $3; print name; next }
	inside && /mountPath:/ { print name, $NF }
	' "$1"
}

@test "cri config: examples/kubernetes uses the handlers and annotation keys config/containerd defines" {
	local cfg=$NSFD_REPO/config/containerd ex=$NSFD_REPO/examples/kubernetes
	local v1 v2 h known key rest base cname value mounts rc_name n=0
	handlers () {
		grep -hv '^ *#' "$@" | grep -o 'containerd\.runtimes\.[A-Za-z0-9_-]*\]' |
			sed 's/.*runtimes\.//; s/\]$//' | sort -u
	}
	v1=$(handlers "$cfg"/*-v1.toml.in)
	v2=$(handlers "$cfg"/*-v2.toml.in)
	[ "$v1" = "$(printf 'nsfdsuds\nnsfdsuds-hooks')" ]
	[ "$v2" = "$v1" ]
	# Every handler the RuntimeClass (and its comment) names is defined for both versions.
	for h in $(awk '$1 == "handler:" { print $2 }' "$ex/runtimeclass-containerd.yaml") \
		$(grep -o 'handler "[^"]*"' "$ex/runtimeclass-containerd.yaml" | tr -d '"' | cut -d' ' -f2); do
		grep -qx -- "$h" <<<"$v1" || { echo "handler $h is not defined in $cfg"; false; }
		n=$((n + 1))
	done
	((n >= 2))
	# The StatefulSet selects the RuntimeClass.
	rc_name=$(sed -n '/^metadata:/,/^[a-z]/ s/^  name: *//p' "$ex/runtimeclass-containerd.yaml")
	[ "$rc_name" = "$(awk '$1 == "runtimeClassName:" { print $2 }' "$ex/statefulset.yaml")" ]
	# Every handler lets exactly the nsfdsuds.io/ annotations through.
	for h in "$cfg"/*.toml.in; do
		[ "$(grep -c '^  pod_annotations = \["nsfdsuds.io/\*"\]$' "$h")" = 1 ]
		[ "$(grep -c '^  container_annotations = \["nsfdsuds.io/\*"\]$' "$h")" = 1 ]
	done
	# The annotation keys: known (lib/policy.c), passed by that glob (containerd matches it
	# as a path pattern: "*" stops at "/"), naming a container of the StatefulSet, and the
	# persist/lower values are that container's volume mounts.
	known=$(sed -n 's/^#define KNOWN_KEYS "\(.*\)"$/\1/p' "$NSFD_REPO/lib/policy.c" | tr -d ' ' | tr ',' '\n')
	[[ $known == *persist* ]]
	mounts=$(_containers_mounts "$ex/statefulset.yaml")
	[[ $mounts == *"app /persist"* ]]
	n=0
	while read -r key value; do
		key=${key%:}
		rest=${key#nsfdsuds.io/}
		[[ $rest != */* ]] || { echo "$key: containerd's glob nsfdsuds.io/* does not pass it"; false; }
		base=${rest%%.*}
		grep -qx -- "$base" <<<"$known" || { echo "$key: unknown key $base"; false; }
		if [[ $rest == *.* ]]; then
			cname=${rest#*.}
			grep -qx -- "$cname" <<<"$(awk '{ print $1 }' <<<"$mounts")" ||
				{ echo "$key: no container $cname in statefulset.yaml"; false; }
			if [[ $base == persist || $base == lower ]]; then
				grep -qx -- "$cname $value" <<<"$mounts" || { echo "$key: $cname has no mount at $value"; false; }
			fi
		fi
		n=$((n + 1))
	done < <(grep -hoE '^ *nsfdsuds\.io/[^: ]+: *[^ #]+' "$ex"/*.yaml "$ex"/README.md)
	((n >= 2))
}
