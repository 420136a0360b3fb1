#!/usr/bin/env bats
# examples/sidecar/run.sh: the origin's sidecar flow with two runc
# containers, with the modern protocol and with --legacy.

load ../lib/common

setup_file() {
  command -v runc >/dev/null || skip "runc not installed"
  [ -x /bin/busybox ] || skip "no /bin/busybox"
  if [ -z "${NSFD_STATIC_CLI:-}" ]; then
    local src="$BATS_TEST_DIRNAME/../.."
    local b="$BATS_FILE_TMPDIR/build-static"
    cmake -S "$src" -B "$b" -DNSFD_STATIC_CLI=ON -DNSFD_BUILD_TESTS=OFF >/dev/null
    cmake --build "$b" --target nsfdsuds-cli -j2 >/dev/null
    export NSFD_STATIC_CLI="$b/cli/nsfdsuds"
  fi
}

setup() {
  nsfd_skip_unless_root
  RUN="$NSFD_REPO/examples/sidecar/run.sh"
  W="$(nsfd_tmpdir)"
}

teardown() {
  # run.sh cleans up itself; this is the safety net if it did not. Its containers live
  # under its own runc root; nsfd_cleanup then unmounts and removes everything under $W.
  if [ -d "$W/work/runc-state" ]; then
    for c in $(runc --root "$W/work/runc-state" list -q 2>/dev/null); do
      runc --root "$W/work/runc-state" delete --force "$c" 2>/dev/null || true
    done
  fi
  nsfd_cleanup
}

# Nothing left behind: no container, no mount, no process under $W.
assert_clean() {
  [ -z "$(runc --root "$W/work/runc-state" list -q 2>/dev/null)" ]
  ! awk '{print $5}' /proc/self/mountinfo | grep -q "^$W"
  local p
  for p in /proc/[0-9]*; do
    case "$(readlink "$p/root" 2>/dev/null)" in "$W"*) echo "process ${p#/proc/} still runs in $W" >&2; return 1 ;; esac
  done
}

check_results() {
  local upper="$W/work/overlay/upperdir"
  grep -q "after chroot" "$upper/app-wrote-this"
  grep -qx "root=overlay" "$upper/results"
  grep -qx "proc=ok" "$upper/results"
  grep -qx "dev=ok" "$upper/results"
  grep -qx "hosts=ok" "$upper/results"
  grep -qx "shared=hidden" "$upper/results"
  # the app container itself never had CAP_SYS_ADMIN
  local cap; cap="$(sed -n 's/^capeff=//p' "$upper/results")"
  [ $(( (0x$cap >> 21) & 1 )) -eq 0 ]
  # the stubs for runtime mounts that the lower layer already had did not
  # land in the upper directory
  [ ! -e "$upper/etc/hosts" ]
}

@test "sidecar, modern protocol: serve / connect --enter mnt" {
  run "$RUN" "$W/work"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"(modern protocol)"* ]]
  [[ "$output" == *"overlay: carried /proc"* ]]
  [[ "$output" == *"overlay: carried /etc/hosts"* ]]
  check_results
  assert_clean
}

@test "sidecar, legacy protocol: --server / --client + nsenter.sh" {
  run "$RUN" --legacy "$W/work"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"(legacy protocol)"* ]]
  [[ "$output" == *"is the mount namespace, entering it"* ]]
  check_results
  assert_clean
}

@test "sidecar: a dynamically linked nsfdsuds is refused before anything starts" {
  NSFD_STATIC_CLI=/bin/true run "$RUN" "$W/work"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not statically linked"* ]]
  assert_clean
}
