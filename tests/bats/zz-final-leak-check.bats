#!/usr/bin/env bats
# Runs last (run-all.sh and run-sid-suite.sh put it at the end): the suite must leave no
# mounts, containers, processes, sockets or cgroups behind. Run on its own it checks the same
# things against the current suite root and id prefix.
#
# Optional baseline from run-all.sh: $NSFD_LEAK_BASELINE/sockets (sockets under
# /run/nsfdsuds before the run; only new ones count, and not those named after another
# suite run's container ids, nsfdt*). $NSFD_LEAK_BUILD_DIRS lists build
# dirs whose binaries count as the suite's processes (default $NSFD_BUILD_DIR).

load ../lib/common

@test "leak check: nothing mounted under the suite temp root" {
	run nsfd_mounts_under "$NSFD_SUITE_TMP"
	[ -z "$output" ] || { echo "still mounted:"; echo "$output"; false; }
}

@test "leak check: no per-test temp dirs or failed cleanups left" {
	local left
	left=$(find "$NSFD_SUITE_TMP" -mindepth 1 -maxdepth 1 \
		! -name .cache ! -name "$(_nsfd_test_key)" ! -name ".track-$(_nsfd_test_key)" 2>/dev/null || true)
	[ -z "$left" ] || { echo "left in $NSFD_SUITE_TMP:"; echo "$left"; false; }
}

# Containers whose id has the suite prefix or whose bundle is under the suite root.
_suite_containers () {
	local rt=$1 cmd
	cmd=$(nsfd_runtime_cmd "$rt")
	$cmd list --format json </dev/null 2>/dev/null 3>&- |
		jq -r --arg p "$NSFD_ID_PREFIX-" --arg t "$NSFD_SUITE_TMP/" \
			'(. // [])[] | select((.id | startswith($p)) or ((.bundle // "") | startswith($t)))
			 | "\(.id) \(.status) \(.bundle)"'
}

@test "leak check: no suite containers left in runc list" {
	run _suite_containers runc
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "runc still has:"; echo "$output"; false; }
}

@test "leak check: no suite containers left in crun list" {
	run _suite_containers crun
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "crun still has:"; echo "$output"; false; }
}

@test "leak check: no nsfdsuds processes started from the suite's builds" {
	local dirs=${NSFD_LEAK_BUILD_DIRS:-$NSFD_BUILD_DIR} p exe d found=''
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		for d in $dirs; do
			if [[ $exe == "$d"/* ]]; then
				found+="${p#/proc/} $exe $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"$'\n'
			fi
		done
	done
	[ -z "$found" ] || { echo "still running:"; echo "$found"; false; }
}

@test "leak check: no sockets left under /run/nsfdsuds" {
	local now new
	now=$(find /run/nsfdsuds -type s 2>/dev/null | sort || true)
	if [[ -n ${NSFD_LEAK_BASELINE:-} && -f $NSFD_LEAK_BASELINE/sockets ]]; then
		# New since the run started, except those of another suite run on a shared
		# machine (a container id with the nsfdt prefix of another run).
		new=$(comm -13 "$NSFD_LEAK_BASELINE/sockets" <(printf '%s\n' "$now" | sed '/^$/d') |
			awk -v mine="/run/nsfdsuds/$NSFD_ID_PREFIX-" '
				index($0, mine) == 1 || $0 !~ "^/run/nsfdsuds/nsfdt" { print }')
	else
		new=$now
	fi
	[ -z "$new" ] || { echo "sockets left:"; echo "$new"; false; }
}

# cgroups named after the suite's containers, in any cgroup2 hierarchy mounted here (the
# host's /sys/fs/cgroup/unified; inside the sid tree it is not mounted): a runtime or CRIU
# that re-creates a container's cgroup where nothing removes it.
@test "leak check: no cgroup2 directories named after the suite's containers" {
	local m found=''
	while read -r m; do
		found+=$(find "$m" -mindepth 1 -maxdepth 3 -type d -name "$NSFD_ID_PREFIX-*" 2>/dev/null | head -n 20)
	done < <(awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "cgroup2") print $5 }' /proc/self/mountinfo)
	[ -z "$found" ] || { echo "cgroups left:"; echo "$found"; false; }
}
