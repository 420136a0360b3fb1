#!/usr/bin/env bats
# Hook mode, carrying the mounts over: a container with what a kubelet gives it
# (nsfd_bundle --kubelet-mounts) gets every one of those mounts in its persistent root,
# with the same content, flags and propagation as without nsfdsuds; the root is the
# overlay; and when the container is gone the host is as before (mount table, runtime
# directory, mounter process).

load ../lib/common
load ../lib/hook

setup () {
	nsfd_hook_setup
}

# Inside the container: every kubelet mount's mountinfo line (mount point, options,
# optional fields up to " - ", fs type, super options), the content, and write probes.
_write_probe () {
	cat >"$1/nsfd-probe.sh" <<'SH'
for d in /etc/hosts /etc/hostname /etc/resolv.conf /dev/termination-log \
	/var/run/secrets/kubernetes.io/serviceaccount /etc/config /data/scratch /data/shared \
	/dev/shm /; do
	awk -v d="$d" '$5 == d { line = $0 } END { print "mi " d " " line }' /proc/self/mountinfo
done
echo "hosts=$(grep nsfd-pod /etc/hosts)"
echo "hostname=$(cat /etc/hostname)"
echo "resolv=$(head -n1 /etc/resolv.conf)"
echo "token=$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)"
echo "namespace=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"
echo "config=$(cat /etc/config/app.conf)"
for d in /var/run/secrets/kubernetes.io/serviceaccount /etc/config; do
	if touch "$d/probe" 2>/dev/null; then echo "write $d ok"; else echo "write $d refused"; fi
done
for d in /data/scratch /data/shared /dev/shm; do
	if echo w >"$d/probe-$$" 2>/dev/null; then echo "write $d ok"; else echo "write $d refused"; fi
done
echo terminated-by-test >/dev/termination-log && echo "write /dev/termination-log ok"
echo "rootfs-magic=$(stat -f -c %t /)"
echo "persist-entries=$(ls -A /persist 2>/dev/null | wc -l)"
awk '$5 ~ "^/data/shared/" { print "sub " $5 " " $0 }' /proc/self/mountinfo
SH
}

# A mountinfo line reduced to what must match with and without the hook: mount point,
# per-mount options, whether it is a slave/shared, fs type, super options.
_norm_mounts () {
	grep '^mi ' <<<"$1" | grep -v '^mi / ' | awk '{
		sep = 0
		for (i = 1; i <= NF; i++) if ($i == "-") { sep = i; break }
		prop = "private"
		for (i = 9; i < sep; i++) {
			if ($i ~ /^master:/) prop = "slave"
			else if ($i ~ /^shared:/ && prop == "private") prop = "shared"
		}
		print $2, $8, prop, $(sep + 1), $(sep + 3)
	}'
}

_check_probe_output () {
	local out=$1
	grep -qxF "hosts=10.0.0.7	nsfd-pod" <<<"$out"
	grep -qxF "hostname=nsfd-pod" <<<"$out"
	grep -qxF "resolv=nameserver 10.96.0.10" <<<"$out"
	grep -qxF "token=nsfd-test-token" <<<"$out"
	grep -qxF "namespace=default" <<<"$out"
	grep -qxF "config=key=value" <<<"$out"
	grep -qxF "write /var/run/secrets/kubernetes.io/serviceaccount refused" <<<"$out"
	grep -qxF "write /etc/config refused" <<<"$out"
	grep -qxF "write /data/scratch ok" <<<"$out"
	grep -qxF "write /data/shared ok" <<<"$out"
	grep -qxF "write /dev/shm ok" <<<"$out"
	grep -qxF "write /dev/termination-log ok" <<<"$out"
	# Flags: ro stays ro, rw stays rw; the rslave volume is a slave; /dev/shm keeps its
	# restrictions; the service account is the host's tmpfs.
	local dst mode prop kind line opts
	while read -r dst mode prop kind; do
		line=$(grep "^mi $dst " <<<"$out")
		opts=$(awk '{ print $8 }' <<<"$line")
		[[ -n $opts ]] || { echo "$dst: not mounted"; return 1; }
		[[ $opts == "$mode" || $opts == "$mode",* ]] || { echo "$dst: want $mode, got $opts"; return 1; }
		if [[ $prop == rslave ]]; then
			[[ $line == *" master:"* ]] || { echo "$dst: not a slave: $line"; return 1; }
		fi
	done < <(nsfd_kubelet_mount_list)
	line=$(grep "^mi /dev/shm " <<<"$out")
	[[ $line == *" - tmpfs "* && $line == *nosuid* && $line == *nodev* && $line == *noexec* ]]
	[[ $(grep "^mi /var/run/secrets/kubernetes.io/serviceaccount " <<<"$out") == *" - tmpfs nsfd-projected "* ]]
	# The root is the overlay.
	[[ $(grep "^mi / " <<<"$out") == *" - overlay "* ]]
	grep -qxF "rootfs-magic=794c7630" <<<"$out"
	# The persist volume is not visible inside.
	grep -qxF "persist-entries=0" <<<"$out"
}

