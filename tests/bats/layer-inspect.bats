#!/usr/bin/env bats
# The read-only layer tools: `nsfdsuds layer diff`, `export`, `info`, `check`
# (docs/layers.md). Layers are built by hand as overlayfs writes them
# (whiteouts are char devices 0:0, opaque directories carry
# trusted.overlay.opaque=y), so every kind of change is present at once.
bats_require_minimum_version 1.5.0
load ../lib/common

CMP=$NSFD_REPO/tests/lib/layer-tree-compare.py

# lt_write LAYERDIR: layer.json as nsfdsuds writes it, and the directory modes.
lt_meta () {
	local l=$1
	mkdir -p "$l/upper" "$l/work"
	chmod 0700 "$(dirname "$l")" "$l" "$l/work"
	cat >"$l/layer.json" <<-'EOF'
	{
	  "format": 1,
	  "xattrs": "trusted",
	  "overlayOptions": "index=off,metacopy=off,redirect_dir=off",
	  "createdAt": "2026-11-29T00:30:32Z",
	  "createdBy": "nsfdsuds 0.1.0"
	}
	EOF
	chmod 0600 "$l/layer.json"
}

# lt_fixture DIR: DIR/lower (an image) and DIR/vol's default layer whose upper
# has every kind of change relative to it. Prints the layer directory.
lt_fixture () {
	local d=$1 lo=$1/lower l=$1/vol/.nsfdsuds/default u
	mkdir -p "$lo"/{etc,del,deldir/sub,opq/keepdir,bin,usr/bin}
	echo root >"$lo/etc/passwd"
	echo keep >"$lo/etc/keep"
	echo old >"$lo/etc/mod"
	for f in chmod chown xattr mtime; do echo same >"$lo/etc/$f"; done
	chmod 0644 "$lo/etc/chmod"
	touch -d 2020-01-01 "$lo/etc/mtime"
	echo gone >"$lo/del/gone"
	echo f >"$lo/deldir/sub/f"
	echo 1 >"$lo/opq/old1"
	echo 2 >"$lo/opq/keepdir/old2"
	ln -s etc/keep "$lo/link"
	echo sh >"$lo/bin/sh"
	echo a >"$lo/usr/bin/a"
	lt_meta "$l"
	u=$l/upper
	chmod 0755 "$u"
	mkdir -p "$u"/{etc,del,opq,new/sub}
	echo new >"$u/etc/mod"
	touch -r "$lo/etc/mod" "$u/etc/mod"
	cp -a "$lo/etc/chmod" "$lo/etc/chown" "$lo/etc/xattr" "$lo/etc/mtime" "$u/etc/"
	chmod 0600 "$u/etc/chmod"
	chown 1000:1000 "$u/etc/chown"
	setfattr -n user.note -v changed "$u/etc/xattr"
	touch -d 2021-01-01 "$u/etc/mtime"
	mknod "$u/del/gone" c 0 0
	mknod "$u/deldir" c 0 0
	setfattr -n trusted.overlay.opaque -v y "$u/opq"
	echo n >"$u/opq/new"
	echo added >"$u/new/file"
	setfattr -n user.a -v 1 "$u/new/file"
	ln -s /etc/passwd "$u/new/hostlink"
	echo hl >"$u/new/hl1"
	ln "$u/new/hl1" "$u/new/sub/hl2"
	mkfifo "$u/new/fifo"
	mknod "$u/new/null" c 1 3
	mknod "$u/new/blk" b 7 0
	echo nl >"$u/new/$(printf 'a\nb')"
	ln -sfn etc/passwd "$u/link"
	chown 1234:5678 "$u/new/sub"
	touch -r "$lo/etc" "$u/etc"
	printf '%s\n' "$l"
}

# lt_merged LAYER LOWER MNT: the merged view, read-only (the upper as the top
# lower layer: whiteouts and opaque directories apply), unmounted in teardown.
lt_merged () {
	mkdir -p "$3"
	nsfd_track_mount "$3"
	mount -t overlay overlay -o "ro,lowerdir=$1/upper:$2,index=off,metacopy=off,redirect_dir=off" "$3"
}

