#!/bin/sh
# origin-hook.sh LAYERDIR: the origin's overlay.sh + remount.sh steps, done the way
# its scripts did them, as a createContainer hook. For bench/run.sh only: it is the
# comparison point, not something to deploy (no checks, no exclusive use, no
# cleanup, leaves stub directories in the upper layer).
#
# LAYERDIR gets upperdir/, workdir/ and newroot/ (the origin's /exclude/overlay/...).
# Reads the OCI state on stdin; the rootfs is BUNDLE/rootfs.
set -e
layer=$1
state=$(cat)
bundle=$(printf '%s\n' "$state" | sed -n 's/.*"bundle": *"\([^"]*\)".*/\1/p')
rootfs=$(readlink -f "$bundle/rootfs")

# overlay.sh: the overlay, lower = the image (here the container's rootfs).
mkdir -p "$layer/upperdir" "$layer/workdir" "$layer/newroot"
mount -t overlay overlay \
	-o "lowerdir=$rootfs,upperdir=$layer/upperdir,workdir=$layer/workdir" "$layer/newroot"

# remount.sh: carry every mount point below the old root into the new one, in
# mount-table order; a mount moved earlier took its submounts along.
table=$(cat /proc/self/mountinfo)
moved=
while read -r _id _parent _dev _root mnt _rest; do
	case $mnt in "$rootfs"/*) ;; *) continue ;; esac
	carried=0
	for m in $moved; do
		case $mnt in "$m"/*) carried=1 ;; esac
	done
	[ "$carried" = 0 ] || continue
	rel=${mnt#"$rootfs"}
	if [ ! -e "$layer/newroot$rel" ]; then
		if [ -d "$mnt" ]; then mkdir -p "$layer/newroot$rel"
		else mkdir -p "$(dirname "$layer/newroot$rel")"; : >"$layer/newroot$rel"; fi
	fi
	mount --move "$mnt" "$layer/newroot$rel"
	moved="$moved $mnt"
done <<TABLE
$table
TABLE

# The new root replaces the old one; the runtime pivots into it by path.
mount --move "$layer/newroot" "$rootfs"
