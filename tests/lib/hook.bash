# Helpers for the hook-mode system tests (tests/bats/hook-*.bats and every file that
# registers nsfdsuds-hook). Load after common:
#
#   load ../lib/common
#   load ../lib/hook
#
#   setup () {
#   	nsfd_hook_setup
#   }
#
# Loading it installs the default teardown nsfd_hook_teardown (it stops the syslog
# listener, removes the /dev/log it bound, then runs nsfd_cleanup); a file that needs
# its own teardown must call nsfd_hook_teardown from it.
#
#   nsfd_hook_setup                    skip unless root and nsfdsuds-hook is built
#   nsfd_hook_config [JQ_FILTER]       a config file allowing $(nsfd_tmpdir vols); prints its path
#   nsfd_hook_bundle DIR CFG [--without STAGE]... [--hook-stderr] [nsfd_bundle options]
#                                      nsfd_bundle plus the three hook stages
#   nsfd_hook_stderr_take              what the hooks wrote to stderr under crun (with
#                                      --hook-stderr) since the last call
#   nsfd_hook_volume [NAME]            a volume dir under the allowed prefix; prints its path
#   nsfd_tree_digest DIR               a listing (type, mode, owner, size, link, sha256) of DIR
#   nsfd_hook_snapshot FILE            host mount table minus other people's /tmp mounts
#   nsfd_hook_assert_clean ID BEFORE   no mount change, no /run/nsfdsuds/ID, no mounter left
#   nsfd_syslog_start                  a /dev/log listener (skips the test if /dev/log is
#                                      someone else's); lines go to $(nsfd_syslog_file)
#   nsfd_syslog_wait REGEX [SECS]      bounded wait for a matching log line
#   nsfd_wait_gone PID [SECS]          bounded wait for a process to exit
#   nsfd_persist_bundle DIR CFG VOL [opts]  a bundle for the persistence scenario
#   nsfd_persist_roundtrip RUNTIME [opts]   write, delete, recreate, check (see below)
#   nsfd_mounter_pids                  pids of nsfdsuds-hook processes holding this test's files

NSFD_HOOK_RUNDIR=/run/nsfdsuds

# The default teardown of a file that loads this one.
teardown () {
	nsfd_hook_teardown
}

# nsfd_hook_setup: the common setup of a hook-mode test (call it from setup).
nsfd_hook_setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_HOOK_BIN"
}

# nsfd_hook_config [JQ_FILTER]: write a config (root-owned, 0644) that allows volumes
# under $(nsfd_tmpdir vols), logs at debug level to stderr and syslog, and apply an
# optional jq edit (e.g. '.mounterLifetimeSeconds = 3'). Prints the path.
nsfd_hook_config () {
	local dir cfg vols
	dir=$(nsfd_tmpdir etc)
	vols=$(nsfd_tmpdir vols)
	cfg=$dir/config.json
	jq -n --arg v "$vols" '{allowedVolumePrefixes: [$v], logLevel: "debug", log: ["stderr", "syslog"],
		handshakeTimeoutSeconds: 10, mounterLifetimeSeconds: 60}' | jq "${1:-.}" >"$cfg" || return 1
	chmod 0644 "$cfg"
	printf '%s\n' "$cfg"
}

# nsfd_hook_volume [NAME]: a fresh volume directory under the allowed prefix.
nsfd_hook_volume () {
	nsfd_tmpdir "vols/${1:-vol}"
}