# lt_umoci_apply LOWER LAYER_TAR OUT: an OCI image layout whose first layer is
# LOWER (plain tar) and second LAYER_TAR, unpacked by umoci into OUT/rootfs.
lt_umoci_apply () {
	local lower=$1 layer=$2 out=$3 oci
	oci=$(dirname "$out")/oci
	tar --xattrs --xattrs-include='*' --numeric-owner -C "$lower" -cf "$oci.lower.tar" .
	umoci init --layout "$oci"
	umoci new --image "$oci:t"
	umoci raw add-layer --image "$oci:t" "$oci.lower.tar"
	umoci raw add-layer --image "$oci:t" "$layer"
	umoci unpack --image "$oci:t" "$out" >/dev/null
}

lt_setup () {
	nsfd_skip_unless_root
	nsfd_require_build "$NSFD_CLI_BIN"
	command -v setfattr >/dev/null || skip "setfattr (attr) not installed"
	T=$(nsfd_tmpdir)
	L=$(lt_fixture "$T")
}

@test "diff: each kind of change is named, with --lower" {
	lt_setup
	run "$NSFD_CLI_BIN" layer diff "$T/vol" --lower "$T/lower"
	[ "$status" -eq 0 ]
	echo "$output"
	grep -qx 'M file     /etc/mod  (content)' <<<"$output"
	grep -qx 'm file     /etc/chmod  (mode)' <<<"$output"
	grep -qx 'm file     /etc/chown  (owner)' <<<"$output"
	grep -qx 'm file     /etc/xattr  (xattrs)' <<<"$output"
	grep -qx 'm file     /etc/mtime  (mtime)' <<<"$output"
	grep -qx 'D file     /del/gone' <<<"$output"
	grep -qx 'D dir      /deldir' <<<"$output"
	grep -qx 'O dir      /opq/' <<<"$output"
	grep -qx 'A file     /opq/new' <<<"$output"
	grep -qx 'A dir      /new/' <<<"$output"
	grep -qx 'A file     /new/file' <<<"$output"
	grep -qx 'A symlink  /new/hostlink' <<<"$output"
	grep -qx 'A fifo     /new/fifo' <<<"$output"
	grep -qx 'A char     /new/null' <<<"$output"
	grep -qx 'A block    /new/blk' <<<"$output"
	grep -qx 'A file     /new/a\\nb' <<<"$output"
	grep -q '^M symlink  /link  (target' <<<"$output"
	# /etc itself only has the lower's metadata: nothing to report.
	! grep -q ' /etc/\( \|$\)' <<<"$output"
}

@test "diff --json: one object per path with path, change and type" {
	lt_setup
	run --separate-stderr "$NSFD_CLI_BIN" layer diff "$T/vol" --lower "$T/lower" --json
	[ "$status" -eq 0 ]
	jq -e . >/dev/null <<<"$output"
	q () { jq -r --arg p "$1" '.changes[] | select(.path == $p) | "\(.change) \(.type) \(.details // [] | join(","))"' <<<"$output"; }
	[ "$(q /etc/mod)" = "modified file content" ]
	[ "$(q /etc/chmod)" = "metadata file mode" ]
	[ "$(q /etc/chown)" = "metadata file owner" ]
	[ "$(q /etc/xattr)" = "metadata file xattrs" ]
	[ "$(q /etc/mtime)" = "metadata file mtime" ]
	[ "$(q /del/gone)" = "deleted file " ]
	[ "$(q /deldir)" = "deleted dir " ]
	[ "$(q /opq)" = "opaque dir " ]
	[ "$(q /new/file)" = "added file " ]
	[ "$(q "$(printf '/new/a\nb')")" = "added file " ]
	[ "$(jq -r '.comparedWithLower' <<<"$output")" = true ]
	[ "$(jq -r '.summary.deleted' <<<"$output")" = 2 ]
	[ "$(jq -r '.summary.opaque' <<<"$output")" = 1 ]
}

