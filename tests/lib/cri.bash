# Helpers for tests/bats/cri.bats: containerd's CRI plugin driven the way the kubelet
# drives it, through tests/cri/cri_client.py. Load after common and engines:
# `load ../lib/engines` then `load ../lib/cri`.
#
#   nsfd_cri_proto                  print the path of the CRI api.proto (Debian's
#                                   golang-github-kubernetes-cri-api-dev, here or in the
#                                   sid tree); fails if absent
#   nsfd_cri_python                 the python3 with grpc and grpc_tools
#   nsfd_cri_stubs DIR              generate the Python stubs into DIR (sets NSFD_CRI_STUBS)
#   nsfd_cri_containerd_start DIR   a private containerd with CRI (root, state, sockets,
#                                   CNI dirs under DIR; sets NSFD_CRI_SOCK, NSFD_CTR_*),
#                                   configured from the shipped snippets in config/containerd
#                                   with only the paths filled in, images imported
#   nsfd_cri METHOD JSON            one CRI call; like run (status, output); the response
#                                   or {"error": ...} is in $output
#   nsfd_cri_ok METHOD JSON         the same, failing (with the output) on an error
#   nsfd_cri_kubelet DIR            where the fake kubelet root is (NSFD_KUBELET=DIR/var/lib/kubelet)
#   nsfd_cri_run_pod NAME UID HANDLER ANN_JSON     RunPodSandbox; sets POD (id), POD_CFG (file)
#   nsfd_cri_container POD_CFG NAME ATTEMPT IMAGE CMD_JSON [MOUNT_JSON...]
#                                   the CreateContainer config the kubelet builds; prints it
#   nsfd_cri_create POD POD_CFG CFG_JSON           CreateContainer; sets CID (or status/output)
#   nsfd_cri_start_container CID    StartContainer
#   nsfd_cri_exec CID CMD...        ExecSync; sets status (exit code), output (stdout+stderr)
#   nsfd_cri_wait_exited CID        wait until the container has exited; sets CRI_EXIT
#   nsfd_cri_remove_pod POD         what the kubelet does on pod deletion: stop and remove
#                                   the containers, StopPodSandbox, RemovePodSandbox
#   nsfd_cri_cleanup                remove every pod and container, stop containerd

NSFD_CRI_CLIENT=$NSFD_REPO/tests/cri/cri_client.py
NSFD_CRI_NS=nsfdt
NSFD_CRI_APP_IMAGE=localhost/nsfdt-busybox:latest
NSFD_CRI_PAUSE_IMAGE=localhost/nsfdt-pause:latest

nsfd_cri_proto () {
	local p list tree=${NSFD_SID_TREE:-/var/cache/nsfdsuds-test/sid}
	p=$(dpkg -L golang-github-kubernetes-cri-api-dev 2>/dev/null | grep '/runtime/v1/api\.proto$' | head -n1)
	# Debian 12 has no package with it: the sid tree's copy (read, never changed; the
	# stubs are generated from a copy in the temp dir).
	list=$tree/var/lib/dpkg/info/golang-github-kubernetes-cri-api-dev.list
	if [[ -z $p && -f $list ]]; then
		p=$(grep '/runtime/v1/api\.proto$' "$list" | head -n1)
		[[ -n $p ]] && p=$tree$p
	fi
	[[ -n $p && -f $p ]] || return 1
	printf '%s\n' "$p"
}

# nsfd_cri_python: the python3 that has grpc and grpc_tools (Debian's python3-grpcio and
# python3-grpc-tools install into the system python3, which a PATH may shadow).
nsfd_cri_python () {
	local p
	for p in python3 /usr/bin/python3; do
		if command -v "$p" >/dev/null && "$p" -c 'import grpc, grpc_tools' 2>/dev/null; then
			command -v "$p"
			return 0
		fi
	done
	return 1
}

nsfd_cri_stubs () {
	local dir=$1 proto=${2:-}
	[[ -n $proto ]] || proto=$(nsfd_cri_proto) || return 1
	NSFD_CRI_PYTHON=$(nsfd_cri_python) || return 1
	export NSFD_CRI_PYTHON
	"$NSFD_CRI_PYTHON" "$NSFD_CRI_CLIENT" stubs "$proto" "$dir" || return 1
	export NSFD_CRI_STUBS=$dir
}

