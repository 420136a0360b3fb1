# Helpers for the fault, exclusive-use, image-change and soak tests
# (tests/bats/{faults,exclusive,image-change,soak-short}.bats). Load after common, hook
# and wrapper:
#
#   load ../lib/common
#   load ../lib/hook
#   load ../lib/wrapper
#   load ../lib/faults
#
#   nsfd_fault_build                 true when this build honours NSFDSUDS_TEST_FAULT
#                                    (configured with -DNSFD_TEST_FAULTS=ON)
#   nsfd_skip_unless_fault_build     skip the test otherwise
#   nsfd_fault_script ROOTFS         /nsfd-fault.sh: first run writes the "old" files,
#                                    every run drops /marker-ran and reports what it sees
#   nsfd_hook_env BUNDLE [K=V...]    set (replace) the env of every hook entry
#   nsfd_layer_digest VOL            nsfd_tree_digest of VOL's default upper, without the
#                                    marker the runs drop
#   nsfd_nsfd_pids                   pids of processes running this build's hook or wrapper
#   nsfd_wait_no_nsfd_pids [SECS]    bounded wait until there are none
#   nsfd_wait_no_rundir ID [SECS]    bounded wait until <runDir>/ID is gone
#   nsfd_write_holder VOL K=V...     a holder.json written by hand (jq --arg per pair;
#                                    pid and pidStartTime as numbers)

# The binaries of a fault build carry the names of the fault points.
nsfd_fault_build () {
	grep -qa 'worker-after-setns' "$NSFD_HOOK_BIN" 2>/dev/null &&
		grep -qa 'wrapper-after-acquire' "$NSFD_RUNTIME_BIN" 2>/dev/null
}

# Skips outside a fault build, except where the runner made one (NSFD_FAULT_BUILD_DIR):
# there a missing fault build is a failure, not a skip.
nsfd_skip_unless_fault_build () {
	nsfd_fault_build && return 0
	if [[ -n ${NSFD_FAULT_BUILD_DIR:-} ]]; then
		echo "NSFD_FAULT_BUILD_DIR=$NSFD_FAULT_BUILD_DIR is not a fault build" >&2
		return 1
	fi
	skip "not a fault build (configure with -DNSFD_TEST_FAULTS=ON; NSFD_BUILD_DIR=$NSFD_BUILD_DIR)"
}

# The container's script. The files of the first run are the "old" files every later
# run must see; /marker-ran shows that the container's command ran, and where.
nsfd_fault_script () {
	cat >"$1/nsfd-fault.sh" <<'SH'
echo ran >>/marker-ran
if [ -e /etc/f-old ]; then
	echo run=later
else
	echo old >/etc/f-old
	mkdir -p /var/lib/f
	echo rows >/var/lib/f/db
	rm -f /etc/f-gone
	echo run=first
fi
echo "old=$(cat /etc/f-old)"
echo "db=$(cat /var/lib/f/db)"
[ -e /etc/f-gone ] && echo gone=present || echo gone=absent
echo "rootfs-magic=$(stat -f -c %t /)"
SH
	chmod 755 "$1/nsfd-fault.sh"
	echo lower >"$1/etc/f-gone"
}

# nsfd_hook_env BUNDLE [K=V...]: every hook entry gets exactly this env (none when empty).
nsfd_hook_env () {
	local b=$1
	shift
	_nsfd_jq "$b/config.json" --argjson e "$(jq -cn '$ARGS.positional' --args "$@")" \
		'.hooks |= with_entries(.value |= map(.env = $e))'
}

# The upper directory of VOL's default layer as a listing with checksums. /marker-ran is
# left out (it legitimately changes every run).
nsfd_layer_digest () {
	nsfd_tree_digest "$1/.nsfdsuds/default/upper" | grep -v 'marker-ran'
}

# Processes running this build's nsfdsuds-hook or nsfdsuds-runtime (a mounter, a worker,
# an agent, a wrapper). Other builds (other people's tests) are not counted.
nsfd_nsfd_pids () {
	local exe
	while IFS= read -r exe; do
		exe=${exe%/exe}
		printf '%s\n' "${exe#/proc/}"
	done < <(find /proc -mindepth 2 -maxdepth 2 -name exe \( -lname "$NSFD_HOOK_BIN" -o -lname "$NSFD_RUNTIME_BIN" \) 2>/dev/null)
}

_nsfd_no_nsfd_pids () {
	[[ -z $(nsfd_nsfd_pids) ]]
}

nsfd_wait_no_nsfd_pids () {
	local p
	nsfd_wait_until "${1:-10}" _nsfd_no_nsfd_pids 2>/dev/null && return 0
	echo "nsfd processes still running after ${1:-10} s:" >&2
	for p in $(nsfd_nsfd_pids); do
		printf '%s: %s\n' "$p" "$(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)" >&2
	done
	return 1
}

nsfd_wait_no_rundir () {
	nsfd_wait_until "${2:-10}" test ! -e "/run/nsfdsuds/$1" 2>/dev/null && return 0
	echo "/run/nsfdsuds/$1 still exists after ${2:-10} s:" >&2
	ls -la "/run/nsfdsuds/$1" >&2
	return 1
}

# nsfd_write_holder VOL K=V...: write VOL's default layer's holder.json by hand (root,
# 0600, as nsfdsuds writes it). pid and pidStartTime become numbers, the rest strings.
nsfd_write_holder () {
	local vol=$1 kv k v
	shift
	local -a jargs=()
	local filter='{}'
	for kv; do
		k=${kv%%=*} v=${kv#*=}
		case $k in
		pid | pidStartTime) jargs+=(--argjson "$k" "$v") ;;
		*) jargs+=(--arg "$k" "$v") ;;
		esac
		filter+=" + {\"$k\": \$$k}"
	done
	(umask 077 && jq -n "${jargs[@]}" "$filter" >"$vol/.nsfdsuds/default/holder.json")
}

# nsfd_fault_snapshot FILE: the host mount table (nsfd_mount_snapshot: other people's
# /tmp, /var/lib/containers, ... mounts left out, this suite's kept).
nsfd_fault_snapshot () {
	nsfd_mount_snapshot "$1"
}

# nsfd_fault_assert_clean ID BEFORE: same mount table as BEFORE, no <runDir>/ID, no
# process of this build's hook or wrapper.
nsfd_fault_assert_clean () {
	local id=$1 before=$2 after
	after=$(nsfd_tmpdir .snap)/after.$RANDOM
	nsfd_fault_snapshot "$after"
	nsfd_assert_mounts_equal "$before" "$after" || return 1
	if [[ -e /run/nsfdsuds/$id ]]; then
		echo "left behind: /run/nsfdsuds/$id" >&2
		ls -la "/run/nsfdsuds/$id" >&2
		return 1
	fi
	if [[ -n $(nsfd_nsfd_pids) ]]; then
		echo "nsfdsuds processes left: $(nsfd_nsfd_pids | tr '\n' ' ')" >&2
		return 1
	fi
}
