# Bounded waiting: one helper for every "until this is true" in the suite.
#
#   nsfd_wait_until SECS CMD [ARG...]
#
# Runs CMD (a command or a shell function) until it returns 0, for at most SECS seconds
# (a whole or fractional number: 10, 0.5), with NSFD_WAIT_INTERVAL seconds (default 0.1)
# between tries. CMD runs in the current shell, so a function may set variables or call
# skip; it runs at least once, the last time at or after the deadline. Returns 0 as
# soon as CMD succeeds; on timeout prints "nsfd_wait_until: CMD ARG... did not succeed
# within SECS s" to stderr and returns 1. A condition that can also turn hopeless (the
# process it waits for died) is a function that returns 0 then, and the caller checks
# which of the two it was.

# Microseconds in SECS (digits with an optional fraction); fails on anything else.
_nsfd_wait_usecs () {
	local int frac
	[[ $1 =~ ^([0-9]*)(\.([0-9]*))?$ && $1 != . && -n $1 ]] || return 1
	int=${BASH_REMATCH[1]:-0}
	frac=${BASH_REMATCH[3]}000000
	printf '%d\n' $((10#$int * 1000000 + 10#${frac:0:6}))
}

# Now in microseconds (EPOCHREALTIME's separator follows the locale).
_nsfd_now_usecs () {
	printf '%s\n' "${EPOCHREALTIME//[!0-9]/}"
}

nsfd_wait_until () {
	local secs=${1:-} budget deadline shown
	shift || true
	if (($# == 0)) || ! budget=$(_nsfd_wait_usecs "$secs"); then
		echo "nsfd_wait_until: usage: nsfd_wait_until SECS CMD [ARG...] (got: ${secs:-nothing})" >&2
		return 2
	fi
	deadline=$(($(_nsfd_now_usecs) + budget))
	while :; do
		"$@" && return 0
		(($(_nsfd_now_usecs) < deadline)) || break
		sleep "${NSFD_WAIT_INTERVAL:-0.1}"
	done
	printf -v shown '%q ' "$@"
	echo "nsfd_wait_until: ${shown% } did not succeed within $secs s" >&2
	return 1
}

# nsfd_pid_gone PID: true when PID has exited (no such process, or a zombie).
nsfd_pid_gone () {
	[[ -e /proc/$1 ]] || return 0
	[[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]
}
