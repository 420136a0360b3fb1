# Helpers for the LXC migration tests (tests/bats/layer-import.bats). Load after common:
#
#   load ../lib/common
#   load ../lib/lxc
#
# Every LXC container lives under the test's temp dir (lxc-* -P DIR), never in the
# system's LXC path; nsfd_lxc_teardown (call it from teardown, before nsfd_cleanup)
# stops and destroys them.
#
#   nsfd_skip_unless_lxc                   skip when LXC's tools are not installed
#   nsfd_lxc_path                          this test's LXC path (lxc-* -P)
#   nsfd_lxc_base NAME                     a busybox container (lxc-create -t busybox)
#   nsfd_lxc_snapshot BASE NAME            an overlay snapshot of it (lxc-copy -s -B overlay), no network
#   nsfd_lxc_start NAME / nsfd_lxc_stop NAME / nsfd_lxc_attach NAME CMD...
#   nsfd_lxc_make_changes NAME             the scenario's changes, made inside the container
#   nsfd_lxc_idmap NAME HOSTID COUNT       make a snapshot unprivileged-style (lxc.idmap u/g 0 HOSTID COUNT)
#   nsfd_lxc_start_idmapped NAME           lxc-start of such a container as root, without newuidmap
#   nsfd_lxc_view NAME MOUNTPOINT          LXC's overlay of a stopped container, mounted read-only
#   nsfd_view_listing DIR                  what a root filesystem shows: type, mode, owner,
#                                          device numbers, link target, content hash,
#                                          hard-link groups, xattrs (one line each, sorted)

nsfd_skip_unless_lxc () {
	command -v lxc-create >/dev/null && command -v lxc-copy >/dev/null ||
		skip "LXC is not installed (Debian's lxc package)"
	[[ -e /usr/share/lxc/templates/lxc-busybox ]] || skip "no lxc-busybox template"
	command -v busybox >/dev/null || skip "lxc-busybox needs the host's busybox"
}

nsfd_lxc_path () {
	nsfd_tmpdir lxc
}

_nsfd_lxc () {
	local cmd=$1
	shift
	timeout -k 5 60 "$cmd" -P "$(nsfd_lxc_path)" "$@" </dev/null 3>&-
}

nsfd_lxc_base () {
	_nsfd_track lxc "$1"
	_nsfd_lxc lxc-create -n "$1" -t busybox >"$(nsfd_lxc_path)/create-$1.log" 2>&1 ||
		{ cat "$(nsfd_lxc_path)/create-$1.log" >&2; return 1; }
}

nsfd_lxc_snapshot () {
	local cfg
	_nsfd_track lxc "$2"
	_nsfd_lxc lxc-copy -n "$1" -N "$2" -s -B overlay || return 1
	cfg=$(nsfd_lxc_path)/$2/config
	# No network: nothing on this machine may depend on a bridge.
	sed -i '/^lxc\.net\./d' "$cfg"
	echo 'lxc.net.0.type = empty' >>"$cfg"
}

nsfd_lxc_start () {
	_nsfd_lxc lxc-start -n "$1" -d -L "$(nsfd_lxc_path)/console-$1.log" -o "$(nsfd_lxc_path)/lxc-$1.log" ||
		{ cat "$(nsfd_lxc_path)/lxc-$1.log" >&2; return 1; }
	_nsfd_lxc lxc-wait -n "$1" -s RUNNING -t 20
}

nsfd_lxc_pid () {
	_nsfd_lxc lxc-info -n "$1" -p -H
}

nsfd_lxc_attach () {
	local n=$1
	shift
	_nsfd_lxc lxc-attach -n "$n" -- "$@"
}

nsfd_lxc_stop () {
	_nsfd_lxc lxc-stop -n "$1" -k
}

