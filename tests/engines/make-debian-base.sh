#!/bin/bash
# Build a Debian base image locally, with no registry: debootstrap + podman import.
#
#   tests/engines/make-debian-base.sh [SUITE [IMAGE [MIRROR]]]
#     SUITE   default bookworm
#     IMAGE   default localhost/nsfdsuds-debian:SUITE
#     MIRROR  default: the first deb URI of this machine's apt sources, else deb.debian.org
#
# Then `podman build -f Dockerfile.test -t nsfdsuds-test .` (Dockerfile.test starts FROM
# that image). The tree is made with --variant=minbase (about a minute) in a temp dir that
# is removed afterwards. Docker: `docker import` takes the same tar.
set -euo pipefail

suite=${1:-bookworm}
image=${2:-localhost/nsfdsuds-debian:$suite}
mirror=${3:-}
if [[ -z $mirror ]]; then
	mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)
	[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
	[[ -n $mirror ]] || mirror=http://deb.debian.org/debian
fi
[[ $(id -u) == 0 ]] || { echo "make-debian-base: must run as root" >&2; exit 1; }

work=$(mktemp -d /var/tmp/nsfd-debian-base.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
echo "make-debian-base: debootstrap $suite from $mirror"
debootstrap --variant=minbase "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 20 "$work/debootstrap.log" >&2
	exit 1
}
# Smaller image, same behaviour: package lists and caches are fetched again by apt-get update.
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin
tar --numeric-owner -C "$work/root" -cf - . |
	podman import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
echo "make-debian-base: $image"