_kubelet_mounts_carried () {
	local rt=$1 b bplain vol cfg id idp h snap plain sub
	shift
	cfg=$(nsfd_hook_config)
	vol=$(nsfd_hook_volume)
	h=$(nsfd_tmpdir kubelet)
	b=$(nsfd_tmpdir bundle)
	bplain=$(nsfd_tmpdir bundle-plain)

	# The same container without nsfdsuds, for comparison.
	nsfd_bundle "$bplain" "$@" --kubelet-mounts "$h" --mount "$vol:/persist" --args "sh /nsfd-probe.sh"
	_write_probe "$bplain/rootfs"
	idp=$(nsfd_unique_id "plain-$rt")
	nsfd_run_container "$rt" "$bplain" "$idp"
	echo "without nsfdsuds: status $status"; echo "$output"
	[ "$status" -eq 0 ]
	plain=$output
	rm -f "$h"/*/probe-*

	nsfd_hook_bundle "$b" "$cfg" "$@" --kubelet-mounts "$h" --mount "$vol:/persist" \
		--annotation nsfdsuds.io/persist=/persist --args "sleep 60"
	_write_probe "$b/rootfs"
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	id=$(nsfd_unique_id "kubelet-$rt")
	nsfd_create_start "$rt" "$b" "$id" || { echo "$output"; false; }
	nsfd_wait_state "$rt" "$id" running

	# A mount made on the host in the rslave volume after the start reaches the container.
	sub=$h/data-shared/late
	mkdir -p "$sub"
	nsfd_track_mount "$sub"
	mount -t tmpfs -o size=1m nsfd-late "$sub"

	nsfd_exec "$rt" "$id" sh /nsfd-probe.sh
	echo "with nsfdsuds: status $status"; echo "$output"
	[ "$status" -eq 0 ]
	_check_probe_output "$output"
	[[ $output == *"sub /data/shared/late "*" - tmpfs nsfd-late "* ]]
	umount "$sub"

	# Same mounts, same flags and propagation as without the hook.
	diff <(_norm_mounts "$plain" | grep -v '^/persist ') <(_norm_mounts "$output")

	# The writes went to the volumes, not to the layer.
	[ "$(cat "$h/dev-termination-log")" = terminated-by-test ]
	ls "$h"/data-scratch/probe-* "$h"/data-shared/probe-*
	[ ! -e "$vol/.nsfdsuds/default/upper/data" ]

	nsfd_delete "$rt" "$id"
	nsfd_hook_assert_clean "$id" "$snap"
	[ ! -e "$vol/.nsfdsuds/default/holder.json" ]
}

@test "hook mounts: kubelet mounts are carried into the persistent root (runc)" {
	nsfd_skip_preopening_runc runc
	_kubelet_mounts_carried runc
}

@test "hook mounts: kubelet mounts are carried into the persistent root (crun)" {
	_kubelet_mounts_carried crun
}

@test "hook mounts: kubelet mounts are carried into a user-namespaced persistent root (crun)" {
	_kubelet_mounts_carried crun --userns
}