@test "diff without --lower: lists the upper and says it cannot tell added from modified" {
	lt_setup
	run --separate-stderr "$NSFD_CLI_BIN" layer diff "$T/vol"
	[ "$status" -eq 0 ]
	grep -q 'cannot be told apart' <<<"$stderr"
	grep -qx 'P file     /etc/mod' <<<"$output"
	grep -qx 'P file     /new/file' <<<"$output"
	grep -qx 'D -        /del/gone' <<<"$output"
	grep -qx 'O dir      /opq/' <<<"$output"
	run --separate-stderr "$NSFD_CLI_BIN" layer diff "$T/vol" --json
	[ "$(jq -r '.comparedWithLower' <<<"$output")" = false ]
	[ "$(jq -r '.changes[] | select(.path == "/del/gone") | .type' <<<"$output")" = null ]
}

@test "export: umoci applying it onto the lower gives the merged view, file by file" {
	lt_setup
	command -v umoci >/dev/null || skip "umoci not installed"
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/layer.tar"
	[ "$status" -eq 0 ]
	echo "$output"
	# What the tar says: OCI whiteouts, the opaque marker, a hard link, no overlay xattrs.
	tar -tvf "$T/layer.tar" >"$T/list"
	grep -q ' del/.wh.gone$' "$T/list"
	grep -q ' .wh.deldir$' "$T/list"
	grep -q ' opq/.wh..wh..opq$' "$T/list"
	grep -q '^h.* new/sub/hl2 link to new/hl1$' "$T/list"
	grep -q '^l.* new/hostlink -> /etc/passwd$' "$T/list"
	! tar --xattrs --xattrs-include='*' -tvvf "$T/layer.tar" 2>/dev/null | grep -q 'trusted.overlay'
	lt_merged "$L" "$T/lower" "$T/merged"
	lt_umoci_apply "$T/lower" "$T/layer.tar" "$T/bundle"
	run python3 "$CMP" "$T/merged" "$T/bundle/rootfs"
	echo "$output"
	[ "$status" -eq 0 ]
	# The comparison can fail: a changed file in the merged view is noticed.
	echo different >"$T/bundle/rootfs/new/file"
	run python3 "$CMP" "$T/merged" "$T/bundle/rootfs"
	[ "$status" -eq 1 ]
	grep -q "/new/file" <<<"$output"
}

@test "export: two exports are byte-identical, digests are those of the bytes" {
	lt_setup
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/a.tar" --json
	[ "$status" -eq 0 ]
	a=$output
	sleep 1.1
	"$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/b.tar" >/dev/null
	cmp "$T/a.tar" "$T/b.tar"
	[ "$(jq -r .diffId <<<"$a")" = "sha256:$(sha256sum <"$T/a.tar" | cut -d' ' -f1)" ]
	[ "$(jq -r .digest <<<"$a")" = "$(jq -r .diffId <<<"$a")" ]
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/a.tgz" --gzip --json
	g=$output
	sleep 1.1
	"$NSFD_CLI_BIN" layer export "$T/vol" --gzip --quiet >"$T/b.tgz" 2>/dev/null
	cmp "$T/a.tgz" "$T/b.tgz"
	[ "$(jq -r .diffId <<<"$g")" = "sha256:$(zcat "$T/a.tgz" | sha256sum | cut -d' ' -f1)" ]
	[ "$(jq -r .digest <<<"$g")" = "sha256:$(sha256sum <"$T/a.tgz" | cut -d' ' -f1)" ]
	[ "$(jq -r .mediaType <<<"$g")" = application/vnd.oci.image.layer.v1.tar+gzip ]
	# A full disk is an error, not a short tar.
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" --gzip --quiet
	run --separate-stderr bash -c '"$0" layer export "$1" >/dev/full' "$NSFD_CLI_BIN" "$T/vol"
	[ "$status" -eq 1 ]
	grep -q 'writing the export to standard output: No space left on device' <<<"$stderr"
	# -o naming a device (or a fifo) writes to it; it is never replaced by a file.
	mknod "$T/null" c 1 3
	mknod "$T/full" c 1 7
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/null" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .diffId <<<"$output")" = "$(jq -r .diffId <<<"$a")" ]
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/full" --quiet
	[ "$status" -eq 1 ]
	grep -qF "writing the export to \"$T/full\": No space left on device" <<<"$stderr"
	[ "$(stat -c '%F %t:%T' "$T/null" "$T/full")" = "$(printf 'character special file 1:3\ncharacter special file 1:7')" ]
	! ls "$T" | grep -q partial
	# A change shows: a different diff ID.
	echo more >>"$L/upper/new/file"
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/c.tar" --json
	[ "$(jq -r .diffId <<<"$output")" != "$(jq -r .diffId <<<"$a")" ]
}