# nsfd_hook_bundle DIR CFG [--without STAGE]... [--hook-stderr] [nsfd_bundle options]:
# the bundle with nsfdsuds-hook registered at createRuntime, createContainer and
# poststop (each with --config CFG), minus the stages named by --without. --hook-stderr:
# crun appends the hooks' stderr to $(nsfd_hook_stderr_file) (see nsfd_hook_stderr_take).
nsfd_hook_bundle () {
	local dir=$1 cfg=$2 st
	shift 2
	local -A skip=()
	local -a rest=() hooks=()
	while (($#)); do
		case $1 in
		--without)
			skip[$2]=1
			shift 2
			;;
		--hook-stderr)
			rest+=(--annotation "run.oci.hooks.stderr=$(nsfd_hook_stderr_file)")
			shift
			;;
		*)
			rest+=("$1")
			shift
			;;
		esac
	done
	for st in createRuntime createContainer poststop; do
		[[ -n ${skip[$st]:-} ]] && continue
		hooks+=(--hook "$st" "$NSFD_HOOK_BIN" --config "$cfg" "$st")
	done
	nsfd_bundle "$dir" "${rest[@]}" "${hooks[@]}"
}

# runc quotes a failed hook's stderr in its own error; crun does not, unless the bundle
# has the annotation run.oci.hooks.stderr=FILE (crun then appends every hook's stderr to
# FILE). So a test that checks the hook's reason for a refusal on either runtime builds
# with nsfd_hook_bundle --hook-stderr and adds nsfd_hook_stderr_take to the output.
nsfd_hook_stderr_file () {
	local f
	f=$(nsfd_tmpdir)/hook-stderr
	[[ -e $f ]] || : >"$f"
	printf '%s\n' "$f"
}

# nsfd_hook_stderr_take: print what the hooks wrote there since the last call, and empty
# the file (under runc it stays empty).
nsfd_hook_stderr_take () {
	local f
	f=$(nsfd_hook_stderr_file)
	cat "$f"
	: >"$f"
}

# nsfd_tree_digest DIR: one line per entry (path, type, mode, uid:gid, size of files,
# link target) and the sha256 of every regular file, sorted. Timestamps are left out.
# Does not cross into other filesystems.
nsfd_tree_digest () {
	(
		cd "$1" || exit 1
		find . -xdev -printf '%p %y %m %U:%G %l\n' | LC_ALL=C sort
		find . -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	)
}

