# Host mount-table snapshots, to show that a container left the host as it found it.

# nsfd_mount_snapshot [FILE]: a normalised, sorted copy of /proc/self/mountinfo without
# the mount and parent ids (they change whenever anything is remounted), to FILE or stdout.
# Mount points matching the ERE $NSFD_MOUNT_IGNORE are left out (e.g. other people's
# temp dirs on a shared machine).
nsfd_mount_snapshot () {
	local out=${1:-/dev/stdout}
	awk -v ign="${NSFD_MOUNT_IGNORE:-}" '
		ign != "" && $5 ~ ign { next }
		{ $1 = ""; $2 = ""; sub(/^  /, ""); print }' /proc/self/mountinfo | LC_ALL=C sort >"$out"
}

# nsfd_assert_mounts_equal BEFORE [AFTER]: compare two snapshots (AFTER defaults to
# one taken now); print the difference and fail if they differ.
nsfd_assert_mounts_equal () {
	local before=$1 after=${2:-} tmp
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
	[[ -n ${tmp:-} ]] && rm -f "$tmp"
	return $rc
}
