#!/usr/bin/env bats
# Hostile documents (docs/security.md, "Hostile inputs"): the OCI state on the hook's
# stdin, the annotations in it, the bundle's config.json and the volume it names. Each
# test runs nsfdsuds-hook createRuntime directly with a crafted state (no container
# needed: this is exactly what a runtime hands the hook) and checks the refusal, its
# text, that it came in bounded time, and that nothing was created: the volume is still
# empty, no /run/nsfdsuds/<id>, no mounter process, the host mount table as before.

load ../lib/common
load ../lib/hook
load ../lib/security

setup () {
	nsfd_hook_setup
	cfg=$(sec_config)
	vol=$(nsfd_hook_volume)
	b=$(nsfd_tmpdir bundle)
	sec_bundle "$b" "$vol"
	id=$(nsfd_unique_id in)
	st=$(nsfd_tmpdir .hook)/state.json
	snap=$(nsfd_tmpdir .snap)/before
	nsfd_hook_snapshot "$snap"
	# A live process stands in for the container's init.
	pid=$(sec_init_pid)
}

# _refused EXPECT: run createRuntime on $st, expect status 1 and EXPECT in the error,
# within 5 s, and nothing left anywhere.
_refused () {
	sec_hook "$cfg" createRuntime "$st"
	sec_assert_refused "$1"
	awk -v e="$sec_elapsed" 'BEGIN { exit !(e < 5) }'
	_nothing_created
}

_nothing_created () {
	[ -z "$(ls -A "$vol")" ] || { echo "the volume changed:"; ls -lAR "$vol"; return 1; }
	sec_assert_no_leftovers "$id" "$snap"
}

# A state with annotations ANN (a JSON object).
_state_ann () {
	sec_state "$id" "$b" "$pid" "$1" >"$st"
}

# --- the OCI state on stdin ------------------------------------------------------------

@test "security input: state is not JSON" {
	printf 'hello, hook\n' >"$st"
	_refused 'OCI state on stdin: state: invalid JSON: lexical error'
}

@test "security input: state is truncated" {
	sec_state "$id" "$b" "$pid" | head -c 60 >"$st"
	_refused 'OCI state on stdin: state: invalid JSON: parse error: premature EOF'
}

@test "security input: state is empty" {
	: >"$st"
	_refused 'OCI state on stdin: state: empty document'
}

@test "security input: state over 1 MiB" {
	# Valid JSON that activates the container, padded past the limit: refused by size
	# before it is parsed.
	{ sec_state "$id" "$b" "$pid" | head -c -2; printf ',"pad":"'; head -c 1100000 /dev/zero | tr '\0' x; printf '"}'; } >"$st"
	_refused 'OCI state on stdin is larger than 1048576 bytes'
}

@test "security input: state nested 100000 levels deep" {
	{ printf '{"ociVersion":"1.0.2","id":"%s","status":"creating","pid":%s,"bundle":"%s","annotations":{"nsfdsuds.io/persist":"/data"},"x":' "$id" "$pid" "$b"
	  head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero | tr '\0' ']'; printf '}'; } >"$st"
	_refused 'OCI state on stdin: state: invalid JSON: nesting deeper than 64 levels'
}

@test "security input: state field of the wrong type (id is a number)" {
	printf '{"ociVersion":"1.0.2","id":7,"status":"creating","pid":%s,"bundle":"%s","annotations":{"nsfdsuds.io/persist":"/data"}}' "$pid" "$b" >"$st"
	_refused 'state: id: expected a string, got a number'
}

@test "security input: annotation value of the wrong type (a number)" {
	_state_ann '{"nsfdsuds.io/persist":5}'
	_refused 'state: annotations["nsfdsuds.io/persist"]: expected a string, got a number'
}

@test "security input: state without an id" {
	printf '{"ociVersion":"1.0.2","status":"creating","pid":%s,"bundle":"%s","annotations":{"nsfdsuds.io/persist":"/data"}}' "$pid" "$b" >"$st"
	_refused 'state: missing required field "id"'
}

@test "security input: state without a bundle" {
	printf '{"ociVersion":"1.0.2","id":"%s","status":"creating","pid":%s,"annotations":{"nsfdsuds.io/persist":"/data"}}' "$id" "$pid" >"$st"
	_refused 'state: missing required field "bundle"'
}

@test "security input: state with a duplicate id" {
	printf '{"ociVersion":"1.0.2","id":"%s","id":"other","status":"creating","pid":%s,"bundle":"%s","annotations":{"nsfdsuds.io/persist":"/data"}}' "$id" "$pid" "$b" >"$st"
	_refused 'state: duplicate field "id"'
}

