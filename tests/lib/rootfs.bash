# A busybox-static root filesystem. One pristine copy is built per suite run (in
# $NSFD_SUITE_CACHE) and copied with cp -a into each bundle.

# nsfd_busybox_rootfs DEST: fill DEST (created if missing) with a busybox rootfs.
nsfd_busybox_rootfs () {
	local pristine
	pristine=$(_nsfd_pristine_rootfs) || return 1
	mkdir -p "$1"
	cp -a "$pristine/." "$1/"
}

_nsfd_pristine_rootfs () {
	local p=$NSFD_SUITE_CACHE/rootfs
	if [[ ! -f $p.done ]]; then
		# Tests of one run may race to build it: build aside, rename under a lock.
		(
			flock 9
			[[ -f $p.done ]] && exit 0
			rm -rf "$p" "$p.tmp"
			_nsfd_build_rootfs "$p.tmp" && mv "$p.tmp" "$p" && touch "$p.done"
		) 9>"$NSFD_SUITE_CACHE/rootfs.lock" || {
			echo "nsfd_busybox_rootfs: could not build the busybox rootfs" >&2
			return 1
		}
	fi
	printf '%s\n' "$p"
}

_nsfd_build_rootfs () {
	local root=$1 bb app
	bb=$(command -v busybox) || { echo "busybox not found (busybox-static)" >&2; return 1; }
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,var,run}
	chmod 1777 "$root/tmp"
	chmod 700 "$root/root"
	cp "$bb" "$root/bin/busybox"
	# --list-full gives each applet's usual place (bin/, sbin/, usr/bin/, usr/sbin/).
	while IFS= read -r app; do
		case $app in '' | linuxrc | */busybox) continue ;; esac
		mkdir -p "$root/$(dirname "$app")"
		ln -sf /bin/busybox "$root/$app"
	done < <("$root/bin/busybox" --list-full)
	cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
	cat >"$root/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
nogroup:x:65534:
GROUP
}
