# Helpers for the engine tests (tests/bats/engine-*.bats): Podman and containerd, each
# fully isolated under a test's temp dir, nothing shared with a system instance.
# Load after common: `load ../lib/engines`.
#
#   nsfd_engine_config DIR PREFIX...   an admin config (DIR/nsfdsuds.json) allowing PREFIX...
#   nsfd_engine_hooksd SRC DST CONFIG  the built hooks.d files, pointed at this build's hook
#                                      and CONFIG (every other field kept as shipped)
#   nsfd_busybox_tar                   a tar of the busybox rootfs (cached per suite run)
#
#   nsfd_podman_init DIR               isolated podman state under DIR; sets NSFD_PODMAN_DIR
#   nsfd_podman RUNTIME ARGS...        podman with that state, --runtime runc|crun, the
#                                      generated hooks dir; like run (status, output, lines)
#   nsfd_podman_cleanup                remove every container, pod, volume; kill conmons
#
#   nsfd_containerd_start DIR          a private containerd (root, state, grpc socket under
#                                      DIR), tracked by pid; sets NSFD_CTR_SOCK, NSFD_CTR_DIR
#   nsfd_ctr ARGS...                   ctr against it, namespace nsfdt; like run
#   nsfd_containerd_cleanup            delete tasks/containers, stop containerd, kill shims
#   nsfd_ctr_import_busybox NAME       busybox image in that containerd (via podman save)

NSFD_ENGINE_TIMEOUT=${NSFD_ENGINE_TIMEOUT:-90}

# nsfd_engine_config DIR PREFIX...: write DIR/nsfdsuds.json and print its path.
nsfd_engine_config () {
	local dir=$1
	shift
	mkdir -p "$dir"
	jq -n --args '{allowedVolumePrefixes: $ARGS.positional, logLevel: "debug",
		log: ["stderr"], handshakeTimeoutSeconds: 10, mounterLifetimeSeconds: 60}' "$@" \
		>"$dir/nsfdsuds.json"
	printf '%s\n' "$dir/nsfdsuds.json"
}

# nsfd_engine_hooksd SRC DST CONFIG: copy the hooks.d files CMake generated (SRC, normally
# $NSFD_BUILD_DIR/config/hooks.d) to DST with hook.path = this build's hook and
# "--config CONFIG" before the stage argument. when/stages/timeout stay as shipped, so the
# tests exercise the real registration files.
nsfd_engine_hooksd () {
	local src=$1 dst=$2 cfg=$3 f n=0
	mkdir -p "$dst"
	for f in "$src"/*.json; do
		[[ -f $f ]] || continue
		jq --arg p "$NSFD_HOOK_BIN" --arg c "$cfg" \
			'.hook.path = $p | .hook.args = [.hook.args[0], "--config", $c] + .hook.args[1:]' \
			"$f" >"$dst/${f##*/}" || return 1
		n=$((n + 1))
	done
	((n == 3)) || { echo "nsfd_engine_hooksd: expected 3 hooks.d files in $src, found $n" >&2; return 1; }
}

# nsfd_busybox_tar: print the path of a tar of the busybox rootfs (built once per run).
nsfd_busybox_tar () {
	local t=$NSFD_SUITE_CACHE/busybox-rootfs.tar pristine
	if [[ ! -f $t ]]; then
		pristine=$(_nsfd_pristine_rootfs) || return 1
		(
			flock 9
			[[ -f $t ]] && exit 0
			tar -C "$pristine" --numeric-owner -cf "$t.tmp.$$" . && mv -f "$t.tmp.$$" "$t"
		) 9>"$NSFD_SUITE_CACHE/busybox-tar.lock" || return 1
	fi
	printf '%s\n' "$t"
}

# Kill, by pid, every process whose command line names DIR (conmon, shims, containerd):
# all of them were started by this test through the engine under DIR.
_nsfd_kill_procs_under () {
	local dir=$1 p cmd
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
		[[ $cmd == *"$dir"* ]] || continue
		kill -KILL "$p" 2>/dev/null || true
	done
}

# ---------------------------------------------------------------- podman

