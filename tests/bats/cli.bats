#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# The nsfdsuds command: origin-compatible --server/--client against an
# independent Python peer (both directions), and the modern serve/connect.

load ../lib/common

setup () {
	nsfd_require_build "$NSFD_CLI_BIN"
	NSFD=$NSFD_CLI_BIN
	PEER=$NSFD_REPO/tests/interop/legacy_peer.py
	T=$(nsfd_tmpdir)
}

# _bg CMD...: CMD in the background, tracked for teardown (killed by pid if it still
# runs) and not holding bats' fd 3; its pid in BG.
_bg () {
	"$@" </dev/null 3>&- &
	BG=$!
	nsfd_track_pid "$BG"
}

# Records the namespaces of a (server) process while it is alive.
snap_ns () {
	local t
	for t in cgroup ipc mnt net pid time user uts; do
		echo "$t $(readlink "/proc/$1/ns/$t")"
	done > "$T/ns.$1"
}

# Compares "TYPE LINK" lines with the snapshot of PID; prints how many matched.
same_as_pid () {
	local pid="$1" out="$2" n=0 type link want
	while read -r type link; do
		[ "$type" = id ] && continue
		want="$(awk -v t="$type" '$1 == t {print $2}' "$T/ns.$pid")"
		[ -n "$want" ] && [ "$link" = "$want" ] || { echo "$type: $link != $want" >&2; return 1; }
		n=$((n + 1))
	done <<< "$out"
	echo "$n"
}

@test "--version and --help" {
	run "$NSFD" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "nsfdsuds "* ]]
	run "$NSFD" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--client <socketpath> [program [args]]"* ]]
}

@test "origin argument errors keep the origin's messages and exit 1" {
	run "$NSFD"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Invalid argument count"* ]]
	run "$NSFD" --server
	[ "$status" -eq 1 ]
	[[ "$output" == *"Invalid argument count"* ]]
	run "$NSFD" --bogus "$T/s"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Invalid mode"* ]]
	run "$NSFD" --server "$T/$(printf 'x%.0s' $(seq 120))"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Socket path too long"* ]]
}

@test "legacy: Python client receives the six fds of our --server, in order" {
	_bg unshare -u -n "$NSFD" --server "$T/s"
	local spid=$BG
	nsfd_wait_until 5 test -S "$T/s"
	snap_ns "$spid"
	run python3 "$PEER" client "$T/s"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | awk '{print $1}' | tr '\n' ' ')" = "ipc mnt net pid user uts " ]
	[ "$(same_as_pid "$spid" "$output")" -eq 6 ]
	# the server's own uts/net differ from ours: the fds are really its own
	grep -vxF "uts $(readlink /proc/self/ns/uts)" "$T/ns.$spid" | grep -q "^uts "
	wait "$spid"
	[ ! -e "$T/s" ]   # unlinked after serving
}

@test "legacy: our --client receives from the Python server and execs with the fds open" {
	_bg unshare -u -n python3 "$PEER" server "$T/s"
	local spid=$BG
	nsfd_wait_until 5 test -S "$T/s"
	snap_ns "$spid"
	# execv(argv[3], argv + 4): "mysh" becomes the program's argv[0]
	run "$NSFD" --client "$T/s" /bin/sh mysh -c '
		echo "argv0 $0"
		for fd in $(ls /proc/$$/fd | sort -n); do l=$(readlink /proc/$$/fd/$fd)
			case $l in ipc:*|mnt:*|net:*|pid:*|user:*|uts:*) echo "${l%%:*} $l";; esac; done'
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "argv0 mysh" ]]
	out="$(echo "$output" | grep -v argv0)"
	[ "$(echo "$out" | awk '{print $1}' | tr '\n' ' ')" = "ipc mnt net pid user uts " ]
	[ "$(same_as_pid "$spid" "$out")" -eq 6 ]
	wait "$spid"
}

