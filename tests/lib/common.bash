# Shared setup for every bats file. First line of a test file:
#
#   load ../lib/common
#
# It sets the suite variables below, loads the helpers (tests/lib/*.bash) and installs
# a default teardown that runs nsfd_cleanup. A file that defines its own teardown must
# call nsfd_cleanup from it. See docs/testing.md.
#
#   NSFD_REPO        the repository root
#   NSFD_BUILD_DIR   where the build is (default $NSFD_REPO/build; build-sid in the sid tree)
#   NSFD_HOOK_BIN, NSFD_RUNTIME_BIN, NSFD_CLI_BIN   absolute paths of the built binaries
#   NSFD_SUITE       host | sid          NSFD_SID=1 inside the sid tree
#   NSFD_SUITE_TMP   suite-wide temp root (per-test dirs live below it)
#   NSFD_SUITE_CACHE suite-wide cache (pristine rootfs, crun wrapper)
#   NSFD_ID_PREFIX   prefix of every container id the suite creates (see nsfd_unique_id)
#   RUNC, CRUN       commands to invoke the runtimes (CRUN is a generated wrapper)
#   NSFD_RUNC_VERSION, NSFD_CRUN_VERSION   e.g. 1.1.5 / 1.8.1 on the host, 1.3.6 / 1.28 in sid

NSFD_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NSFD_REPO=${NSFD_REPO:-$(cd "$NSFD_LIB_DIR/../.." && pwd)}
export NSFD_BUILD_DIR=${NSFD_BUILD_DIR:-$NSFD_REPO/build}
export NSFD_HOOK_BIN=$NSFD_BUILD_DIR/hook/nsfdsuds-hook
export NSFD_RUNTIME_BIN=$NSFD_BUILD_DIR/runtime/nsfdsuds-runtime
export NSFD_CLI_BIN=$NSFD_BUILD_DIR/cli/nsfdsuds
if [[ ${NSFD_SID:-0} == 1 ]]; then
	export NSFD_SUITE=${NSFD_SUITE:-sid}
else
	export NSFD_SUITE=${NSFD_SUITE:-host}
fi
# Outside run-all.sh each bats run gets its own root, named after bats' run dir. Not
# inside BATS_RUN_TMPDIR: bats removes that with a plain rm -rf, which would cross a
# leaked bind mount into the host.
export NSFD_SUITE_TMP=${NSFD_SUITE_TMP:-/tmp/nsfd-suite-${BATS_RUN_TMPDIR##*/}}
# Suite-wide cache (pristine rootfs, crun wrapper): never holds mounts.
export NSFD_SUITE_CACHE=${NSFD_SUITE_CACHE:-${BATS_RUN_TMPDIR:-$NSFD_SUITE_TMP}/nsfd-cache}
export NSFD_ID_PREFIX=${NSFD_ID_PREFIX:-nsfdt}
# Bundles must be reachable by a user-namespaced container's root (host uid 100000).
umask 022
mkdir -p "$NSFD_SUITE_TMP" "$NSFD_SUITE_CACHE"

source "$NSFD_LIB_DIR/wait.bash"
source "$NSFD_LIB_DIR/cleanup.bash"
source "$NSFD_LIB_DIR/rootfs.bash"
source "$NSFD_LIB_DIR/bundle.bash"
source "$NSFD_LIB_DIR/runtime.bash"
source "$NSFD_LIB_DIR/mounts.bash"

nsfd_runtime_setup

# Default teardown; override it in a test file only to add steps, and call nsfd_cleanup.
teardown () {
	nsfd_cleanup
}

# nsfd_skip_unless_root: skip the test when not running as root.
nsfd_skip_unless_root () {
	[[ $(id -u) == 0 ]] || skip "needs root"
}

# nsfd_require_build BIN...: skip when a built binary is missing (build not done yet).
nsfd_require_build () {
	local b
	for b in "$@"; do
		[[ -x $b ]] || skip "not built: $b"
	done
}

# nsfd_version_ge A B: true when version A >= version B (dotted numbers).
nsfd_version_ge () {
	[[ $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1) == "$2" ]]
}

# nsfd_runc_preopens_root: true for runc versions that open the rootfs as an fd before
# any hook runs (1.3.6+ in 1.3, 1.4.3+ in 1.4, every 1.5+); a hook cannot change their root.
nsfd_runc_preopens_root () {
	local v=$NSFD_RUNC_VERSION
	if nsfd_version_ge "$v" 1.5.0; then return 0; fi
	if nsfd_version_ge "$v" 1.4.0; then nsfd_version_ge "$v" 1.4.3; return; fi
	if nsfd_version_ge "$v" 1.3.0; then nsfd_version_ge "$v" 1.3.6; return; fi
	return 1
}

# nsfd_unique_id TAG: a container id under the suite prefix, unique within the run.
nsfd_unique_id () {
	local file=${BATS_TEST_FILENAME##*/}
	printf '%s-%s-%s-%s-%s\n' "$NSFD_ID_PREFIX" "${1:-c}" "${file%.bats}" "${BATS_TEST_NUMBER:-0}" "$RANDOM"
}