# lt_holder LAYER PID [BOOTID]: a holder record as nsfdsuds writes it, naming PID
# with its real start time (live while PID runs and the boot id is this one's).
lt_holder () {
	local boot=${3:-$(cat /proc/sys/kernel/random/boot_id)}
	(umask 077 && jq -n --arg b "$boot" --argjson p "$2" --argjson s "$(_nsfd_pid_starttime "$2")" \
		'{container: "web-0", bootId: $b, pid: $p, pidStartTime: $s, mode: "hook", since: "2026-11-29T00:30:35Z"}' \
		>"$1/holder.json")
}

# lt_tree_state LAYER: everything about the layer's files (names, types, modes,
# owners, sizes, mtimes, xattrs, contents), to see that nothing changed.
lt_tree_state () {
	(cd "$1" && find . -printf '%p %y %m %U:%G %s %T@\n' | LC_ALL=C sort &&
		getfattr -R -h -d -m - --absolute-names . 2>/dev/null | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort)
}

@test "info: format, lower match, counts, holder" {
	lt_setup
	run --separate-stderr "$NSFD_CLI_BIN" layer info "$T/vol" --json
	[ "$status" -eq 0 ]
	jq -e . >/dev/null <<<"$output"
	[ "$(jq -r '.format, .whiteouts, .opaqueDirs, .hardLinkedInodes, .holder.state, .inUse' <<<"$output" | xargs)" = "1 2 1 1 none false" ]
	[ "$(jq -r '.files, .dirs, .symlinks, .other' <<<"$output" | xargs)" = "10 5 2 3" ]
	[ "$(jq -r .lowerId <<<"$output")" = null ]
	# The fingerprint the hook records, then a lower that matches it and one that does not.
	id=$("$NSFD_CLI_BIN" layer info "$L" --lower "$T/lower" --json | jq -r .givenLowerId)
	[[ $id == fnv1a64:* ]]
	jq --arg id "$id" '. + {lowerId: $id}' "$L/layer.json" >"$T/m" && cat "$T/m" >"$L/layer.json"
	run --separate-stderr "$NSFD_CLI_BIN" layer info "$L" --lower "$T/lower" --json
	[ "$(jq -r .lowerMatches <<<"$output")" = true ]
	run "$NSFD_CLI_BIN" layer info "$L" --lower "$T/lower"
	grep -q '^lower       matches: ' <<<"$output"
	cp -a "$T/lower" "$T/lower2"
	echo other >"$T/lower2/usr/bin/new-tool"
	run --separate-stderr "$NSFD_CLI_BIN" layer info "$L" --lower "$T/lower2" --json
	[ "$(jq -r .lowerMatches <<<"$output")" = false ]
	run "$NSFD_CLI_BIN" layer info "$L" --lower "$T/lower2"
	grep -q 'DOES NOT MATCH' <<<"$output"
	grep -q '^holder      none$' <<<"$output"
	# Never started, no checkpoint: generation 0, no mark.
	[ "$(jq -c '[.generation, .checkpointMark]' <<<"$("$NSFD_CLI_BIN" layer info "$L" --json)")" = '[0,null]' ]
	grep -q '^checkpoint  none taken$' <<<"$output"
}