@test "legacy: --client without a program only receives; missing socket fails" {
	_bg "$NSFD" --server "$T/s"
	nsfd_wait_until 5 test -S "$T/s"
	run "$NSFD" --client "$T/s"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Received FDs and nothing more to do"* ]]
	run "$NSFD" --client "$T/missing" /bin/true
	[ "$status" -eq 1 ]
	[[ "$output" == *"while connecting to server"* ]]
	run "$NSFD" --client "$T/s2" /nonexistent 2>&1
	[ "$status" -eq 1 ]
}

@test "legacy: our --client and --server talk to each other; exec failure is exit 1" {
	_bg "$NSFD" --server "$T/s"
	nsfd_wait_until 5 test -S "$T/s"
	run "$NSFD" --client "$T/s" /nonexistent/program prog
	[ "$status" -eq 1 ]
	[[ "$output" == *"Failed to execv to program '/nonexistent/program'"* ]]
}

@test "legacy: --server replaces a stale path, refuses bad commands, bounds a silent client" {
	touch "$T/s"
	_bg env NSFDSUDS_TIMEOUT=1 "$NSFD" --server "$T/s"
	local spid=$BG
	nsfd_wait_until 5 test -S "$T/s"
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.send(bytes([42,7])); s.recv(1)' "$T/s" || true
	st=0; wait "$spid" || st=$?
	[ "$st" -eq 1 ]
	[ ! -e "$T/s" ]

	_bg env NSFDSUDS_TIMEOUT=1 "$NSFD" --server "$T/s" 2>"$T/err"
	spid=$BG
	nsfd_wait_until 5 test -S "$T/s"
	_bg python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(3)' "$T/s"
	SECONDS=0
	st=0; wait "$spid" || st=$?
	[ "$st" -eq 1 ]
	[ "$SECONDS" -le 2 ]
	grep -q "within 1000 ms" "$T/err"
}

@test "modern: connect --enter joins the server's uts and net namespaces" {
	_bg unshare -u -n sh -c "hostname A-inner-host && exec '$NSFD' serve '$T/s' --timeout 10" 2>"$T/log"
	local spid=$BG
	nsfd_wait_until 5 test -S "$T/s"
	snap_ns "$spid"
	run "$NSFD" connect "$T/s" --enter uts,net -- sh -c 'hostname; readlink /proc/self/ns/net'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "A-inner-host" ]
	grep -qxF "net ${lines[1]}" "$T/ns.$spid"
	[ "$(hostname)" != "A-inner-host" ]
	wait "$spid"
	[ ! -e "$T/s" ]
}

@test "modern: connect --enter mnt runs PROGRAM in the server's mount namespace" {
	mkdir "$T/m"
	_bg unshare -m --propagation private sh -c "mount -t tmpfs A-tmp '$T/m' && echo inside > '$T/m/f' && exec '$NSFD' serve '$T/s'"
	nsfd_wait_until 5 test -S "$T/s"
	run "$NSFD" connect "$T/s" --enter mnt -- cat "$T/m/f"
	[ "$status" -eq 0 ]
	[ "$output" = "inside" ]
	[ ! -e "$T/m/f" ]
}

@test "modern: without --enter the fds stay open and are named in NSFDSUDS_FD_*" {
	_bg unshare -u -n "$NSFD" serve "$T/s"
	local spid=$BG
	nsfd_wait_until 5 test -S "$T/s"
	snap_ns "$spid"
	run "$NSFD" connect "$T/s" -- sh -c 'for t in MNT NET UTS USER; do eval fd=\$NSFDSUDS_FD_$t; l=$(readlink /proc/$$/fd/$fd); echo "${l%%:*} $l"; done'
	[ "$status" -eq 0 ]
	[ "$(same_as_pid "$spid" "$output")" -eq 4 ]
}

