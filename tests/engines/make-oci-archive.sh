#!/bin/bash
# Make an OCI image archive (for `ctr image import`) from a root filesystem tar.
#
#   tests/engines/make-oci-archive.sh ROOTFS.tar NAME[:TAG] OUT.tar [CMD_JSON]
#
# CMD_JSON (a JSON array, default ["/bin/sh"]) becomes the image's Cmd.
#
# With podman: `podman import` into a throw-away storage under a temp dir, then
# `podman save --format oci-archive` (nothing touches the host's podman storage).
# Without podman (the sid tree has none): the OCI layout is written by hand, one
# uncompressed layer. Either way no registry is involved.
set -euo pipefail

rootfs_tar=${1:?usage: make-oci-archive.sh ROOTFS.tar NAME[:TAG] OUT.tar}
name=${2:?name}
out=${3:?output}
cmd=${4:-'["/bin/sh"]'}
[[ $name == *:* ]] || name=$name:latest

work=$(mktemp -d /tmp/nsfd-oci-archive.XXXXXX)
cleanup () {
	# podman's vfs storage is plain directories; nothing is mounted below $work.
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

if [[ ${NSFD_OCI_BY_HAND:-0} != 1 ]] && command -v podman >/dev/null; then
	printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n' \
		>"$work/containers.conf"
	printf '[storage]\ndriver = "vfs"\nrunroot = "%s/run"\ngraphroot = "%s/storage"\n' "$work" "$work" \
		>"$work/storage.conf"
	export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
	changes=()
	[[ -n ${4:-} ]] && changes=(--change "CMD $cmd")
	if ! podman --tmpdir "$work/tmp" import "${changes[@]}" "$rootfs_tar" "$name" >"$work/log" 2>&1 ||
		! podman --tmpdir "$work/tmp" save --format oci-archive -o "$work/out.tar" "$name" >>"$work/log" 2>&1; then
		cat "$work/log" >&2
		exit 1
	fi
	mv -f "$work/out.tar" "$out"
	exit 0
fi

# By hand: oci-layout, index.json -> manifest -> config + one layer.
mkdir -p "$work/oci/blobs/sha256"
blob () { # FILE -> prints "sha256:<hex> <size>", stores the blob
	local h
	h=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$work/oci/blobs/sha256/$h"
	printf 'sha256:%s %s\n' "$h" "$(stat -c %s "$1")"
}
read -r layer_digest layer_size < <(blob "$rootfs_tar")
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
jq -n --arg d "$layer_digest" --arg arch "$arch" --argjson cmd "$cmd" '{
	architecture: $arch, os: "linux",
	config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: $cmd},
	rootfs: {type: "layers", diff_ids: [$d]}}' >"$work/config.json"
read -r config_digest config_size < <(blob "$work/config.json")
jq -n --arg cd "$config_digest" --argjson cs "$config_size" --arg ld "$layer_digest" --argjson ls "$layer_size" '{
	schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
	config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
	layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]}' >"$work/manifest.json"
read -r manifest_digest manifest_size < <(blob "$work/manifest.json")
jq -n --arg md "$manifest_digest" --argjson ms "$manifest_size" --arg ref "$name" '{
	schemaVersion: 2,
	manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
		annotations: {"org.opencontainers.image.ref.name": $ref}}]}' >"$work/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}\n' >"$work/oci/oci-layout"
tar -C "$work/oci" -cf "$out" oci-layout index.json blobs
