#!/bin/bash
# The nsfdsuds demo: a container with a persistent root filesystem.
#
# Installs what it needs (Debian 12, as root), builds the project, then with the
# real runc on this machine:
#   1. creates an OCI bundle (busybox) with a volume and the annotation
#      nsfdsuds.io/persist=/data, and nsfdsuds-hook registered at createRuntime,
#      createContainer and poststop;
#   2. runs it: the container changes its own root filesystem (writes /etc/motd,
#      installs a "package" under /usr/local, deletes /bin/vi);
#   3. deletes the container, creates a new one from the same bundle and volume,
#      and shows that every change is still there, while the image is untouched;
#   4. does the same through the runtime wrapper nsfdsuds-runtime (the way for
#      runc 1.3.6+, which a hook cannot serve);
#   5. removes everything it made (unless --keep).
#
# Usage: examples/demo/run.sh [--keep]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
keep=0
[[ ${1:-} == --keep ]] && keep=1
[[ $(id -u) == 0 ]] || { echo "demo: run as root (it starts containers)" >&2; exit 1; }

"$repo/tests/install-deps.sh"
cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$repo/build" -j2 >/dev/null
hook=$repo/build/hook/nsfdsuds-hook
wrapper=$repo/build/runtime/nsfdsuds-runtime
runc=$(command -v runc)

work=$(mktemp -d /tmp/nsfdsuds-demo.XXXXXX)
chmod 755 "$work"
ids=()
cleanup () {
	local id
	for id in "${ids[@]}"; do
		"$runc" delete --force "$id" >/dev/null 2>&1 || true
	done
	if ((keep)); then
		echo "demo: kept $work"
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT

say () { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The admin's config: which host directories may hold persistent layers.
cat >"$work/config.json" <<JSON
{ "allowedVolumePrefixes": ["$work/volumes"], "log": ["stderr"] }
JSON
mkdir -p "$work/volumes/app-data"

# An image: busybox-static and its applets.
bundle=$work/bundle
mkdir -p "$bundle/rootfs"/{bin,etc,proc,sys,dev,tmp,data,usr/local}
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in $("$bundle/rootfs/bin/busybox" --list); do
	[[ $a == busybox ]] || ln -sf busybox "$bundle/rootfs/bin/$a"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$bundle/rootfs/etc/passwd"
echo "root:x:0:" >"$bundle/rootfs/etc/group"
echo "stock image" >"$bundle/rootfs/etc/motd"
(cd "$bundle" && "$runc" spec)

# spec ARGS...: the bundle's process, volume, annotation and hooks.
spec () {
	local args='[]' a
	for a in "$@"; do
		args=$(jq -c --arg x "$a" '. + [$x]' <<<"$args")
	done
	jq --argjson a "$args" --arg h "$hook" --arg c "$work/config.json" --arg v "$work/volumes/app-data" '
		.process.terminal = false | .process.args = $a | .root.readonly = false
		| .annotations = {"nsfdsuds.io/persist": "/data"}
		| .mounts = ([.mounts[] | select(.destination != "/data")]
		             + [{destination: "/data", type: "bind", source: $v, options: ["rbind", "rw"]}])
		| .hooks = {
			createRuntime:   [{path: $h, args: ["nsfdsuds-hook", "--config", $c, "createRuntime"]}],
			createContainer: [{path: $h, args: ["nsfdsuds-hook", "--config", $c, "createContainer"]}],
			poststop:        [{path: $h, args: ["nsfdsuds-hook", "--config", $c, "poststop"]}] }' \
		"$bundle/config.json" >"$bundle/config.json.new"
	mv "$bundle/config.json.new" "$bundle/config.json"
}

run () {
	local id=$1
	ids+=("$id")
	"$runc" run --bundle "$bundle" "$id" </dev/null
	"$runc" delete --force "$id" >/dev/null 2>&1 || true
}

say "runc $("$runc" --version | awk 'NR==1 {print $3}'), hook mode: the first container changes its root filesystem"
spec sh -c 'echo "written by container one" > /etc/motd
            mkdir -p /usr/local/lib/app && echo "app v1" > /usr/local/lib/app/VERSION
            rm /bin/vi
            echo "root is: $(grep " / / " /proc/self/mountinfo | grep -o " - [^ ]*" | cut -c4-)"
            echo "motd: $(cat /etc/motd)"'
run demo-one

say "container one is deleted; a new container starts from the same bundle and volume"
spec sh -c 'echo "motd: $(cat /etc/motd)"
            echo "app: $(cat /usr/local/lib/app/VERSION)"
            if [ -e /bin/vi ]; then echo "vi: still there"; else echo "vi: deleted, as container one left it"; fi'
run demo-two

say "the image on disk is untouched; the changes live in the volume's layer"
echo "image /etc/motd: $(cat "$bundle/rootfs/etc/motd")"
echo "image /bin/vi:   $(ls "$bundle/rootfs/bin/vi")"
echo "layer upper:     $(cd "$work/volumes/app-data/.nsfdsuds/default/upper" && find . -mindepth 1 | sort | tr '\n' ' ')"

say "the same through the runtime wrapper (what runc 1.3.6+ needs): create, start, exec, delete"
jq 'del(.hooks) | .process.args = ["sh", "-c", "echo \"wrapper run sees: $(cat /etc/motd)\"; sleep 30"]' \
	"$bundle/config.json" >"$bundle/config.json.new" && mv "$bundle/config.json.new" "$bundle/config.json"
export NSFDSUDS_CONFIG=$work/config.json NSFDSUDS_RUNTIME=$runc
ids+=(demo-three)
"$wrapper" create --bundle "$bundle" demo-three </dev/null >/dev/null 2>&1
"$wrapper" start demo-three
"$wrapper" exec demo-three sh -c 'echo "exec sees: $(cat /etc/motd), root is $(grep " / / " /proc/self/mountinfo | grep -o " - [^ ]*" | cut -c4-)"'
"$wrapper" kill demo-three KILL
for _ in $(seq 50); do
	[[ $("$runc" state demo-three 2>/dev/null | jq -r .status) == stopped ]] && break
	sleep 0.1
done
"$wrapper" delete demo-three

say "done: the root filesystem outlived its containers"
