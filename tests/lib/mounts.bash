# Host mount-table snapshots, to show that a container left the host as it found it.

# Where other people's work on a shared machine mounts things (their temp dirs, a system
# podman or containerd). Mounts there are left out of snapshots unless they are under
# this suite's root; NSFD_MOUNT_STRICT=1 keeps everything.
NSFD_MOUNT_NOISE=${NSFD_MOUNT_NOISE:-'^/(tmp|var/tmp|var/lib/containers|var/lib/containerd|run/containers|run/containerd|run/netns|run/user)/'}

# nsfd_mount_snapshot [FILE]: a normalised, sorted copy of /proc/self/mountinfo without
# the mount and parent ids (they change whenever anything is remounted), to FILE or
# stdout. Also left out: mount points matching the ERE $NSFD_MOUNT_IGNORE, and the
# noise above.
nsfd_mount_snapshot () {
	local out=${1:-/dev/stdout} noise=$NSFD_MOUNT_NOISE
	[[ ${NSFD_MOUNT_STRICT:-0} == 1 ]] && noise=''
	awk -v ign="${NSFD_MOUNT_IGNORE:-}" -v noise="$noise" -v root="$NSFD_SUITE_TMP/" '
		ign != "" && $5 ~ ign { next }
		noise != "" && $5 ~ noise && index($5 "/", root) != 1 { next }
		{ $1 = ""; $2 = ""; sub(/^  /, ""); print }' /proc/self/mountinfo | LC_ALL=C sort >"$out"
}

# nsfd_assert_mounts_equal BEFORE [AFTER]: compare two snapshots (AFTER defaults to
# one taken now); print the difference and fail if they differ.
nsfd_assert_mounts_equal () {
	local before=$1 after=${2:-} tmp=''
	if [[ -z $after ]]; then
		tmp=$(mktemp)
		nsfd_mount_snapshot "$tmp"
		after=$tmp
	fi
	local rc=0
	diff -u "$before" "$after" >&2 || rc=1
	if ((rc)); then
		echo "nsfd_assert_mounts_equal: the mount table changed (- before, + after)" >&2
	fi
	[[ -n $tmp ]] && rm -f "$tmp"
	return $rc
}