nsfd_cri () {
	local d req=${2:-}
	[[ -n $req ]] || req='{}'
	d=$(nsfd_tmpdir .cri)
	status=0
	timeout -k 5 "$NSFD_ENGINE_TIMEOUT" "$NSFD_CRI_PYTHON" "$NSFD_CRI_CLIENT" --socket "$NSFD_CRI_SOCK" \
		--stubs "$NSFD_CRI_STUBS" "$1" "$req" </dev/null >"$d/out" 2>"$d/err" 3>&- || status=$?
	_nsfd_set_result "$d/out" "$d/err"
	return 0
}

nsfd_cri_ok () {
	nsfd_cri "$@"
	if ((status != 0)); then
		echo "CRI $1 failed with status $status: $2" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# The containerd main config: everything but the nsfdsuds handlers is test plumbing
# (private paths, no CNI, the local pause image, CRI's images on overlayfs).
_nsfd_cri_main_config_v3 () {
	local dir=$1
	cat <<-EOF
	version = 3
	root = "$dir/root"
	state = "$dir/state"
	imports = ["$dir/nsfdsuds-runtime-v2.toml", "$dir/nsfdsuds-hooks-crun-v2.toml"]
	disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs",
	  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
	  "io.containerd.snapshotter.v1.erofs", "io.containerd.differ.v1.erofs",
	  "io.containerd.snapshotter.v1.blockfile", "io.containerd.tracing.processor.v1.otlp",
	  "io.containerd.internal.v1.tracing"]
	[grpc]
	  address = "$dir/containerd.sock"
	[ttrpc]
	  address = "$dir/containerd.sock.ttrpc"
	[debug]
	  level = "info"
	[plugins."io.containerd.cri.v1.images"]
	  snapshotter = "overlayfs"
	  [plugins."io.containerd.cri.v1.images".pinned_images]
	    sandbox = "$NSFD_CRI_PAUSE_IMAGE"
	[plugins."io.containerd.cri.v1.runtime"]
	  enable_selinux = false
	  # This machine may not lower oom_score_adj (the sandbox asks for -998).
	  restrict_oom_score_adj = true
	  [plugins."io.containerd.cri.v1.runtime".cni]
	    bin_dirs = ["$dir/cni-bin"]
	    conf_dir = "$dir/cni-conf"
	EOF
}

# containerd 1.6 replaces a whole plugin section per imported file: the snippets'
# tables are pasted (docs/install.md says the same to admins).
_nsfd_cri_main_config_v2 () {
	local dir=$1 f
	cat <<-EOF
	version = 2
	root = "$dir/root"
	state = "$dir/state"
	disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
	  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
	[grpc]
	  address = "$dir/containerd.sock"
	[ttrpc]
	  address = "$dir/containerd.sock.ttrpc"
	[debug]
	  level = "info"
	[plugins."io.containerd.grpc.v1.cri"]
	  sandbox_image = "$NSFD_CRI_PAUSE_IMAGE"
	  enable_selinux = false
	  restrict_oom_score_adj = true
	  [plugins."io.containerd.grpc.v1.cri".containerd]
	    snapshotter = "overlayfs"
	    default_runtime_name = "runc"
	  # As in \`containerd config default\`: 1.6 forgets its built-in runc runtime as soon
	  # as the file defines any runtime, and the CRI plugin then does not load.
	  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
	    runtime_type = "io.containerd.runc.v2"
	  [plugins."io.containerd.grpc.v1.cri".cni]
	    bin_dir = "$dir/cni-bin"
	    conf_dir = "$dir/cni-conf"
	EOF
	for f in "$dir/nsfdsuds-runtime-v1.toml" "$dir/nsfdsuds-hooks-crun-v1.toml"; do
		grep -v '^version' "$f"
	done
}