# nsfd_podman_init DIR: storage (vfs), runroot, tmpdir, volumes, containers.conf, an admin
# config allowing DIR/storage/volumes, and the hooks.d files, all under DIR.
nsfd_podman_init () {
	local dir=$1 short
	mkdir -p "$dir"/{storage,hooks.d}
	export NSFD_PODMAN_DIR=$dir
	# conmon's sockets live under runroot and tmpdir; below the suite's deep temp dirs
	# their paths pass the 108-byte limit and podman then waits 20 s for every exit.
	short=$(mktemp -d /tmp/nsfdpm.XXXXXX)
	_nsfd_track dir "$short"
	mkdir -p "$short"/{runroot,tmp}
	export NSFD_PODMAN_SHORT=$short
	# Raising RLIMIT_NOFILE/NPROC is not permitted here; cgroupfs (no systemd); events to
	# a file under DIR.
	cat >"$dir/containers.conf" <<-EOF
	[containers]
	default_ulimits = []
	[engine]
	cgroup_manager = "cgroupfs"
	events_logger = "file"
	events_logfile_path = "$dir/events.log"
	EOF
	# vfs: no storage mounts, and the container's rootfs is a plain directory lower layer.
	cat >"$dir/storage.conf" <<-EOF
	[storage]
	driver = "vfs"
	runroot = "$short/runroot"
	graphroot = "$dir/storage"
	EOF
	NSFD_PODMAN_CONFIG=$(nsfd_engine_config "$dir" "$dir/storage/volumes")
	export NSFD_PODMAN_CONFIG
	nsfd_engine_hooksd "$NSFD_BUILD_DIR/config/hooks.d" "$dir/hooks.d" "$NSFD_PODMAN_CONFIG"
}

# nsfd_podman RUNTIME ARGS...: run podman against NSFD_PODMAN_DIR with --runtime RUNTIME
# (runc or crun, resolved like the rest of the suite). Sets status/output/lines; returns 0.
nsfd_podman () {
	local rt=$1 dir=$NSFD_PODMAN_DIR d
	shift
	rt=$(nsfd_runtime_cmd "$rt")
	d=$(nsfd_tmpdir .podman)
	status=0
	CONTAINERS_CONF=$dir/containers.conf CONTAINERS_STORAGE_CONF=$dir/storage.conf \
		timeout -k 5 "$NSFD_ENGINE_TIMEOUT" podman --tmpdir "$NSFD_PODMAN_SHORT/tmp" --hooks-dir "$dir/hooks.d" \
		--runtime "$rt" "$@" </dev/null >"$d/out" 2>"$d/err" 3>&- || status=$?
	_nsfd_set_result "$d/out" "$d/err"
	return 0
}