# _info_state LAYER JSON LINE...: `layer info --json` gives [generation, checkpointMark]
# as JSON, and the text form has every LINE (a grep pattern).
_info_state () {
	local layer=$1 want=$2 line
	shift 2
	run --separate-stderr "$NSFD_CLI_BIN" layer info "$layer" --json
	[ "$status" -eq 0 ] || return 1
	[ "$(jq -c '[.generation, .checkpointMark]' <<<"$output")" = "$want" ] || { echo "json: $output"; return 1; }
	run "$NSFD_CLI_BIN" layer info "$layer"
	for line in "$@"; do
		grep -q "$line" <<<"$output" || { echo "text lacks $line: $output"; return 1; }
	done
}

@test "info: the generation and the checkpoint mark, current or used since" {
	lt_setup
	echo 7 >"$L/generation"
	setfattr -n trusted.nsfdsuds.checkpoint -v 7 "$L"
	_info_state "$L" '[7,{"generation":7,"current":true}]' \
		'^generation  7 ' '^checkpoint  taken at generation 7: the layer is as it was then'
	# A container started on it since: a restore of that checkpoint would be refused.
	echo 8 >"$L/generation"
	_info_state "$L" '[8,{"generation":7,"current":false}]' \
		'^checkpoint  taken at generation 7; the layer has been used since: a restore of that checkpoint is refused$'
	# Not ours: said so, not misread.
	setfattr -n trusted.nsfdsuds.checkpoint -v 'x7' "$L"
	echo junk >"$L/generation"
	_info_state "$L" '[null,{"generation":null,"current":false}]' \
		'^generation  unreadable' '^checkpoint  mark present, its value is not a generation$'
}

@test "a layer in use: info says live, diff, export and check work and say so" {
	lt_setup
	sleep 600 3>&- &
	pid=$!
	nsfd_track_pid "$pid"
	lt_holder "$L" "$pid"
	mkdir -p "$L/work/work/leftover"
	run --separate-stderr "$NSFD_CLI_BIN" layer info "$T/vol"
	[ "$status" -eq 0 ]
	grep -q 'container "web-0" (hook mode, pid '"$pid"', since 2026-11-29T00:30:35Z): live' <<<"$output"
	run --separate-stderr "$NSFD_CLI_BIN" layer diff "$T/vol" --lower "$T/lower"
	[ "$status" -eq 0 ]
	grep -q 'in use by container "web-0"' <<<"$stderr"
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/x.tar"
	[ "$status" -eq 0 ]
	grep -q 'in use by container "web-0"' <<<"$stderr"
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol"
	[ "$status" -eq 0 ] # work/ is the mount's while it is in use: not a problem
	grep -q 'in use by container "web-0"' <<<"$stderr"
	kill "$pid"
	wait "$pid" || true
	# Now stale: reported, and --repair would fix it; a live one on another boot is stale too.
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol"
	[ "$status" -eq 1 ]
	grep -q '^problem stale-holder: ' <<<"$output"
	grep -q '^problem work-not-empty: ' <<<"$output"
}

@test "check --repair refuses while a live container holds the layer" {
	lt_setup
	sleep 600 3>&- &
	pid=$!
	nsfd_track_pid "$pid"
	lt_holder "$L" "$pid"
	# What --repair would empty if the layer were free: work/ is the live mount's.
	mkdir -p "$L/work/work/#3"
	before=$(lt_tree_state "$L")
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol" --repair
	[ "$status" -eq 1 ]
	grep -q 'in use by container "web-0"; not repairing' <<<"$stderr"
	[ "$(lt_tree_state "$L")" = "$before" ]
}

@test "check: a healthy layer is clean; a missing one could not be checked" {
	lt_setup
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q ': clean$' <<<"$output"
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol" --json
	[ "$(jq -r .clean <<<"$output")" = true ]
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol" --name nosuch
	[ "$status" -eq 2 ]
	grep -q 'could not check' <<<"$stderr"
}

# lt_broken CODE SETUP...: a fresh fixture broken by SETUP (run in the layer
# directory); check exits 1 and names CODE.
lt_broken () {
	local code=$1 d
	shift
	LT_BROKEN_N=$((${LT_BROKEN_N:-0} + 1))
	d=$(nsfd_tmpdir "b$LT_BROKEN_N-$code")
	L=$(lt_fixture "$d")
	(cd "$L" && eval "$*")
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$d/vol" --json
	echo "$code: $output"
	[ "$status" -eq 1 ]
	[ "$(jq -r --arg c "$code" '[.problems[] | select(.code == $c)] | length' <<<"$output")" -ge 1 ]
}

