#!/bin/bash
# Run a command inside a Debian tree (made by make-tree.sh) without chroot.
#
#   tests/sid/enter.sh [--overlay] TREE -- CMD [ARG...]
#
# In a private mount namespace (unshare -m): the tree becomes a mount (bound on itself,
# or, with --overlay or for a tree make-tree.sh did not build, a throw-away overlay so
# the tree is never written), /dev and /sys are rbound in, /proc is fresh, /tmp, /run,
# /var/lib/containers and /var/lib/containerd are fresh tmpfs, the repository is bound
# at the same path as outside (so paths match on both sides), and then pivot_root makes
# it /. Not chroot: the kernel refuses to create user namespaces for a chrooted caller,
# and crun 1.28 cannot re-execute itself under chroot.
#
# cgroup2 at /sys/fs/cgroup/unified is unmounted in that namespace: with it, the tree's
# crun 1.28 stops at "cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"; without it crun and runc 1.3.6 both use the cgroup v1 hierarchies.
#
# Everything mounted here disappears with the namespace; the host's table is untouched.
set -euo pipefail

overlay=0
if [[ ${1:-} == --overlay ]]; then overlay=1; shift; fi
tree=${1:?usage: enter.sh [--overlay] TREE -- CMD...}
shift
[[ ${1:-} == -- ]] && shift
(($#)) || set -- /bin/bash

[[ $(id -u) == 0 ]] || { echo "enter.sh: must run as root" >&2; exit 1; }
tree=$(realpath "$tree")
[[ -x $tree/usr/bin/env ]] || { echo "enter.sh: $tree does not look like a Debian tree" >&2; exit 1; }
repo=${NSFD_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
[[ -f $tree/.nsfd-tree-stamp ]] || overlay=1

stage=$(mktemp -d /tmp/nsfd-enter.XXXXXX)
rc=0
unshare -m --propagation private -- /bin/bash -c '
set -euo pipefail
tree=$1 repo=$2 stage=$3 overlay=$4 cwd=$5
shift 5
if [[ $overlay == 1 ]]; then
	mount -t tmpfs -o mode=755 nsfd-enter "$stage"
	mkdir -p "$stage/upper" "$stage/work" "$stage/root"
	mount -t overlay -o "lowerdir=$tree,upperdir=$stage/upper,workdir=$stage/work" nsfd-sid "$stage/root"
	root=$stage/root
else
	mount --bind "$tree" "$tree"
	root=$tree
fi
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
if grep -q " $root/sys/fs/cgroup/unified " /proc/self/mountinfo; then
	umount "$root/sys/fs/cgroup/unified"
fi
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=1777 nsfd-tmp "$root/tmp"
mount -t tmpfs -o mode=755 nsfd-run "$root/run"
for d in var/lib/containers var/lib/containerd; do
	mkdir -p "$root/$d"
	mount -t tmpfs -o mode=700 nsfd-storage "$root/$d"
done
mkdir -p "$root$repo"
mount --bind "$repo" "$root$repo"
mkdir "$root/tmp/.nsfd-oldroot"
cd "$root"
pivot_root . tmp/.nsfd-oldroot
cd /
umount -l /tmp/.nsfd-oldroot
rmdir /tmp/.nsfd-oldroot
[[ -d $cwd ]] && cd "$cwd"
exec /usr/bin/env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
' enter "$tree" "$repo" "$stage" "$overlay" "$PWD" "$@" || rc=$?
rmdir "$stage" 2>/dev/null || true
exit $rc