# _nsfd_cri_snippets DIR: the shipped templates with the paths filled in: this build's
# wrapper, DIR for the base spec, this build's hook with the test's config (the hook
# reads no environment: a hook gets only the spec's env), crun as the suite runs it.
_nsfd_cri_snippets () {
	local dir=$1 src=$NSFD_REPO/config/containerd f
	for f in "$src"/*.toml.in; do
		sed -e "s|@NSFD_RUNTIME_PATH@|$NSFD_RUNTIME_BIN|g" -e "s|@NSFD_CONTAINERD_DIR@|$dir|g" \
			-e "s|\"/usr/bin/crun\"|\"$CRUN\"|" "$f" >"$dir/$(basename "${f%.in}")" || return 1
	done
	sed "s|@NSFD_HOOK_PATH@|$NSFD_HOOK_BIN|g" "$src/base-spec-hooks.json.in" |
		jq --arg c "$NSFD_CRI_CONFIG" \
			'.hooks |= with_entries(.value |= map(.args = [.args[0], "--config", $c] + .args[1:]))' \
			>"$dir/base-spec-hooks.json"
}

# nsfd_cri_containerd_start DIR: needs NSFD_CRI_CONFIG (the nsfdsuds admin config).
nsfd_cri_containerd_start () {
	local dir=$1 major i
	mkdir -p "$dir"/{root,state,cni-bin,cni-conf}
	export NSFD_CTR_DIR=$dir NSFD_CTR_SOCK=$dir/containerd.sock NSFD_CRI_SOCK=$dir/containerd.sock
	_nsfd_cri_snippets "$dir" || return 1
	major=$(containerd --version | awk '{ v = $3; sub(/^v/, "", v); split(v, a, "."); print a[1] }')
	if ((major >= 2)); then
		_nsfd_cri_main_config_v3 "$dir" >"$dir/config.toml"
	else
		_nsfd_cri_main_config_v2 "$dir" >"$dir/config.toml"
	fi
	# The shim passes containerd's environment to the runtime binary (the wrapper).
	NSFDSUDS_CONFIG=$NSFD_CRI_CONFIG NSFDSUDS_RUNTIME=$RUNC \
		containerd --config "$dir/config.toml" </dev/null >"$dir/containerd.log" 2>&1 3>&- &
	NSFD_CTR_PID=$!
	export NSFD_CTR_PID
	nsfd_track_pid "$NSFD_CTR_PID"
	# The socket first (cheap), then CRI (it may register a moment later; a CRI plugin
	# that failed to load never answers: a few tries only).
	for ((i = 0; i < 300; i++)); do
		kill -0 "$NSFD_CTR_PID" 2>/dev/null || break
		[[ -S $NSFD_CRI_SOCK ]] && break
		sleep 0.1
	done
	for ((i = 0; i < 20; i++)); do
		kill -0 "$NSFD_CTR_PID" 2>/dev/null || break
		nsfd_cri Version '{}'
		((status == 0)) && return 0
		sleep 0.2
	done
	echo "nsfd_cri_containerd_start: CRI did not answer on $NSFD_CRI_SOCK: $output" >&2
	tail -n 40 "$dir/containerd.log" >&2
	return 1
}

# nsfd_cri_import_images: the app image (busybox) and the pause image into "k8s.io".
nsfd_cri_import_images () {
	local app pause
	app=$(_nsfd_busybox_oci_archive) || return 1
	pause=$(_nsfd_cri_pause_archive) || return 1
	_nsfd_ctr_k8s image import "$app" && _nsfd_ctr_k8s image import "$pause" || return 1
	nsfd_cri_ok ImageStatus "{\"image\": {\"image\": \"$NSFD_CRI_PAUSE_IMAGE\"}}" &&
		[[ $output == *'"id"'* ]] || { echo "pause image not visible through CRI: $output" >&2; return 1; }
}

_nsfd_ctr_k8s () {
	local d rc=0
	d=$(nsfd_tmpdir .ctr)
	timeout -k 5 "$NSFD_ENGINE_TIMEOUT" ctr --address "$NSFD_CTR_SOCK" --namespace k8s.io "$@" \
		</dev/null >"$d/out" 2>&1 3>&- || rc=$?
	((rc == 0)) || { echo "ctr $*: failed:" >&2; cat "$d/out" >&2; }
	return $rc
}

# The pause image: busybox whose entrypoint sleeps until SIGTERM (pid 1 ignores signals it
# has no handler for, hence the trap).
_nsfd_cri_pause_archive () {
	local a=$NSFD_SUITE_CACHE/pause-oci.tar tar
	if [[ ! -f $a ]]; then
		tar=$(nsfd_busybox_tar) || return 1
		(
			flock 9
			[[ -f $a ]] && exit 0
			"$NSFD_REPO/tests/engines/make-oci-archive.sh" "$tar" "$NSFD_CRI_PAUSE_IMAGE" "$a.tmp.$$" \
				'["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done"]' &&
				mv -f "$a.tmp.$$" "$a"
		) 9>"$NSFD_SUITE_CACHE/pause-oci.lock" 3>&- || return 1
	fi
	printf '%s\n' "$a"
}

# nsfd_cri_kubelet DIR: the kubelet's root for this test, laid out as on a node.
nsfd_cri_kubelet () {
	export NSFD_KUBELET=$1/var/lib/kubelet NSFD_PODLOGS=$1/var/log/pods
	mkdir -p "$NSFD_KUBELET/pods" "$NSFD_PODLOGS"
}

# nsfd_cri_pvc UID PV: the PVC's mount directory as the kubelet has it (a CSI volume).
nsfd_cri_pvc () {
	local d=$NSFD_KUBELET/pods/$1/volumes/kubernetes.io~csi/$2/mount
	mkdir -p "$d"
	printf '%s\n' "$d"
}

# nsfd_cri_run_pod NAME UID HANDLER ANN_JSON: the sandbox config the kubelet sends for a
# host-network pod, and RunPodSandbox. Sets POD and POD_CFG (a file with the config). No
# hostname: the kubelet sets none with host network (runc refuses one without a UTS ns).
nsfd_cri_run_pod () {
	local name=$1 uid=$2 handler=$3 ann=${4:-'{}'} pd
	pd=$NSFD_KUBELET/pods/$uid
	mkdir -p "$pd"/{plugins,containers,volumes} "$NSFD_PODLOGS/${NSFD_CRI_NS}_${name}_$uid"
	printf '127.0.0.1\tlocalhost\n# Kubernetes-managed hosts file (host network).\n' >"$pd/etc-hosts"
	POD_CFG=$(nsfd_tmpdir .cri)/pod-$uid.json
	jq -n --arg n "$name" --arg ns "$NSFD_CRI_NS" --arg u "$uid" --argjson ann "$ann" \
		--arg logs "$NSFD_PODLOGS/${NSFD_CRI_NS}_${name}_$uid" '{
		metadata: {name: $n, namespace: $ns, uid: $u, attempt: 0},
		log_directory: $logs,
		labels: {"io.kubernetes.pod.name": $n, "io.kubernetes.pod.namespace": $ns,
			"io.kubernetes.pod.uid": $u, app: $n},
		annotations: ({"kubernetes.io/config.source": "api",
			"kubernetes.io/config.seen": "2026-01-01T00:00:00.000000000Z"} + $ann),
		linux: {security_context: {namespace_options: {network: "NODE", pid: "CONTAINER", ipc: "POD"}}}
	}' >"$POD_CFG" || return 1
	nsfd_cri_ok RunPodSandbox "$(jq -c --arg h "$handler" '{config: ., runtime_handler: $h}' "$POD_CFG")" ||
		return 1
	POD=$(jq -r .pod_sandbox_id <<<"$output")
	[[ -n $POD && $POD != null ]]
}

# nsfd_cri_mount CONTAINER_PATH HOST_PATH [ro]: one kubelet mount (private propagation,
# no SELinux relabel).
nsfd_cri_mount () {
	jq -nc --arg c "$1" --arg h "$2" --argjson ro "$([[ ${3:-} == ro ]] && echo true || echo false)" \
		'{container_path: $c, host_path: $h, readonly: $ro, selinux_relabel: false, propagation: "PROPAGATION_PRIVATE"}'
}

# nsfd_cri_container POD_CFG NAME ATTEMPT IMAGE CMD_JSON [MOUNT_JSON...]: the container
# config the kubelet builds: the volume mounts given, then the service-account token
# (projected, read-only), /etc/hosts and the termination log, as the kubelet adds them.
nsfd_cri_container () {
	local pcfg=$1 name=$2 attempt=$3 image=$4 cmd=$5 uid pd sa tlog
	shift 5
	uid=$(jq -r .metadata.uid "$pcfg")
	pd=$NSFD_KUBELET/pods/$uid
	sa=$pd/volumes/kubernetes.io~projected/kube-api-access-nsfdt
	mkdir -p "$sa" "$pd/containers/$name"
	[[ -f $sa/token ]] || { printf 'fake-token\n' >"$sa/token"; printf 'nsfdt\n' >"$sa/namespace"; }
	tlog=$pd/containers/$name/$(printf '%08x' "$RANDOM$RANDOM")
	: >"$tlog"
	printf '%s\n' "$@" \
		"$(nsfd_cri_mount /var/run/secrets/kubernetes.io/serviceaccount "$sa" ro)" \
		"$(nsfd_cri_mount /etc/hosts "$pd/etc-hosts")" \
		"$(nsfd_cri_mount /dev/termination-log "$tlog")" |
		jq -s --slurpfile p "$pcfg" --arg n "$name" --argjson a "$attempt" --arg img "$image" \
			--argjson cmd "$cmd" '$p[0] as $p | {
		metadata: {name: $n, attempt: $a},
		image: {image: $img},
		command: $cmd,
		envs: [{key: "KUBERNETES_SERVICE_HOST", value: "10.96.0.1"}, {key: "KUBERNETES_SERVICE_PORT", value: "443"}],
		mounts: .,
		labels: {"io.kubernetes.container.name": $n, "io.kubernetes.pod.name": $p.metadata.name,
			"io.kubernetes.pod.namespace": $p.metadata.namespace, "io.kubernetes.pod.uid": $p.metadata.uid},
		annotations: {"io.kubernetes.container.hash": "1a2b3c4d", "io.kubernetes.container.restartCount": ($a | tostring),
			"io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
			"io.kubernetes.container.terminationMessagePolicy": "File", "io.kubernetes.pod.terminationGracePeriod": "30"},
		log_path: "\($n)/\($a).log",
		linux: {resources: {cpu_shares: 2, oom_score_adj: 1000},
			security_context: {namespace_options: {network: "NODE", pid: "CONTAINER", ipc: "POD"},
				masked_paths: ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
					"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
				readonly_paths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]}}
	}'
}

# nsfd_cri_create POD POD_CFG CFG_JSON: CreateContainer. Sets CID; like run otherwise.
nsfd_cri_create () {
	CID=
	nsfd_cri CreateContainer "$(jq -c --arg p "$1" --slurpfile s "$2" \
		'{pod_sandbox_id: $p, config: ., sandbox_config: $s[0]}' <<<"$3")"
	((status == 0)) && CID=$(jq -r .container_id <<<"$output")
	return 0
}

nsfd_cri_start_container () {
	nsfd_cri StartContainer "{\"container_id\": \"$1\"}"
}

# nsfd_cri_exec CID CMD...: ExecSync (as kubectl exec without a tty). status is the exit
# code of CMD (or 255 with the error in output when the call failed).
nsfd_cri_exec () {
	local cid=$1 r
	shift
	# jq 1.6 parses options even after --args: one --arg per word of the command.
	local -a words=()
	local i=0 a
	for a; do
		words+=(--arg "w$i" "$a")
		i=$((i + 1))
	done
	nsfd_cri ExecSync "$(jq -nc --arg c "$cid" --argjson n "$i" "${words[@]}" \
		'{container_id: $c, cmd: [range($n) as $i | $ARGS.named["w\($i)"]], timeout: 30}')"
	if ((status != 0)); then
		status=255
		return 0
	fi
	r=$output
	status=$(jq -r '.exit_code // 0' <<<"$r")
	output=$(jq -r '(.stdout // "") + (.stderr // "")' <<<"$r")
	output=${output%$'\n'}
	mapfile -t lines <<<"$output"
}

# nsfd_cri_state CID: prints the container's state (CONTAINER_RUNNING, CONTAINER_EXITED, ...).
nsfd_cri_state () {
	nsfd_cri_ok ContainerStatus "{\"container_id\": \"$1\"}" >&2 || return 1
	jq -r .status.state <<<"$output"
}

nsfd_cri_wait_exited () {
	local i s
	for ((i = 0; i < 300; i++)); do
		nsfd_cri_ok ContainerStatus "{\"container_id\": \"$1\"}" || return 1
		s=$(jq -r .status.state <<<"$output")
		if [[ $s == CONTAINER_EXITED ]]; then
			CRI_EXIT=$(jq -r '.status.exit_code // 0' <<<"$output")
			return 0
		fi
		sleep 0.1
	done
	echo "container $1 did not exit: $output" >&2
	return 1
}

# nsfd_cri_stop_remove CID: StopContainer (grace 2 s) and RemoveContainer.
nsfd_cri_stop_remove () {
	nsfd_cri_ok StopContainer "{\"container_id\": \"$1\", \"timeout\": 2}" &&
		nsfd_cri_ok RemoveContainer "{\"container_id\": \"$1\"}"
}

# nsfd_cri_remove_pod POD: the kubelet's pod deletion.
nsfd_cri_remove_pod () {
	local pod=$1 c
	nsfd_cri_ok ListContainers "{\"filter\": {\"pod_sandbox_id\": \"$pod\"}}" || return 1
	for c in $(jq -r '.containers[]?.id' <<<"$output"); do
		nsfd_cri_stop_remove "$c" || return 1
	done
	nsfd_cri_ok StopPodSandbox "{\"pod_sandbox_id\": \"$pod\"}" &&
		nsfd_cri_ok RemovePodSandbox "{\"pod_sandbox_id\": \"$pod\"}"
}

# nsfd_cri_remove_all: every pod (and its containers) this containerd knows.
nsfd_cri_remove_all () {
	local p rc=0
	nsfd_cri ListPodSandbox '{}'
	((status == 0)) || return 1
	for p in $(jq -r '.items[]?.id' <<<"$output"); do
		nsfd_cri_remove_pod "$p" || rc=1
	done
	return $rc
}

nsfd_cri_cleanup () {
	local i
	[[ -n ${NSFD_CTR_DIR:-} && -d $NSFD_CTR_DIR ]] || return 0
	if [[ -n ${NSFD_CTR_PID:-} ]] && kill -0 "$NSFD_CTR_PID" 2>/dev/null; then
		nsfd_cri_remove_all || true
		kill -TERM "$NSFD_CTR_PID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$NSFD_CTR_PID" 2>/dev/null || break
			sleep 0.1
		done
	fi
	_nsfd_kill_procs_under "$NSFD_CTR_DIR"
	nsfd_containerd_ns_cgroups_remove "$NSFD_CRI_NS"
}

# nsfd_cri_csi_storage PV: the volume's storage as a CSI driver stages it on the node
# (kubelet's plugins/kubernetes.io/csi/<driver>/<pv>/globalmount), created empty.
nsfd_cri_csi_storage () {
	local d=$NSFD_KUBELET/plugins/kubernetes.io/csi/nsfdt.csi.example/$1/globalmount
	mkdir -p "$d"
	printf '%s\n' "$d"
}

# nsfd_cri_csi_publish UID PV STORAGE: what NodePublishVolume does: STORAGE bind-mounted at
# the pod's volume path. Prints that path (the host path of the container's mount).
nsfd_cri_csi_publish () {
	local m
	m=$(nsfd_cri_pvc "$1" "$2") || return 1
	mount --bind "$3" "$m" || return 1
	nsfd_track_mount "$m"
	printf '%s\n' "$m"
}

# nsfd_cri_csi_unpublish PATH: NodeUnpublishVolume, after the pod is gone.
nsfd_cri_csi_unpublish () {
	umount "$1"
}

# nsfd_cri_spec_annotations ID [sandbox]: the annotations of the OCI spec containerd wrote
# for the container (or the sandbox), from the verbose status, as JSON.
nsfd_cri_spec_annotations () {
	if [[ ${2:-} == sandbox ]]; then
		nsfd_cri_ok PodSandboxStatus "{\"pod_sandbox_id\": \"$1\", \"verbose\": true}" || return 1
	else
		nsfd_cri_ok ContainerStatus "{\"container_id\": \"$1\", \"verbose\": true}" || return 1
	fi
	jq -r .info.info <<<"$output" | jq -c '.runtimeSpec.annotations'
}

# nsfd_cri_pid CID: the container's init pid on the host.
nsfd_cri_pid () {
	nsfd_cri_ok ContainerStatus "{\"container_id\": \"$1\", \"verbose\": true}" || return 1
	jq -r .info.info <<<"$output" | jq -r .pid
}

# nsfd_cri_wait_log FILE TEXT: wait (up to 30 s) until the CRI log FILE has a line whose
# message is TEXT.
nsfd_cri_wait_log () {
	local i
	for ((i = 0; i < 300; i++)); do
		[[ -f $1 ]] && grep -q " F $2\$" "$1" && return 0
		sleep 0.1
	done
	echo "no line \"$2\" in $1:" >&2
	cat "$1" >&2 2>/dev/null
	return 1
}
