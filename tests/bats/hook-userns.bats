#!/usr/bin/env bats
# Hook mode with a user namespace (container root = host uid 100000): the persistence
# scenario of hook-persist.bats; what the container writes is owned by the mapped ids
# in the layer, and it survives recreation.

load ../lib/common
load ../lib/hook

setup () {
	nsfd_hook_setup
}

# Files the container created or changed are owned by the mapped root in the upper dir;
# the overlay's own metadata uses trusted.* xattrs (the layer is mounted from the host).
_check_upper_ownership () {
	local upper
	upper=$(nsfd_hook_volume)/.nsfdsuds/default/upper
	ls -lnR "$upper"
	[ "$(stat -c %u:%g "$upper/etc/x")" = 100000:100000 ]
	[ "$(stat -c %u:%g "$upper/var/lib/app/db")" = 100000:100000 ]
	[ "$(stat -c %u:%g "$upper/var/lib/app")" = 100000:100000 ]
	[ "$(stat -c %u:%g "$upper/opt/olddir/c")" = 100000:100000 ]
	# The whiteout of the deleted lower file is a 0:0 character device.
	[ "$(stat -c '%F %t:%T' "$upper/etc/old.conf")" = "character special file 0:0" ]
	# Nothing in the upper directory belongs to host root except what the layer made.
	[ -z "$(find "$upper" -mindepth 1 -uid 0 ! -type c)" ]
	[ "$(jq -r .xattrs "$(nsfd_hook_volume)/.nsfdsuds/default/layer.json")" = trusted ]
}

@test "hook userns: a user-namespaced root survives recreation, owned by 100000 (runc)" {
	nsfd_skip_preopening_runc runc
	nsfd_persist_roundtrip runc --userns
	_check_upper_ownership
}

@test "hook userns: a user-namespaced root survives recreation, owned by 100000 (crun)" {
	nsfd_persist_roundtrip crun --userns
	_check_upper_ownership
}
