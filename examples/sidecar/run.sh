#!/bin/bash
# The origin's sidecar flow with two runc containers sharing a socket
# directory (see README.md).  Usage: run.sh [--legacy] [WORKDIR]
#   --legacy   use the origin protocol (--server / --client + nsenter.sh)
#   WORKDIR    where to build the bundles (kept afterwards for inspection;
#              default: a mktemp directory, removed afterwards)
# Env: NSFD_STATIC_CLI  a statically linked nsfdsuds (else one is built with
#                       cmake into WORKDIR/build-static)
#      RUNC             runtime binary (default: runc)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
RUNC="${RUNC:-runc}"
MODE=modern
WORK=""
OWN_WORK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --legacy) MODE=legacy ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) WORK="$1" ;;
  esac
  shift
done
if [ -z "$WORK" ]; then
  WORK="$(mktemp -d /tmp/A-sidecar.XXXXXX)"
  OWN_WORK=1
fi
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
STATE="$WORK/runc-state"
ID="A-sidecar-$$"
APP="$ID-app"
PRIV="$ID-priv"

log() { echo "run.sh: $*"; }

cleanup() {
  local rc=$?
  set +e
  for c in "$PRIV" "$APP"; do
    if "$RUNC" --root "$STATE" state "$c" >/dev/null 2>&1; then
      "$RUNC" --root "$STATE" kill "$c" KILL >/dev/null 2>&1
      "$RUNC" --root "$STATE" delete --force "$c" >/dev/null 2>&1
    fi
  done
  # Nothing of ours should be mounted on the host; if something is (a
  # propagation surprise), take it down, deepest first.
  awk -v w="$WORK" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  if [ "$OWN_WORK" = 1 ]; then
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

# --- the static nsfdsuds --------------------------------------------------
NSFD="${NSFD_STATIC_CLI:-}"
if [ -z "$NSFD" ]; then
  log "building a static nsfdsuds into $WORK/build-static"
  cmake -S "$SRC" -B "$WORK/build-static" -DNSFD_STATIC_CLI=ON -DNSFD_BUILD_TESTS=OFF >/dev/null
  cmake --build "$WORK/build-static" --target nsfdsuds-cli -j2 >/dev/null
  NSFD="$WORK/build-static/cli/nsfdsuds"
fi
if ! file -L "$NSFD" 2>/dev/null | grep -q 'statically linked'; then
  echo "run.sh: $NSFD is not statically linked (it must run inside busybox containers)" >&2
  exit 1
fi

# --- root filesystems: busybox + symlinks, nsfdsuds, the scripts ----------
make_rootfs() {
  local r="$1"
  mkdir -p "$r"/{bin,dev,proc,sys,tmp,etc,scripts,exclude/shared,exclude/overlay}
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
  done
  cp "$NSFD" "$r/bin/nsfdsuds"
  cp "$HERE"/scripts/*.sh "$r/scripts/"
  echo "root:x:0:0:root:/:/bin/sh" > "$r/etc/passwd"
  echo "root:x:0:" > "$r/etc/group"
  touch "$r/etc/hosts" "$r/etc/resolv.conf" "$r/etc/hostname"
}

# What a kubelet would provide: /etc/hosts, resolv.conf, hostname, bind-mounted.
mkdir -p "$WORK/shared" "$WORK/overlay" "$WORK/etc"
printf '127.0.0.1 localhost\n10.0.0.42 A-sidecar-marker\n' > "$WORK/etc/hosts"
printf 'nameserver 127.0.0.53\n' > "$WORK/etc/resolv.conf"
echo "a-app" > "$WORK/etc/hostname"

ALLCAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL",
"CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_LINUX_IMMUTABLE","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST",
"CAP_NET_ADMIN","CAP_NET_RAW","CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_SYS_MODULE","CAP_SYS_RAWIO",
"CAP_SYS_CHROOT","CAP_SYS_PTRACE","CAP_SYS_PACCT","CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_NICE",
"CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_MKNOD","CAP_LEASE","CAP_AUDIT_WRITE",
"CAP_AUDIT_CONTROL","CAP_SETFCAP","CAP_MAC_OVERRIDE","CAP_MAC_ADMIN","CAP_SYSLOG","CAP_WAKE_ALARM",
"CAP_BLOCK_SUSPEND","CAP_AUDIT_READ"]'

bind() { printf '{"destination":"%s","type":"bind","source":"%s","options":["rbind","rw"]}' "$2" "$1"; }

for c in app priv; do
  make_rootfs "$WORK/$c/rootfs"
  (cd "$WORK/$c" && rm -f config.json && "$RUNC" spec)
done

# The app: runc's default (unprivileged) capabilities plus CAP_SYS_CHROOT for
# its final chroot, as Docker's defaults have it.  No CAP_SYS_ADMIN.
jq --arg mode "$MODE" \
   --argjson m1 "$(bind "$WORK/shared" /exclude/shared)" \
   --argjson m2 "$(bind "$WORK/overlay" /exclude/overlay)" \
   --argjson m3 "$(bind "$WORK/etc/hosts" /etc/hosts)" \
   --argjson m4 "$(bind "$WORK/etc/resolv.conf" /etc/resolv.conf)" \
   --argjson m5 "$(bind "$WORK/etc/hostname" /etc/hostname)" '
  .process.terminal = false | .process.args = ["/bin/sh", "/scripts/app.sh", $mode]
  | .root.readonly = false | .hostname = "a-app"
  | .process.capabilities |= with_entries(.value += ["CAP_SYS_CHROOT"])
  | .mounts += [$m1, $m2, $m3, $m4, $m5]' "$WORK/app/config.json" > "$WORK/app/config.json.new"
mv "$WORK/app/config.json.new" "$WORK/app/config.json"

# The sidecar: every capability (but CAP_SYS_RESOURCE, which this machine's
# bounding set lacks), nothing masked; only the socket dir shared.
jq --arg mode "$MODE" --argjson caps "$ALLCAPS" \
   --argjson m1 "$(bind "$WORK/shared" /exclude/shared)" '
  .process.terminal = false | .process.args = ["/bin/sh", "/scripts/priv.sh", $mode]
  | .root.readonly = false | .hostname = "a-priv"
  | .process.capabilities = {bounding: $caps, effective: $caps, permitted: $caps}
  | .linux.maskedPaths = [] | .linux.readonlyPaths = []
  | .mounts += [$m1]' "$WORK/priv/config.json" > "$WORK/priv/config.json.new"
mv "$WORK/priv/config.json.new" "$WORK/priv/config.json"

# --- run ------------------------------------------------------------------
wait_stopped() {
  local c="$1" i
  for i in $(seq 600); do
    case "$("$RUNC" --root "$STATE" state "$c" 2>/dev/null | jq -r .status)" in
      stopped|"") return 0 ;;
    esac
    sleep 0.1
  done
  log "$c still running after 60 s"
  return 1
}

log "mode $MODE, work dir $WORK"
log "starting the app container $APP (unprivileged)"
"$RUNC" --root "$STATE" run -d --bundle "$WORK/app" "$APP" > "$WORK/app.log" 2>&1 < /dev/null
for i in $(seq 100); do [ -S "$WORK/shared/nsfdsuds.socket" ] && break; sleep 0.1; done
[ -S "$WORK/shared/nsfdsuds.socket" ] || { log "the app never listened"; cat "$WORK/app.log"; exit 1; }

log "starting the privileged sidecar $PRIV"
"$RUNC" --root "$STATE" run -d --bundle "$WORK/priv" "$PRIV" > "$WORK/priv.log" 2>&1 < /dev/null
wait_stopped "$PRIV"
wait_stopped "$APP"
echo "----- sidecar output"
cat "$WORK/priv.log"
echo "----- app output"
cat "$WORK/app.log"
echo "-----"

# --- what happened ----------------------------------------------------------
fail=0
check() { if eval "$2"; then log "ok: $1"; else log "FAILED: $1"; fail=1; fi; }
UPPER="$WORK/overlay/upperdir"
check "the app's write landed in the upper directory" "grep -q 'after chroot' '$UPPER/app-wrote-this' 2>/dev/null"
check "its root was the overlay" "grep -qx 'root=overlay' '$UPPER/results' 2>/dev/null"
for k in proc:/proc dev:/dev/null hosts:/etc/hosts sys:/sys; do
  check "${k#*:} works in the new root" "grep -qx '${k%%:*}=ok' '$UPPER/results' 2>/dev/null"
done
check "the shared directory stayed out of the new root" "grep -qx 'shared=hidden' '$UPPER/results' 2>/dev/null"
check "the app had no CAP_SYS_ADMIN" \
  "c=\$(sed -n 's/^capeff=//p' '$UPPER/results'); [ -n \"\$c\" ] && [ \$(( (0x\$c >> 21) & 1 )) -eq 0 ]"
check "nothing of $WORK is mounted on the host" "! awk '{print \$5}' /proc/self/mountinfo | grep -q '^$WORK'"
log "upper directory now holds: $(cd "$UPPER" 2>/dev/null && ls -A | tr '\n' ' ')"
exit "$fail"
