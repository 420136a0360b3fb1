#!/bin/bash
# Build (or reuse) a Debian sid tree with the newest runc/crun/containerd/podman and a
# toolchain, so the suite can run against runtimes that pre-open the rootfs (runc 1.3.6+).
#
#   tests/sid/make-tree.sh [--force] [DIR]
#
# DIR defaults to $NSFD_SID_TREE or /var/cache/nsfdsuds-test/sid. A tree is reused when
# its stamp file exists and lists every package wanted (it may list more: a tree shared by
# checkouts of different versions holds the union); it is built in DIR.partial and only
# renamed to DIR once complete, so an interrupted build is never mistaken for a tree.
# Changes to the tree take DIR.lock exclusively; run-sid-suite.sh holds it shared while a
# suite runs in the tree, so a tree in use is never updated or rebuilt under it.
# Prints the tree's path on the last line of stdout.
set -euo pipefail

MIRROR=${NSFD_SID_MIRROR:-http://deb.debian.org/debian}
PACKAGES=(runc crun containerd podman cmake gcc libc6-dev pkg-config libyajl-dev
          libmount-dev busybox-static bats make python3 jq iproute2 util-linux mount
          procps uidmap file catatonit libarchive-dev libssl-dev criu libcriu2 golang-github-kubernetes-cri-api-dev
          python3-grpcio python3-grpc-tools attr acl umoci)
STAMP=.nsfd-tree-stamp

force=0
if [[ ${1:-} == --force ]]; then force=1; shift; fi
dir=${1:-${NSFD_SID_TREE:-/var/cache/nsfdsuds-test/sid}}
dir=${dir%/}

log () { printf 'make-tree: %s\n' "$*" >&2; }
die () { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (tests/install-deps.sh)"

# has_all STAMP: the stamp's package list holds every package wanted.
has_all () {
	local have p
	have=" $(sed -n 's/^packages: //p' "$1" 2>/dev/null) "
	for p in "${PACKAGES[@]}"; do
		[[ $have == *" $p "* ]] || return 1
	done
}

reuse () {
	if [[ $force == 0 && -f $dir/$STAMP ]] && has_all "$dir/$STAMP"; then
		log "reusing $dir ($(grep -E '^(runc|crun)' "$dir/$STAMP" | tr '\n' ' '))"
		echo "$dir"
		exit 0
	fi
}
reuse
mkdir -p "$(dirname "$dir")"
exec {lock_fd}<>"$dir.lock"
log "waiting for other users of $dir to finish (lock $dir.lock)"
flock -x "$lock_fd"
reuse # someone else may have done it meanwhile
# The union, so that a checkout wanting fewer packages does not undo another's.
if [[ -f $dir/$STAMP ]]; then
	for p in $(sed -n 's/^packages: //p' "$dir/$STAMP"); do
		[[ " ${PACKAGES[*]} " == *" $p "* ]] || PACKAGES+=("$p")
	done
fi
want="packages: ${PACKAGES[*]}"

# install_packages TREE LOG: the package list into TREE, with services kept from starting.
install_packages () {
	local tree=$1 log=$2
	printf '#!/bin/sh\nexit 101\n' >"$tree/usr/sbin/policy-rc.d"
	chmod 755 "$tree/usr/sbin/policy-rc.d"
	echo "deb $MIRROR sid main" >"$tree/etc/apt/sources.list"
	# Mirrors here may be frozen snapshots whose Release files are past Valid-Until.
	echo 'Acquire::Check-Valid-Until "false";' >"$tree/etc/apt/apt.conf.d/99nsfd-snapshot"
	log "installing ${#PACKAGES[@]} packages"
	# A private mount namespace: /proc for maintainer scripts vanishes with it.
	if ! unshare -m --propagation private -- /bin/sh -c '
		set -e
		mount -t proc proc "$1/proc"
		tree=$1; shift
		chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
			sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $* && apt-get clean"
	' sh "$tree" "${PACKAGES[@]}" >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "package installation failed (full log: $log)"
	fi
	rm -f "$tree/usr/sbin/policy-rc.d"
}

# write_stamp TREE: marks TREE complete; lists the packages and the runtime versions.
write_stamp () {
	{
		echo "$want"
		chroot "$1" dpkg-query -W -f '${Package} ${Version}\n' runc crun containerd podman bats
		echo "built $(date -u +%FT%TZ) in $((SECONDS - start))s"
	} >"$1/$STAMP"
}

start=$SECONDS
# A complete tree with another package list is updated in place (the stamp goes first, so
# an interrupted update leaves a tree that is rebuilt next time).
if [[ $force == 0 && -f $dir/$STAMP ]]; then
	log "updating the package set of $dir"
	rm -f "$dir/$STAMP"
	install_packages "$dir" "$dir.update.log"
	write_stamp "$dir"
	rm -f "$dir.update.log"
	log "done in $((SECONDS - start))s: $dir"
	echo "$dir"
	exit 0
fi

# Never rm -rf across a mount: a half-torn-down tree could still have /dev or /sys bound in.
mounted_under () { awk -v p="$1/" 'index($5"/", p) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; }
for d in "$dir" "$dir.partial"; do
	if mounted_under "$d"; then die "something is still mounted under $d; refusing to remove it"; fi
done

rm -rf --one-file-system "$dir.partial"
mkdir -p "$(dirname "$dir")"
log "debootstrap --variant=minbase sid into $dir.partial (mirror $MIRROR)"
if ! debootstrap --variant=minbase sid "$dir.partial" "$MIRROR" >"$dir.partial.log" 2>&1; then
	tail -n 20 "$dir.partial.log" >&2
	die "debootstrap failed (full log: $dir.partial.log)"
fi

install_packages "$dir.partial" "$dir.partial.log"
write_stamp "$dir.partial"

if [[ -e $dir ]]; then
	mounted_under "$dir" && die "something is mounted under $dir"
	rm -rf --one-file-system "$dir"
fi
mv "$dir.partial" "$dir"
rm -f "$dir.partial.log"
log "done in $((SECONDS - start))s: $dir"
echo "$dir"