# nsfd_hook_snapshot FILE: nsfd_mount_snapshot without mounts under /tmp that are not
# this test's (other suites may run on the same machine at the same time).
nsfd_hook_snapshot () {
	local mine
	mine=$(nsfd_tmpdir)
	awk -v mine="$mine" '
		($5 ~ /^\/tmp\// && index($5, mine) != 1) { next }
		{ $1 = ""; $2 = ""; sub(/^  /, ""); print }' /proc/self/mountinfo | LC_ALL=C sort >"$1"
}

# nsfd_mounter_pids: nsfdsuds-hook processes of this build that hold a file of this
# test open (a mounter keeps the layer directories of its volume open until it exits).
nsfd_mounter_pids () {
	local mine exe p
	mine=$(nsfd_tmpdir)
	while IFS= read -r exe; do
		p=${exe%/exe}
		if find "$p/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null | grep -qF "$mine/"; then
			printf '%s\n' "${p#/proc/}"
		fi
	done < <(find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$NSFD_HOOK_BIN" 2>/dev/null)
}

# nsfd_wait_gone PID [SECS]: wait (bounded, default 10 s) until PID has exited.
nsfd_wait_gone () {
	nsfd_wait_until "${2:-10}" nsfd_pid_gone "$1"
}

# nsfd_hook_assert_clean ID BEFORE: the host is as before the container: same mount
# table (BEFORE from nsfd_hook_snapshot), no runtime dir, no mounter process.
nsfd_hook_assert_clean () {
	local id=$1 before=$2 after pids
	after=$(nsfd_tmpdir .snap)/after.$RANDOM
	nsfd_hook_snapshot "$after"
	nsfd_assert_mounts_equal "$before" "$after" || return 1
	if [[ -e $NSFD_HOOK_RUNDIR/$id ]]; then
		echo "left behind: $NSFD_HOOK_RUNDIR/$id" >&2
		ls -la "$NSFD_HOOK_RUNDIR/$id" >&2
		return 1
	fi
	pids=$(nsfd_mounter_pids)
	if [[ -n $pids ]]; then
		echo "mounter still running for $id: $pids" >&2
		return 1
	fi
}

# --- syslog ---------------------------------------------------------------------------
# There is no syslog daemon on the test machines. nsfd_syslog_start binds /dev/log (an
# AF_UNIX datagram socket, as syslog(3) expects) with a small python listener that
# appends every message to $(nsfd_syslog_file). If /dev/log exists already and is not
# ours, the test is skipped: the messages would go to a daemon we cannot read.

nsfd_syslog_file () {
	printf '%s/syslog.txt\n' "$(nsfd_tmpdir)"
}

# The listener: one datagram per message, written as one line.
_NSFD_SYSLOG_PY='
import os, socket, sys
log, ready = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
st = os.stat("/dev/log")
open(ready, "w").write("%d %d\n" % (st.st_dev, st.st_ino))
with open(log, "ab", buffering=0) as f:
    while True:
        data = s.recv(65536)
        f.write(data.rstrip(b"\0\n") + b"\n")
'

_nsfd_no_dev_log () {
	[[ ! -e /dev/log && ! -L /dev/log ]]
}

# READY PID: the listener has bound /dev/log; skips the test if it lost a race for
# /dev/log with another run (the bind failed and the listener exited).
_nsfd_syslog_bound () {
	[[ -s $1 ]] && return 0
	if nsfd_pid_gone "$2"; then
		skip "/dev/log was taken by another test run"
	fi
	return 1
}

nsfd_syslog_start () {
	local log ready pid
	log=$(nsfd_syslog_file)
	ready=$(nsfd_tmpdir)/syslog.ready
	# Another run of these tests may hold it for a few seconds: wait a little.
	if ! nsfd_wait_until 15 _nsfd_no_dev_log 2>/dev/null; then
		skip "/dev/log exists (a syslog daemon or another test run owns it)"
	fi
	: >"$log"
	python3 -c "$_NSFD_SYSLOG_PY" "$log" "$ready" </dev/null >/dev/null 2>&1 3>&- &
	pid=$!
	nsfd_track_pid "$pid"
	echo "$pid" >"$(nsfd_tmpdir)/syslog.pid"
	NSFD_WAIT_INTERVAL=0.05 nsfd_wait_until 5 _nsfd_syslog_bound "$ready" "$pid" && return 0
	echo "nsfd_syslog_start: the listener did not bind /dev/log" >&2
	return 1
}

# nsfd_syslog_wait REGEX [SECS]: wait until a log line matches the ERE (default 10 s).
nsfd_syslog_wait () {
	local re=$1 log
	log=$(nsfd_syslog_file)
	nsfd_wait_until "${2:-10}" grep -Eq -- "$re" "$log" 2>/dev/null && return 0
	echo "nsfd_syslog_wait: no line matching /$re/ in the system log; it has:" >&2
	cat "$log" >&2 2>/dev/null
	return 1
}

# Stop the listener and remove /dev/log, but only the socket it bound (same inode).
_nsfd_syslog_stop () {
	local base ready pid dev ino
	base=$NSFD_SUITE_TMP/$(_nsfd_test_key)
	ready=$base/syslog.ready
	[[ -s $ready ]] || return 0
	pid=$(cat "$base/syslog.pid" 2>/dev/null)
	read -r dev ino <"$ready"
	if [[ -S /dev/log && $(stat -c '%d %i' /dev/log) == "$dev $ino" ]]; then
		rm -f /dev/log
	fi
	[[ -n $pid ]] && kill "$pid" 2>/dev/null
	rm -f "$ready"
	return 0
}

nsfd_hook_teardown () {
	_nsfd_syslog_stop
	nsfd_cleanup
}

# --- the persistence scenario (hook-persist.bats, hook-userns.bats) -----------------

# The script both containers run: the first makes the changes, every run reports.
_nsfd_write_persist_script () {
	cat >"$1/nsfd-test.sh" <<'SH'
if [ -e /etc/x ]; then
	echo run=second
else
	echo hello >/etc/x
	mkdir -p /var/lib/app
	echo rows >/var/lib/app/db
	rm /etc/old.conf
	rm -rf /opt/olddir
	mkdir /opt/olddir
	echo new >/opt/olddir/c
	echo run=first
fi
echo "x=$(cat /etc/x)"
echo "db=$(cat /var/lib/app/db)"
echo "olddir=$(ls -A /opt/olddir | tr '\n' ' ')"
[ -e /etc/old.conf ] && echo old=present || echo old=gone
echo "volume-entries=$(ls -A /data | wc -l)"
echo "rootfs-magic=$(stat -f -c %t /)"
grep ' / / ' /proc/self/mountinfo | sed 's/^/root-mount=/'
SH
	chmod 755 "$1/nsfd-test.sh"
}

# A rootfs with the lower-layer things the test changes, and the mount point of the
# volume made in advance (the runtime would create it in the rootfs itself).
nsfd_persist_bundle () {
	local b=$1 cfg=$2 vol=$3
	shift 3
	nsfd_hook_bundle "$b" "$cfg" --mount "$vol:/data" --annotation nsfdsuds.io/persist=/data \
		--args "/bin/sh /nsfd-test.sh" "$@"
	mkdir -p "$b/rootfs/opt/olddir" "$b/rootfs/data"
	echo a >"$b/rootfs/opt/olddir/a"
	echo b >"$b/rootfs/opt/olddir/b"
	echo old >"$b/rootfs/etc/old.conf"
	_nsfd_write_persist_script "$b/rootfs"
	if [[ $(jq -r '.linux.uidMappings // [] | length' "$b/config.json") != 0 ]]; then
		chown -R -h "$NSFD_USERNS_HOST_ID:$NSFD_USERNS_HOST_ID" "$b/rootfs"
	fi
}

nsfd_expect_line () {
	grep -qxF -- "$1" <<<"$output" || { echo "expected line: $1"; return 1; }
}

# nsfd_persist_roundtrip RUNTIME [nsfd_bundle options]: the whole persistence scenario.
nsfd_persist_roundtrip () {
	local rt=$1 b vol cfg id1 id2 lower_before lower_after snap layer
	shift
	cfg=$(nsfd_hook_config)
	b=$(nsfd_tmpdir bundle)
	vol=$(nsfd_hook_volume)
	nsfd_persist_bundle "$b" "$cfg" "$vol" "$@"
	lower_before=$(nsfd_tree_digest "$b/rootfs")
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"

	id1=$(nsfd_unique_id "persist1-$rt")
	nsfd_run_container "$rt" "$b" "$id1"
	echo "first run ($id1): status $status"; echo "$output"
	[ "$status" -eq 0 ]
	nsfd_expect_line run=first
	nsfd_delete "$rt" "$id1" || true
	nsfd_hook_assert_clean "$id1" "$snap"

	layer=$vol/.nsfdsuds/default
	[ -f "$layer/layer.json" ]
	[ -f "$layer/upper/etc/x" ]
	[ ! -e "$layer/holder.json" ] || { echo "holder.json not released:"; cat "$layer/holder.json"; false; }

	id2=$(nsfd_unique_id "persist2-$rt")
	nsfd_run_container "$rt" "$b" "$id2"
	echo "second run ($id2): status $status"; echo "$output"
	[ "$status" -eq 0 ]
	nsfd_expect_line run=second
	nsfd_expect_line x=hello
	nsfd_expect_line db=rows
	nsfd_expect_line "olddir=c "
	nsfd_expect_line old=gone
	# The volume itself is not visible at its destination inside the new root.
	nsfd_expect_line volume-entries=0
	nsfd_expect_line rootfs-magic=794c7630
	[[ $output == *"root-mount="*" - overlay "* ]]
	nsfd_delete "$rt" "$id2" || true
	nsfd_hook_assert_clean "$id2" "$snap"
	[ ! -e "$layer/holder.json" ]

	# The image is exactly as before both runs.
	lower_after=$(nsfd_tree_digest "$b/rootfs")
	diff <(echo "$lower_before") <(echo "$lower_after")
}