@test "check: each problem is reported" {
	lt_setup
	lt_broken bad-format "jq '.format = 7' layer.json >m && cat m >layer.json && rm m"
	lt_broken bad-format "jq '.xattrs = \"user\"' layer.json >m && cat m >layer.json && rm m"
	lt_broken bad-json "echo '{not json' >layer.json"
	lt_broken work-mode "chmod 0755 work"
	lt_broken work-mode "chown 1000 work"
	lt_broken upper-mode "chmod 0777 upper"
	lt_broken layer-mode "chmod 0755 ."
	lt_broken work-not-empty "mkdir -p work/work/#1 && echo x >work/work/#1/f"
	lt_broken userxattr "setfattr -n user.overlay.opaque -v y upper/opq"
	lt_broken redirect "setfattr -n trusted.overlay.redirect -v /x upper/new"
	lt_broken metacopy "setfattr -n trusted.overlay.metacopy -v '' upper/etc/mod"
	lt_broken bad-whiteout "touch upper/etc/wh && setfattr -n trusted.overlay.whiteout -v y upper/etc/wh"
	lt_broken bad-opaque "setfattr -n trusted.overlay.opaque -v y upper/new/file"
	lt_broken holder-unreadable "echo '{garbage' >holder.json"
	lt_broken holder-unreadable "mkdir holder.json"
	lt_broken stale-holder "jq -n '{container: \"gone\", bootId: \"other-boot\", pid: 1, pidStartTime: 1, mode: \"hook\", since: \"x\"}' >holder.json"
	lt_broken wh-name "touch upper/etc/.wh.sneaky"
	# The human form names them too.
	run "$NSFD_CLI_BIN" layer check "$(nsfd_tmpdir)/b9-userxattr/vol"
	grep -q '^problem userxattr: upper/opq: user.overlay.opaque' <<<"$output"
}

@test "check --repair fixes a leftover work dir and a stale holder, and nothing else" {
	lt_setup
	mkdir -p "$L/work/work/#17"
	echo half >"$L/work/work/#17/copied-up"
	mkdir "$L/work/index"
	jq -n '{container: "gone", bootId: "an-earlier-boot", pid: 1, pidStartTime: 1, mode: "runtime", since: "x"}' >"$L/holder.json"
	setfattr -n user.overlay.opaque -v y "$L/upper/opq"
	upper_before=$(lt_tree_state "$L/upper")
	meta_before=$(sha256sum <"$L/layer.json")
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol" --repair
	echo "$output"
	[ "$status" -eq 1 ] # the userxattr problem is not something to repair
	grep -qx 'repaired: emptied the leftover work directory' <<<"$output"
	grep -qx 'repaired: removed the stale holder record' <<<"$output"
	grep -q '^problem userxattr: ' <<<"$output"
	! grep -q '^problem \(work-not-empty\|stale-holder\)' <<<"$output"
	[ -d "$L/work" ] && [ -z "$(ls -A "$L/work")" ]
	[ ! -e "$L/holder.json" ]
	[ "$(stat -c '%a %u' "$L/work")" = "700 0" ]
	[ "$(lt_tree_state "$L/upper")" = "$upper_before" ]
	[ "$(sha256sum <"$L/layer.json")" = "$meta_before" ]
	setfattr -x user.overlay.opaque "$L/upper/opq"
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol"
	[ "$status" -eq 0 ]
}

