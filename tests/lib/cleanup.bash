# Per-test temp dirs and the registry of things to clean (containers, mounts, pids).
#
# The registry is a file per test under $NSFD_SUITE_TMP, so helpers called from
# subshells (`run`, `$(...)`) register too. nsfd_cleanup (the default teardown) undoes
# everything in a fixed order: containers, pids, mounts (deepest first), temp dirs. It
# works whatever the test left behind and fails the test if something could not be
# removed.

# A key for the current test; in setup_file/teardown_file, one for the file.
_nsfd_test_key () {
	local file=${BATS_TEST_FILENAME##*/}
	file=${file%.bats}
	printf '%s-%s\n' "${file:-adhoc}" "${BATS_TEST_NUMBER:-file}"
}

_nsfd_track_file () {
	printf '%s/.track-%s\n' "$NSFD_SUITE_TMP" "$(_nsfd_test_key)"
}

_nsfd_track () {
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$(_nsfd_track_file)"
}

# nsfd_tmpdir [SUB]: print (creating it) this test's temp dir, or a subdir of it. The
# same path in every subshell of the test. Removed by nsfd_cleanup.
nsfd_tmpdir () {
	local base
	base=$NSFD_SUITE_TMP/$(_nsfd_test_key)
	if [[ ! -d $base ]]; then
		mkdir -p "$base"
		_nsfd_track dir "$base"
	fi
	if [[ -n ${1:-} ]]; then
		mkdir -p "$base/$1"
		printf '%s\n' "$base/$1"
	else
		printf '%s\n' "$base"
	fi
}

# nsfd_track_container RUNTIME ID: force-delete ID in teardown. RUNTIME is runc, crun,
# or a command line (e.g. "runc --root /x").
nsfd_track_container () {
	_nsfd_track container "$2" "$1"
}

# nsfd_track_mount PATH: lazily unmount PATH (every mount stacked there) in teardown.
nsfd_track_mount () {
	_nsfd_track mount "$(realpath -m "$1")"
}

# nsfd_track_pid PID: SIGKILL PID in teardown, by pid only and only if it is still the
# same process (its start time is recorded now).
nsfd_track_pid () {
	_nsfd_track pid "$1" "$(_nsfd_pid_starttime "$1")"
}

# Field 22 of /proc/PID/stat; the comm field may contain spaces and parentheses.
_nsfd_pid_starttime () {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	set -- $stat
	printf '%s\n' "${20}"
}

# Mount points (decoded) at or below DIR, one per line, in mountinfo order.
nsfd_mounts_under () {
	local dir
	dir=$(realpath -m "$1")
	awk -v d="$dir" '{ p = $5; if (p == d || index(p, d "/") == 1) print p }' /proc/self/mountinfo |
		while IFS= read -r p; do printf '%b\n' "$p"; done
}

nsfd_is_mountpoint () {
	local p
	p=$(realpath -m "$1")
	awk -v p="$p" '{ gsub(/\\040/, " ", $5) } $5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo
}

_nsfd_cleanup_containers () {
	local rc=0 kind id rt
	while IFS=$'\t' read -r kind id rt; do
		[[ $kind == container ]] || continue
		local cmd
		cmd=$(nsfd_runtime_cmd "$rt")
		# A container that already went is fine; one that survives delete is a leak.
		timeout 30 $cmd delete --force "$id" >/dev/null 2>&1 </dev/null 3>&- || true
		if timeout 10 $cmd state "$id" >/dev/null 2>&1 </dev/null 3>&-; then
			echo "nsfd_cleanup: container $id ($rt) survived delete --force" >&2
			rc=1
		fi
	done < <(tac "$1")
	return $rc
}

# PID START: the process that started at START is gone (another may have its pid now);
# a zombie whose parent is gone for good counts as gone.
_nsfd_pid_ended () {
	[[ $(_nsfd_pid_starttime "$1") != "$2" ]] || nsfd_pid_gone "$1"
}

_nsfd_cleanup_pids () {
	local rc=0 kind pid start
	while IFS=$'\t' read -r kind pid start; do
		[[ $kind == pid ]] || continue
		[[ $pid =~ ^[0-9]+$ ]] || continue
		[[ -n $start && $(_nsfd_pid_starttime "$pid") == "$start" ]] || continue
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		if ! nsfd_wait_until 5 _nsfd_pid_ended "$pid" "$start" 2>/dev/null; then
			echo "nsfd_cleanup: pid $pid survived SIGKILL" >&2
			rc=1
		fi
	done <"$1"
	return $rc
}

# Unmount the tracked mounts and anything mounted below a tracked dir, deepest first.
_nsfd_cleanup_mounts () {
	local rc=0 kind path rest p i
	local -a targets=()
	while IFS=$'\t' read -r kind path rest; do
		case $kind in
		mount) targets+=("$path") ;;
		dir) mapfile -t -O "${#targets[@]}" targets < <(nsfd_mounts_under "$path") ;;
		esac
	done <"$1"
	((${#targets[@]})) || return 0
	while IFS= read -r p; do
		for ((i = 0; i < 20; i++)); do
			nsfd_is_mountpoint "$p" || break
			umount -l "$p" 2>/dev/null || break
		done
		if nsfd_is_mountpoint "$p"; then
			echo "nsfd_cleanup: could not unmount $p" >&2
			rc=1
		fi
	done < <(printf '%s\n' "${targets[@]}" | awk -F/ '{ print NF "\t" $0 }' | sort -t$'\t' -k1,1nr -k2,2 -u | cut -f2-)
	return $rc
}

_nsfd_cleanup_dirs () {
	local rc=0 kind path rest
	while IFS=$'\t' read -r kind path rest; do
		[[ $kind == dir && -e $path ]] || continue
		if [[ -n $(nsfd_mounts_under "$path") ]]; then
			echo "nsfd_cleanup: not removing $path, still mounted below:" >&2
			nsfd_mounts_under "$path" >&2
			rc=1
			continue
		fi
		# Immutable or busy files must not stop the rest of the cleanup.
		rm -rf --one-file-system "$path" 2>/dev/null || {
			echo "nsfd_cleanup: could not remove $path" >&2
			rc=1
		}
	done <"$1"
	return $rc
}

# nsfd_cleanup: undo everything registered by the current test (or, in teardown_file,
# by the file-level setup). Returns non-zero, failing the test, if something survived.
nsfd_cleanup () {
	local track rc=0
	track=$(_nsfd_track_file)
	if [[ ! -f $track ]]; then
		rmdir "$NSFD_SUITE_TMP" 2>/dev/null || true
		return 0
	fi
	_nsfd_cleanup_containers "$track" || rc=1
	_nsfd_cleanup_pids "$track" || rc=1
	_nsfd_cleanup_mounts "$track" || rc=1
	_nsfd_cleanup_dirs "$track" || rc=1
	if ((rc == 0)); then
		rm -f "$track"
		# Outside run-all.sh the suite root is per bats run; leave no empty dir behind.
		rmdir "$NSFD_SUITE_TMP" 2>/dev/null || true
	else
		mv -f "$track" "$track.failed"
	fi
	return $rc
}
