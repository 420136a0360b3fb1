#!/bin/bash
# Install what the build and the test suite need on Debian 12 (run as root). Idempotent:
# does nothing, not even apt-get update, when everything is already installed.
set -euo pipefail

BUILD_DEPS=(cmake gcc pkg-config libyajl-dev libarchive-dev libssl-dev make)
TEST_DEPS=(bats runc crun podman containerd busybox-static jq python3 python3-grpcio python3-grpc-tools
           debootstrap uidmap iproute2 valgrind clang libclang-rt-14-dev file catatonit lxc umoci skopeo bindfs
           attr acl)

[[ $(id -u) == 0 ]] || { echo "install-deps: must run as root" >&2; exit 1; }

missing=()
for p in "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"; do
	if [[ $(dpkg-query -W -f '${Status}' "$p" 2>/dev/null) != "install ok installed" ]]; then
		missing+=("$p")
	fi
done
((${#missing[@]})) || exit 0

echo "install-deps: installing ${missing[*]}"
log=$(mktemp /tmp/nsfd-install-deps.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
# A mirror snapshot may be past its Release file's Valid-Until; retry without that check.
if ! apt-get update -q >"$log" 2>&1; then
	apt-get update -q -o Acquire::Check-Valid-Until=false >"$log" 2>&1 || {
		tail -n 20 "$log" >&2
		echo "install-deps: apt-get update failed (log: $log)" >&2
		exit 1
	}
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	tail -n 20 "$log" >&2
	echo "install-deps: apt-get install failed (log: $log)" >&2
	exit 1
fi
rm -f "$log"
echo "install-deps: done"