@test "security input: state with a duplicate annotation" {
	_state_ann '{"nsfdsuds.io/persist":"/data","nsfdsuds.io/persist":"/etc"}'
	_refused 'state: duplicate field "annotations.nsfdsuds.io/persist"'
}

@test "security input: state with a relative bundle path" {
	printf '{"ociVersion":"1.0.2","id":"%s","status":"creating","pid":%s,"bundle":"bundle","annotations":{"nsfdsuds.io/persist":"/data"}}' "$id" "$pid" >"$st"
	_refused 'state: bundle: "bundle" is not an absolute path'
}

@test "security input: container id with a path and a newline cannot forge a log line" {
	printf '{"ociVersion":"1.0.2","id":"../x\\nnsfdsuds-hook: info: container y: persistent root set up","status":"creating","pid":%s,"bundle":"%s","annotations":{"nsfdsuds.io/persist":"/data"}}' "$pid" "$b" >"$st"
	_refused 'container id "../x\x0ansfdsuds-hook: info: container y: persistent root set up" starts with "."'
	# One line: the newline is shown escaped, so no fake "info" line appears.
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	[[ $output == *'container ../x\x0ansfdsuds-hook: info: container y: persistent root set up: createRuntime:'* ]]
	[ ! -e "$NSFD_HOOK_RUNDIR/x" ]
}

# The runtime keeps the pipe open and never writes: the hook gives up after its 10 s
# bound (the real one, tested once) instead of holding the runtime forever.
@test "security input: stdin that never closes is given up after 10 s" {
	local fifo w
	fifo=$(nsfd_tmpdir)/stdin.fifo
	mkfifo "$fifo"
	exec {w}<>"$fifo"
	printf '{"ociVersion":"1.0.2","id":"%s",' "$id" >&$w
	sec_hook "$cfg" createRuntime "$fifo"
	exec {w}>&-
	sec_assert_refused 'reading the OCI state from stdin: Connection timed out'
	awk -v e="$sec_elapsed" 'BEGIN { exit !(e >= 9.5 && e < 12) }'
	_nothing_created
}

# --- annotations ---------------------------------------------------------------------------

@test "security input: annotation with a .. component" {
	_state_ann '{"nsfdsuds.io/persist":"/data/../../etc"}'
	_refused 'annotation "nsfdsuds.io/persist": "/data/../../etc" contains a ".." component'
}

@test "security input: annotation with a relative path" {
	_state_ann '{"nsfdsuds.io/persist":"../etc"}'
	_refused 'annotation "nsfdsuds.io/persist": "../etc" is a relative path'
}

@test "security input: annotation naming an absolute path that is not a volume (/etc)" {
	_state_ann '{"nsfdsuds.io/persist":"/etc"}'
	_refused 'annotation nsfdsuds.io/persist names "/etc", but this container has no mount there'
}

@test "security input: annotation naming the container's root" {
	_state_ann '{"nsfdsuds.io/persist":"/"}'
	_refused "\"/\" is the container's root, not a volume"
}

@test "security input: layer name with a path (../../etc)" {
	_state_ann '{"nsfdsuds.io/persist":"/data","nsfdsuds.io/layer":"../../etc"}'
	_refused 'annotation "nsfdsuds.io/layer": invalid layer name "../../etc"'
}

@test "security input: lower naming the persist volume" {
	_state_ann '{"nsfdsuds.io/persist":"/data","nsfdsuds.io/lower":"/data"}'
	_refused 'annotation "nsfdsuds.io/lower": "/data" is also the persist volume'
}

@test "security input: annotation of 2000 bytes" {
	_state_ann "{\"nsfdsuds.io/persist\":\"/$(head -c 1999 /dev/zero | tr '\0' a)\"}"
	_refused 'annotation "nsfdsuds.io/persist": value is 2000 bytes, longer than the limit of 1024'
}

@test "security input: annotation of 5000 bytes" {
	_state_ann "{\"nsfdsuds.io/persist\":\"/$(head -c 4999 /dev/zero | tr '\0' a)\"}"
	_refused 'state: annotations["nsfdsuds.io/persist"]: string of 5000 bytes is longer than the limit of 4096'
}

@test "security input: empty annotation" {
	_state_ann '{"nsfdsuds.io/persist":""}'
	_refused 'annotation "nsfdsuds.io/persist": empty value'
}

@test "security input: annotation with an escaped NUL (\\u0000)" {
	_state_ann '{"nsfdsuds.io/persist":"/data\u0000/../etc"}'
	_refused 'state: annotations["nsfdsuds.io/persist"]: contains a NUL character'
}

@test "security input: annotation with a raw NUL byte" {
	{ printf '{"ociVersion":"1.0.2","id":"%s","status":"creating","pid":%s,"bundle":"%s","annotations":{"nsfdsuds.io/persist":"/da' "$id" "$pid" "$b"
	  printf '\0ta"}}'; } >"$st"
	_refused 'OCI state on stdin: state: invalid JSON: lexical error: invalid character inside string'
}