@test "modern: Python v1 peers interoperate with serve and connect" {
	_bg unshare -u "$NSFD" serve "$T/s"
	local spid=$BG
	nsfd_wait_until 5 test -S "$T/s"
	snap_ns "$spid"
	run python3 "$PEER" modern-client "$T/s" mnt,uts,user
	[ "$status" -eq 0 ]
	[ "$(same_as_pid "$spid" "$output")" -eq 3 ]
	[[ "$output" == *"id nsfdsuds-serve:$spid"* ]]

	_bg unshare -u sh -c "hostname A-py && exec python3 '$PEER' modern-server '$T/s2'"
	nsfd_wait_until 5 test -S "$T/s2"
	run "$NSFD" connect "$T/s2" --enter uts -- hostname
	[ "$status" -eq 0 ]
	[ "$output" = "A-py" ]
}

@test "modern: serve --keep serves several clients, removes its socket on SIGTERM" {
	_bg "$NSFD" serve "$T/s" --keep --mode 0660
	local spid=$BG
	nsfd_wait_until 5 test -S "$T/s"
	[ "$(stat -c %a "$T/s")" = 660 ]
	for i in 1 2 3; do
		run "$NSFD" connect "$T/s" --enter uts -- true
		[ "$status" -eq 0 ]
	done
	kill -TERM "$spid"
	wait "$spid"
	[ ! -e "$T/s" ]
}

@test "modern: timeouts and bad socket paths" {
	SECONDS=0
	run "$NSFD" connect "$T/missing" --timeout 0.5 -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"gave up after 500 ms"* ]]
	run "$NSFD" serve "$T/s" --timeout 0.3
	[ "$status" -eq 1 ]
	[[ "$output" == *"no client connected"* ]]
	[ ! -e "$T/s" ]
	[ "$SECONDS" -le 3 ]
	run "$NSFD" serve "$T/no/such/dir/s" --timeout 1
	[ "$status" -eq 1 ]
	[[ "$output" == *"binding"* ]]
	echo keep > "$T/file"
	run "$NSFD" serve "$T/file" --timeout 1
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a socket"* ]]
	[ "$(cat "$T/file")" = keep ]
	run "$NSFD" serve "$T/$(printf 'x%.0s' $(seq 120))"
	[ "$status" -eq 1 ]
	run "$NSFD" connect "$T/s" --bogus -- true
	[ "$status" -eq 2 ]
	run "$NSFD" connect "$T/s"
	[ "$status" -eq 2 ]
	run "$NSFD" connect "$T/s" --enter bogus -- true
	[ "$status" -eq 2 ]
	# a server that accepts and never answers: bounded by --timeout
	_bg python3 -c 'import socket,sys,time,os; s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.listen(1); c=s.accept(); time.sleep(4)' "$T/silent"
	nsfd_wait_until 5 test -S "$T/silent"
	SECONDS=0
	run "$NSFD" connect "$T/silent" --timeout 1 -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"within"* ]]
	[ "$SECONDS" -le 2 ]
}

@test "modern: a live server's socket is not stolen; protocols do not mix" {
	_bg "$NSFD" serve "$T/s" --keep
	nsfd_wait_until 5 test -S "$T/s"
	run "$NSFD" serve "$T/s" --timeout 1
	[ "$status" -eq 1 ]
	[[ "$output" == *"another server"* ]]
	# a legacy (SOCK_STREAM) client cannot reach a SOCK_SEQPACKET server
	run "$NSFD" --client "$T/s" /bin/true
	[ "$status" -eq 1 ]
	run -127 "$NSFD" connect "$T/s" -- /nonexistent-program
	[ "$status" -eq 127 ]
}

@test "modern: connect --enter pid runs PROGRAM as a child in the server's pid namespace" {
	_bg unshare -p -f --kill-child sh -c "'$NSFD' serve '$T/s' 2>/dev/null; sleep 3"
	nsfd_wait_until 5 test -S "$T/s"
	run "$NSFD" connect "$T/s" --enter pid -- sh -c 'echo $$; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" -lt 10 ]
}