@test "a layer the kernel wrote: check is clean, diff and export (through umoci) agree with the overlay" {
	lt_setup
	command -v umoci >/dev/null || skip "umoci not installed"
	local d=$T/k lo=$T/lower l m
	l=$d/vol/.nsfdsuds/default
	mkdir -p "$d"
	lt_meta "$l"
	chmod 0755 "$l/upper"
	m=$d/mnt
	mkdir -p "$m"
	nsfd_track_mount "$m"
	mount -t overlay overlay -o "lowerdir=$lo,upperdir=$l/upper,workdir=$l/work,index=off,metacopy=off,redirect_dir=off" "$m"
	rm "$m/etc/keep"
	rm -r "$m/deldir"
	rm -r "$m/opq" && mkdir "$m/opq" && echo fresh >"$m/opq/f"
	echo changed >"$m/etc/mod"
	chmod 0600 "$m/etc/chmod"
	chown 1000:1000 "$m/etc/chown"
	setfattr -n user.k -v v "$m/etc/xattr"
	ln "$m/bin/sh" "$m/bin/sh2"
	mkfifo "$m/usr/fifo"
	mknod "$m/usr/null" c 1 3
	ln -s /etc/passwd "$m/usr/hostlink"
	umount "$m"
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$d/vol"
	echo "$output"
	[ "$status" -eq 0 ]
	run --separate-stderr "$NSFD_CLI_BIN" layer diff "$d/vol" --lower "$lo"
	echo "$output"
	grep -qx 'D file     /etc/keep' <<<"$output"
	grep -qx 'D dir      /deldir' <<<"$output"
	grep -qx 'O dir      /opq/' <<<"$output"
	grep -q '^M file     /etc/mod  (content' <<<"$output"
	grep -qx 'm file     /etc/chmod  (mode)' <<<"$output"
	grep -q '^m file     /etc/chown  (owner' <<<"$output"
	grep -q '^m file     /etc/xattr  (xattrs' <<<"$output"
	grep -qx 'A fifo     /usr/fifo' <<<"$output"
	"$NSFD_CLI_BIN" layer export "$d/vol" -o "$d/layer.tar" --quiet
	lt_merged "$l" "$lo" "$d/merged"
	lt_umoci_apply "$lo" "$d/layer.tar" "$d/bundle"
	run python3 "$CMP" "$d/merged" "$d/bundle/rootfs"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "hostile upper: symlinks to /etc are stored as symlinks, never read through" {
	lt_setup
	local u=$L/upper
	ln -s /etc "$u/hostetc"
	ln -s /etc/shadow "$u/shadow"
	rm -rf "${u:?}/etc/chmod" && ln -s / "$u/etc/chmod"
	ln -s ../../../../../../../../etc "$u/bin" # where the lower has a directory
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/h.tar"
	[ "$status" -eq 0 ]
	tar -tvf "$T/h.tar" >"$T/list"
	grep -q '^l.* hostetc -> /etc$' "$T/list"
	grep -q '^l.* shadow -> /etc/shadow$' "$T/list"
	grep -q '^l.* etc/chmod -> /$' "$T/list"
	grep -q '^l.* bin -> ../../../../../../../../etc$' "$T/list"
	! grep -q ' \(hostetc\|bin\|shadow\)/' "$T/list"
	# Nothing in the tar carries a byte of the host's /etc: every regular file is
	# one of the layer's own.
	mkdir "$T/x"
	tar -C "$T/x" -xf "$T/h.tar"
	[ -z "$(cd "$T/x" && find . -type f -size +0 ! -path './etc/*' ! -path './new/*' ! -path './opq/*')" ]
	run --separate-stderr "$NSFD_CLI_BIN" layer diff "$T/vol" --lower "$T/lower"
	[ "$status" -eq 0 ]
	grep -q '^M symlink  /bin  (type' <<<"$output"
	! grep -q '^. [a-z]* *\(/bin\|/hostetc\)/' <<<"$output"
	run --separate-stderr "$NSFD_CLI_BIN" layer info "$T/vol"
	[ "$status" -eq 0 ]
	run --separate-stderr "$NSFD_CLI_BIN" layer check "$T/vol"
	[ "$status" -eq 0 ]
}

@test "hostile upper: a fifo where a file was never blocks export, diff or check" {
	lt_setup
	rm "$L/upper/etc/mod" && mkfifo "$L/upper/etc/mod"
	run --separate-stderr timeout 30 "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/f.tar"
	[ "$status" -eq 0 ]
	tar -tvf "$T/f.tar" | grep -q '^p.* etc/mod$'
	run --separate-stderr timeout 30 "$NSFD_CLI_BIN" layer diff "$T/vol" --lower "$T/lower"
	[ "$status" -eq 0 ]
	grep -q '^M fifo     /etc/mod  (type' <<<"$output"
	run --separate-stderr timeout 30 "$NSFD_CLI_BIN" layer check "$T/vol"
	[ "$status" -eq 0 ]
	run --separate-stderr timeout 30 "$NSFD_CLI_BIN" layer info "$T/vol"
	[ "$status" -eq 0 ]
}

@test "hostile upper: a 10,000-deep tree is refused at the depth limit, quickly and cleanly" {
	lt_setup
	python3 -c '
import os, sys
os.chdir(sys.argv[1])
for _ in range(10000):
    os.mkdir("d")
    os.chdir("d")
open("bottom", "w").write("x")
' "$L/upper/new"
	for cmd in "export -o $T/deep.tar" "diff --lower $T/lower" "info" "check"; do
		# shellcheck disable=SC2086
		run --separate-stderr timeout 60 "$NSFD_CLI_BIN" layer $cmd "$T/vol"
		echo "$cmd: $status $stderr"
		[ "$status" -eq 1 ] || { [ "$status" -eq 2 ] && [[ $cmd == check ]]; }
		grep -q 'deeper than 4096 levels' <<<"$stderr"
	done
	# No half-written output is left.
	[ ! -e "$T/deep.tar" ]
	[ -z "$(find "$T" -maxdepth 1 -name 'deep.tar.partial-*')" ]
}

@test "hostile upper: names with newlines and control characters; a .wh. name is refused by export" {
	lt_setup
	local u=$L/upper
	echo x >"$u/new/$(printf 'line1\nline2\ttab\001')"
	mkdir "$u/new/$(printf 'dir\nname')"
	echo y >"$u/new/$(printf 'dir\nname')/inner"
	run --separate-stderr "$NSFD_CLI_BIN" layer diff "$T/vol" --lower "$T/lower" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r --arg p "$(printf '/new/line1\nline2\ttab\001')" '.changes[] | select(.path == $p) | .change' <<<"$output")" = added ]
	[ "$(jq -r --arg p "$(printf '/new/dir\nname/inner')" '.changes[] | select(.path == $p) | .change' <<<"$output")" = added ]
	run --separate-stderr "$NSFD_CLI_BIN" layer diff "$T/vol" --lower "$T/lower"
	grep -qx 'A file     /new/line1\\nline2\\ttab\\x01' <<<"$output"
	grep -qx 'A file     /new/dir\\nname/inner' <<<"$output"
	"$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/n.tar" --quiet
	mkdir "$T/x" && tar -C "$T/x" -xf "$T/n.tar"
	[ "$(cat "$T/x/new/$(printf 'dir\nname')/inner")" = y ]
	touch "$u/new/.wh.sneaky"
	run --separate-stderr "$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/w.tar"
	[ "$status" -eq 1 ]
	grep -q '"/new/.wh.sneaky": a name starting with ".wh."' <<<"$stderr"
	[ ! -e "$T/w.tar" ]
}

@test "progress: on a terminal only, and not with --quiet" {
	lt_setup
	command -v script >/dev/null || skip "script (util-linux) not installed"
	run script -qec "$NSFD_CLI_BIN layer export $T/vol -o $T/p1.tar" /dev/null
	[ "$status" -eq 0 ]
	grep -q 'export: [0-9][0-9]* files, .* MiB/s' <<<"$output"
	run script -qec "$NSFD_CLI_BIN layer export $T/vol -o $T/p2.tar --quiet" /dev/null
	! grep -q 'export: ' <<<"$output"
	grep -q '^diffID ' <<<"$output"
	"$NSFD_CLI_BIN" layer export "$T/vol" -o "$T/p3.tar" 2>"$T/err" >/dev/null
	! grep -q 'files, ' "$T/err"
}