@test "security input: annotation with a newline" {
	_state_ann '{"nsfdsuds.io/persist":"/da\nta"}'
	_refused 'annotation "nsfdsuds.io/persist": value contains a control character (byte 3)'
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
}

@test "security input: unknown key under nsfdsuds.io/" {
	_state_ann '{"nsfdsuds.io/persist":"/data","nsfdsuds.io/upper":"/etc"}'
	_refused 'annotation "nsfdsuds.io/upper": unknown key under "nsfdsuds.io/"'
}

# --- the volume ---------------------------------------------------------------------------

@test "security input: volume source outside the allowed prefixes" {
	local outside
	outside=$(nsfd_tmpdir outside/vol)
	sec_bundle "$b" "$outside"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused "volume source \"$outside\" for nsfdsuds.io/persist is outside the allowed volume prefixes"
	[ -z "$(ls -A "$outside")" ]
}

@test "security input: volume source is a symlink inside the prefix to a directory outside" {
	local outside link
	outside=$(nsfd_tmpdir outside/vol)
	link=$(nsfd_tmpdir vols)/link
	ln -s "$outside" "$link"
	sec_bundle "$b" "$link"
	sec_state "$id" "$b" "$pid" >"$st"
	# The resolved path is checked and named.
	_refused "volume source \"$outside\" for nsfdsuds.io/persist is outside the allowed volume prefixes"
	[ -z "$(ls -A "$outside")" ]
}

@test "security input: volume source with .. leaving the prefix" {
	local outside
	outside=$(nsfd_tmpdir outside/vol)
	sec_bundle "$b" "$(nsfd_tmpdir vols)/../outside/vol"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused "volume source \"$outside\" for nsfdsuds.io/persist is outside the allowed volume prefixes"
	[ -z "$(ls -A "$outside")" ]
}

@test "security input: persist naming a tmpfs, not a host volume" {
	printf '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"mounts":[{"destination":"/data","type":"tmpfs","source":"tmpfs","options":[]}]}\n' >"$b/config.json"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused 'annotation nsfdsuds.io/persist names "/data", which is a tmpfs mount, not a volume bind-mounted from a host directory'
}

@test "security input: volume that contains the rootfs" {
	local vols
	vols=$(nsfd_tmpdir vols)
	printf '{"ociVersion":"1.0.2","root":{"path":"%s"},"mounts":[{"destination":"/data","type":"bind","source":"%s","options":["rbind"]}]}\n' \
		"$vol" "$vols" >"$b/config.json"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused "the persistent volume \"$vols\" and the rootfs \"$vol\" overlap"
}

# --- config.json --------------------------------------------------------------------------

@test "security input: config.json missing" {
	rm "$b/config.json"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused "bundle \"$b\": opening config.json in the bundle: No such file or directory"
}

@test "security input: config.json is a directory" {
	rm "$b/config.json"
	mkdir "$b/config.json"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused "bundle \"$b\": config.json in the bundle is not a regular file"
}

@test "security input: config.json is a fifo (nobody writes it)" {
	rm "$b/config.json"
	mkfifo "$b/config.json"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused "bundle \"$b\": config.json in the bundle is not a regular file"
}

@test "security input: config.json is a symlink" {
	local real
	real=$(nsfd_tmpdir elsewhere)/config.json
	mv "$b/config.json" "$real"
	ln -s "$real" "$b/config.json"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused "bundle \"$b\": opening config.json in the bundle: Too many levels of symbolic links"
}

@test "security input: config.json over 1 MiB" {
	{ head -c -2 "$b/config.json"; printf ',"pad":"'; head -c 1100000 /dev/zero | tr '\0' x; printf '"}'; } >"$b/c.tmp"
	mv "$b/c.tmp" "$b/config.json"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused 'more than the limit of 1048576'
}

@test "security input: config.json is not JSON" {
	printf '{"ociVersion": "1.0.2", "root": ' >"$b/config.json"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused 'config.json: invalid JSON'
}

@test "security input: config.json without the annotation's mount (state and bundle disagree)" {
	sec_bundle "$b" "$vol" /other
	sec_state "$id" "$b" "$pid" >"$st"
	_refused 'annotation nsfdsuds.io/persist names "/data", but this container has no mount there'
}

# --- the admin config -----------------------------------------------------------------------

@test "security input: admin config writable by others is not trusted" {
	chmod 0666 "$cfg"
	sec_state "$id" "$b" "$pid" >"$st"
	_refused "configuration file \"$cfg\" is writable by group or others (mode 0666)"
}