# nsfd_podman_ok RUNTIME ARGS...: nsfd_podman, and fail (printing the output) unless it
# exited 0.
nsfd_podman_ok () {
	nsfd_podman "$@"
	if ((status != 0)); then
		echo "podman ${*:2} failed with status $status:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# nsfd_podman_import NAME: the busybox rootfs as image NAME.
nsfd_podman_import () {
	local tar
	tar=$(nsfd_busybox_tar) || return 1
	# kube play, unlike podman run, adds no PATH of its own.
	nsfd_podman_ok runc import --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		"$tar" "$1"
}

nsfd_podman_cleanup () {
	local dir=${NSFD_PODMAN_DIR:-}
	[[ -n $dir && -d $dir ]] || return 0
	nsfd_podman runc pod rm --all --force --time 0 || true
	nsfd_podman runc rm --all --force --time 0 || true
	nsfd_podman runc volume rm --all --force || true
	_nsfd_kill_procs_under "$dir"
	_nsfd_kill_procs_under "$NSFD_PODMAN_SHORT"
}

# ---------------------------------------------------------------- containerd

# containerd answers on its socket, or it has exited (nsfd_containerd_start tells which).
_nsfd_containerd_up_or_gone () {
	kill -0 "$NSFD_CTR_PID" 2>/dev/null || return 0
	[[ -S $NSFD_CTR_SOCK ]] &&
		ctr --address "$NSFD_CTR_SOCK" --timeout 2s version >/dev/null 2>&1 </dev/null 3>&-
}

# nsfd_containerd_start DIR: containerd with root, state, grpc/ttrpc sockets under DIR,
# no CRI plugin (ctr only), the overlayfs snapshotter as on a node. Waits until it
# answers. The pid is tracked; nsfd_containerd_cleanup stops it.
nsfd_containerd_start () {
	local dir=$1
	mkdir -p "$dir"/{root,state}
	export NSFD_CTR_DIR=$dir NSFD_CTR_SOCK=$dir/containerd.sock
	cat >"$dir/config.toml" <<-EOF
	version = 2
	root = "$dir/root"
	state = "$dir/state"
	# ctr only: no CRI (1.x and 2.x names), no NRI, no snapshotters that need setup.
	disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images",
	  "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri",
	  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
	  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
	[grpc]
	  address = "$dir/containerd.sock"
	[ttrpc]
	  address = "$dir/containerd.sock.ttrpc"
	[debug]
	  level = "info"
	EOF
	containerd --config "$dir/config.toml" </dev/null >"$dir/containerd.log" 2>&1 3>&- &
	NSFD_CTR_PID=$!
	export NSFD_CTR_PID
	nsfd_track_pid "$NSFD_CTR_PID"
	if nsfd_wait_until 15 _nsfd_containerd_up_or_gone 2>/dev/null &&
		kill -0 "$NSFD_CTR_PID" 2>/dev/null; then
		return 0
	fi
	echo "nsfd_containerd_start: containerd did not answer on $NSFD_CTR_SOCK:" >&2
	tail -n 30 "$dir/containerd.log" >&2
	return 1
}

# nsfd_ctr ARGS...: ctr against the test's containerd, namespace "nsfdt". Like run.
nsfd_ctr () {
	local d
	d=$(nsfd_tmpdir .ctr)
	status=0
	timeout -k 5 "$NSFD_ENGINE_TIMEOUT" ctr --address "$NSFD_CTR_SOCK" --namespace nsfdt "$@" \
		</dev/null >"$d/out" 2>"$d/err" 3>&- || status=$?
	_nsfd_set_result "$d/out" "$d/err"
	return 0
}

nsfd_ctr_ok () {
	nsfd_ctr "$@"
	if ((status != 0)); then
		echo "ctr $* failed with status $status:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# nsfd_ctr_import_busybox NAME: import the busybox rootfs as image NAME. containerd
# imports OCI archives; the archive comes from an isolated podman (import + save), built
# once per suite run and cached. Without podman (the sid tree) it is assembled by hand.
nsfd_ctr_import_busybox () {
	local archive
	archive=$(_nsfd_busybox_oci_archive) || return 1
	nsfd_ctr_ok image import "$archive" && nsfd_ctr_ok image ls -q && [[ $output == *"$1"* ]]
}

_nsfd_busybox_oci_archive () {
	local a=$NSFD_SUITE_CACHE/busybox-oci.tar tar
	if [[ ! -f $a ]]; then
		tar=$(nsfd_busybox_tar) || return 1
		(
			flock 9
			[[ -f $a ]] && exit 0
			"$NSFD_REPO/tests/engines/make-oci-archive.sh" "$tar" localhost/nsfdt-busybox:latest "$a.tmp.$$" &&
				mv -f "$a.tmp.$$" "$a"
		) 9>"$NSFD_SUITE_CACHE/busybox-oci.lock" 3>&- || return 1
	fi
	printf '%s\n' "$a"
}

# containerd's runc shim puts a task's cgroup at /<namespace>/<id> in every hierarchy and
# removes only <id>: the suite's namespace directory goes here, empty ones only (rmdir, so
# a cgroup still in use, ours or anyone's, stays).
nsfd_containerd_ns_cgroups_remove () {
	local ns=${1:-nsfdt} m
	while read -r m; do
		[[ -d $m/$ns ]] || continue
		find "$m/$ns" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done < <(awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "cgroup" || $(i + 1) == "cgroup2") print $5 }' /proc/self/mountinfo)
}

nsfd_containerd_cleanup () {
	local dir=${NSFD_CTR_DIR:-} id
	[[ -n $dir && -d $dir ]] || return 0
	if [[ -n ${NSFD_CTR_PID:-} ]] && kill -0 "$NSFD_CTR_PID" 2>/dev/null; then
		nsfd_ctr task ls -q
		for id in $output; do
			nsfd_ctr task kill -s KILL "$id" || true
		done
		for id in $output; do
			nsfd_ctr task delete --force "$id" || true
		done
		nsfd_ctr container ls -q
		for id in $output; do
			nsfd_ctr container delete "$id" || true
		done
		kill -TERM "$NSFD_CTR_PID" 2>/dev/null || true
		nsfd_wait_until 5 nsfd_pid_gone "$NSFD_CTR_PID" 2>/dev/null || true
	fi
	# Shims (and anything else) left running with paths under DIR.
	_nsfd_kill_procs_under "$dir"
	nsfd_containerd_ns_cgroups_remove nsfdt
}