# _nsfd_lxc_overlay NAME: sets lower and upper (the caller's locals) from the last
# lxc.rootfs.path = overlay:LOWER:UPPER of NAME's config.
_nsfd_lxc_overlay () {
	local spec
	spec=$(sed -n 's/^lxc\.rootfs\.path = overlay://p' "$(nsfd_lxc_path)/$1/config" | tail -1)
	lower=${spec%%:*}
	upper=${spec#*:}
}

# nsfd_lxc_idmap NAME HOSTID COUNT: the snapshot NAME made the way an administrator makes
# a root-owned unprivileged container: lxc.idmap u/g 0 HOSTID COUNT in its config, the
# base rootfs's owners shifted by HOSTID (what `lxc-usernsexec -- chown` would do; the
# setuid bits a chown clears are put back), the delta and work directories owned by
# HOSTID, and the directories above them traversable for the mapped root.
nsfd_lxc_idmap () {
	local lower upper
	_nsfd_lxc_overlay "$1"
	python3 - "$lower" "$2" <<'PY' || return 1
import os, sys
root, shift = sys.argv[1], int(sys.argv[2])
def move(p):
    st = os.lstat(p)
    os.lchown(p, st.st_uid + shift, st.st_gid + shift)
    if not os.path.islink(p):
        os.chmod(p, st.st_mode & 0o7777)
for d, dirs, files in os.walk(root):
    move(d)
    for n in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
        move(os.path.join(d, n))
PY
	chown -R "$2:$2" "$upper" "$(dirname "$upper")/work" || return 1
	# Search (not read) permission from the suite's temp root down: the mapped root is
	# "others" to the host's directories when it mounts the overlay.
	local d
	d=$(nsfd_lxc_path)
	chmod o+x "$(dirname "$lower")" "$d/$1" || return 1
	while [[ $d == "$NSFD_SUITE_TMP"* ]]; do
		chmod o+x "$d" || return 1
		d=$(dirname "$d")
	done
	printf 'lxc.idmap = u 0 %s %s\nlxc.idmap = g 0 %s %s\n' "$2" "$3" "$2" "$3" >>"$(nsfd_lxc_path)/$1/config"
}

# LXC runs newuidmap when it finds it on PATH, and newuidmap allows root only the ranges
# /etc/subuid gives it (none here: a shared machine's /etc/subuid is left alone). As
# root without newuidmap on PATH, LXC writes the map itself. lxc-start needs nothing
# else from PATH.
nsfd_lxc_start_idmapped () {
	timeout -k 5 60 env PATH=/nonexistent /usr/bin/lxc-start -P "$(nsfd_lxc_path)" -n "$1" -d \
		-L "$(nsfd_lxc_path)/console-$1.log" -o "$(nsfd_lxc_path)/lxc-$1.log" </dev/null 3>&- ||
		{ cat "$(nsfd_lxc_path)/lxc-$1.log" >&2; return 1; }
	_nsfd_lxc lxc-wait -n "$1" -s RUNNING -t 20
}

# The changes of the scenario, each made by a process inside the LXC container: a new
# file, a modified and a deleted lower file, a lower directory deleted and recreated,
# a symlink, a hard link, a device node, a fifo, a chmod and a chown of lower files.
# busybox has no setfattr, so the xattr is set from the host through the container's
# root (/proc/PID/root), i.e. through LXC's overlay, not behind its back.
nsfd_lxc_make_changes () {
	local pid
	nsfd_lxc_attach "$1" /bin/sh -c '
		set -e
		echo new >/root/new.txt
		echo "app:x:1000:1000::/home/app:/bin/sh" >>/etc/passwd
		rm /etc/fstab
		rm -rf /etc/udhcpc
		mkdir /etc/udhcpc
		echo again >/etc/udhcpc/new.script
		ln -s /etc/passwd /root/pwlink
		ln /root/new.txt /root/new-link
		mknod /root/null c 1 3
		mkfifo /root/fifo
		chmod 600 /root/new.txt
		chmod 700 /etc/inittab
		chown 12:34 /etc/group
		mkdir -p /var/app/data
		echo rows >/var/app/data/db
		dd if=/dev/zero of=/var/app/data/blob bs=4096 count=16 2>/dev/null
		sync' || return 1
	pid=$(nsfd_lxc_pid "$1") || return 1
	setfattr -n user.note -v imported "/proc/$pid/root/var/app/data/db"
}

# nsfd_lxc_view NAME MOUNTPOINT: the stopped container's root as LXC mounts it, read-only:
# the delta as the top lower layer above the base rootfs (whiteouts and opaque
# directories apply the same way), tracked for cleanup.
nsfd_lxc_view () {
	local lower upper
	_nsfd_lxc_overlay "$1"
	mkdir -p "$2"
	nsfd_track_mount "$2"
	mount -t overlay overlay -o "ro,lowerdir=$upper:$lower" "$2"
}

# Mount points of the runtimes and of LXC (host libraries are bound at /lib and /usr/lib
# by the busybox template), and the volume's mount point /mnt, are left out.
_nsfd_view_find () {
	find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./mnt -o -path ./lib \
		-o -path ./lib64 -o -path ./usr/lib -o -path ./usr/lib64 \) -prune -o "$@"
}

nsfd_view_listing () {
	(
		cd "$1" || exit 1
		_nsfd_view_find -printf 'entry %p %y %m %U:%G %l\n' | LC_ALL=C sort
		_nsfd_view_find \( -type c -o -type b \) -printf '%p\0' | LC_ALL=C sort -z |
			xargs -0 -r stat -c 'device %n %t:%T'
		_nsfd_view_find -type f -printf '%p\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum | sed 's/^/content /'
		_nsfd_view_find ! -type d -links +1 -printf '%i %p\n' | LC_ALL=C sort -k2 |
			awk '{ g[$1] = g[$1] " " $2 } END { for (i in g) print "hardlinks" g[i] }' | LC_ALL=C sort
		_nsfd_view_find -printf '%p\0' | LC_ALL=C sort -z |
			xargs -0 -r getfattr -h -d -m - --absolute-names 2>/dev/null | grep -v '^$' | sed 's/^/xattr /'
		true
	)
}

# Stops and destroys every LXC container this test made (snapshots first).
nsfd_lxc_teardown () {
	local track kind name rest
	track=$(_nsfd_track_file)
	[[ -f $track ]] || return 0
	local -a names=()
	while IFS=$'\t' read -r kind name rest; do
		[[ $kind == lxc ]] && names=("$name" "${names[@]}")
	done <"$track"
	for name in "${names[@]}"; do
		_nsfd_lxc lxc-stop -n "$name" -k >/dev/null 2>&1 || true
		_nsfd_lxc lxc-destroy -n "$name" >/dev/null 2>&1 || true
	done
}
