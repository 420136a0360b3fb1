#!/bin/sh
# Runs inside the app container's mount namespace with the sidecar's
# privileges (origin: overlay.sh + remount.sh).  Builds the overlay under
# /exclude, carries every runtime mount into it, then writes the ready file.
set -e
EXCLUDE=/exclude
LOWER=$EXCLUDE/lowerdir
UPPER=$EXCLUDE/overlay/upperdir
WORK=$EXCLUDE/overlay/workdir
NEWROOT=$EXCLUDE/newroot
READY=$EXCLUDE/shared/ready

echo "overlay: setting up $NEWROOT"
mkdir -p "$LOWER" "$UPPER" "$WORK" "$NEWROOT"
# In real life the lower layer is a volume holding the base image; here the
# container's own root stands in for it (non-recursive: no submounts).
mount -o bind / "$LOWER"
mount -t overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" overlay "$NEWROOT"

# Every mount the runtime made (proc, dev, dev/pts, sys, masked paths,
# /etc/hosts ...) except / and /exclude, parents before children.  /proc/1
# is the app's init, in this mount namespace (our own pid is not in its
# /proc).  sort reads everything before the first mount below changes it.
awk '{print $5}' /proc/1/mountinfo | sort -u | while read -r mnt; do
  case "$mnt" in /|"$EXCLUDE"|"$EXCLUDE"/*) continue ;; esac
  if [ -d "$mnt" ]; then
    mkdir -p "$NEWROOT$mnt"
  else
    mkdir -p "$NEWROOT$(dirname "$mnt")"
    # A stub only when the lower layer lacks it (it would land in upper).
    [ -e "$NEWROOT$mnt" ] || touch "$NEWROOT$mnt"
  fi
  mount -o bind "$mnt" "$NEWROOT$mnt"
  echo "overlay: carried $mnt"
done

echo "overlay: noting readiness"
touch "$READY"
echo "overlay: leaving the namespace"
