# OCI bundles: `runc spec` edited with jq.
#
#   nsfd_bundle DIR [options]
#     --args "sh -c '...'"      process.args, split like a shell command line
#     --env K=V                 add to process.env (repeat)
#     --userns                  user namespace: container 0 -> host 100000, size 65536
#                               (uid and gid); the rootfs is chowned to match
#     --annotation K=V          (repeat)
#     --mount SRC:DST[:o,o]     bind mount, options default rw; rbind is always added
#     --tmpfs DST[:o,o]         tmpfs mount (nosuid,nodev,mode=755 plus the options)
#     --hook STAGE PATH [ARG...]  STAGE: prestart|createRuntime|createContainer|
#                               startContainer|poststart|poststop. The arguments run up
#                               to the next option; args[0] is PATH.
#     --hook-env K=V            env for the hook added last (repeat)
#     --hook-timeout SECONDS    timeout for the hook added last
#     --readonly-rootfs         root.readonly = true (default false)
#     --kubelet-mounts HOSTDIR  the mounts a kubelet gives a container, sources created
#                               under HOSTDIR (see nsfd_kubelet_mount_list)
#     --jq FILTER               any further edit of config.json
#
# process.terminal is always false. DIR/rootfs is a fresh busybox rootfs. Put DIR under
# $(nsfd_tmpdir) so it is removed in teardown.

NSFD_USERNS_HOST_ID=100000
NSFD_USERNS_SIZE=65536

_nsfd_bundle_is_option () {
	case $1 in
	--args | --env | --userns | --annotation | --mount | --tmpfs | --hook | --hook-env | \
		--hook-timeout | --readonly-rootfs | --kubelet-mounts | --jq) return 0 ;;
	esac
	return 1
}

# Apply one jq edit to a config.json in place.
_nsfd_jq () {
	local cfg=$1 tmp
	shift
	tmp=$cfg.tmp
	jq "$@" "$cfg" >"$tmp" && mv -f "$tmp" "$cfg" || {
		rm -f "$tmp"
		echo "nsfd_bundle: jq $* failed" >&2
		return 1
	}
}

# A JSON array of the arguments (jq --args would take "-c" and such as its own options).
_nsfd_json_array () {
	local -a jargs=()
	local filter='[' i=0 x
	for x; do
		jargs+=(--arg "a$i" "$x")
		filter+="\$a$i,"
		i=$((i + 1))
	done
	jq -cn "${jargs[@]}" "${filter%,}]"
}

# A bind mount entry; opts is a comma list.
_nsfd_add_bind () {
	local cfg=$1 src=$2 dst=$3 opts=${4:-rw}
	_nsfd_jq "$cfg" --arg s "$src" --arg d "$dst" --arg o "rbind,$opts" \
		'.mounts += [{destination: $d, type: "bind", source: $s, options: ($o | split(","))}]'
}

nsfd_bundle () {
	local dir=$1
	shift
	local userns=0 readonly=0 kubelet='' args=''
	local -a ops=()  # deferred edits, applied in order after the spec exists
	while (($#)); do
		case $1 in
		--args) args=$2; shift 2 ;;
		--env) ops+=("env" "$2"); shift 2 ;;
		--userns) userns=1; shift ;;
		--annotation) ops+=("annotation" "$2"); shift 2 ;;
		--mount) ops+=("mount" "$2"); shift 2 ;;
		--tmpfs) ops+=("tmpfs" "$2"); shift 2 ;;
		--hook)
			local stage=$2 path=$3 hargs
			case $stage in
			prestart | createRuntime | createContainer | startContainer | poststart | poststop) ;;
			*) echo "nsfd_bundle: unknown hook stage '$stage'" >&2; return 1 ;;
			esac
			shift 3
			local -a hv=("$path")
			while (($#)) && ! _nsfd_bundle_is_option "$1"; do
				hv+=("$1")
				shift
			done
			hargs=$(_nsfd_json_array "${hv[@]}")
			ops+=("hook" "$stage $hargs")
			;;
		--hook-env) ops+=("hook-env" "$2"); shift 2 ;;
		--hook-timeout) ops+=("hook-timeout" "$2"); shift 2 ;;
		--readonly-rootfs) readonly=1; shift ;;
		--kubelet-mounts) kubelet=$2; shift 2 ;;
		--jq) ops+=("jq" "$2"); shift 2 ;;
		*) echo "nsfd_bundle: unknown option '$1'" >&2; return 1 ;;
		esac
	done

	mkdir -p "$dir"
	local cfg=$dir/config.json
	rm -f "$cfg"
	"$RUNC" spec --bundle "$dir" </dev/null 3>&- || return 1
	nsfd_busybox_rootfs "$dir/rootfs" || return 1
	_nsfd_jq "$cfg" --argjson ro "$readonly" \
		'.process.terminal = false | .root.path = "rootfs" | .root.readonly = ($ro == 1)' || return 1
	if [[ -n $args ]]; then
		local -a argv
		eval "argv=($args)"
		_nsfd_jq "$cfg" --argjson a "$(_nsfd_json_array "${argv[@]}")" \
			'.process.args = $a' || return 1
	fi
	if ((userns)); then
		_nsfd_jq "$cfg" --argjson h "$NSFD_USERNS_HOST_ID" --argjson n "$NSFD_USERNS_SIZE" '
			.linux.namespaces = ([.linux.namespaces[] | select(.type != "user")] + [{type: "user"}])
			| .linux.uidMappings = [{containerID: 0, hostID: $h, size: $n}]
			| .linux.gidMappings = [{containerID: 0, hostID: $h, size: $n}]' || return 1
		chown -R -h "$NSFD_USERNS_HOST_ID:$NSFD_USERNS_HOST_ID" "$dir/rootfs"
	fi
	if [[ -n $kubelet ]]; then
		_nsfd_kubelet_mounts "$cfg" "$kubelet" "$userns" || return 1
	fi

	local i kind val
	for ((i = 0; i < ${#ops[@]}; i += 2)); do
		kind=${ops[i]} val=${ops[i + 1]}
		case $kind in
		env) _nsfd_jq "$cfg" --arg e "$val" '.process.env += [$e]' ;;
		annotation)
			_nsfd_jq "$cfg" --arg k "${val%%=*}" --arg v "${val#*=}" '.annotations[$k] = $v' ;;
		mount)
			local src=${val%%:*} rest=${val#*:} dst opts=rw
			dst=${rest%%:*}
			[[ $rest == *:* ]] && opts=${rest#*:}
			_nsfd_add_bind "$cfg" "$src" "$dst" "$opts"
			;;
		tmpfs)
			local dst=${val%%:*} opts=''
			[[ $val == *:* ]] && opts=${val#*:}
			_nsfd_jq "$cfg" --arg d "$dst" --arg o "nosuid,nodev,mode=755${opts:+,$opts}" \
				'.mounts += [{destination: $d, type: "tmpfs", source: "tmpfs", options: ($o | split(","))}]'
			;;
		hook)
			_nsfd_jq "$cfg" --arg st "${val%% *}" --argjson a "${val#* }" \
				'.hooks[$st] += [{path: $a[0], args: $a}] | .nsfdLastHook = $st'
			;;
		hook-env)
			_nsfd_jq "$cfg" --arg e "$val" '.hooks[.nsfdLastHook][-1].env += [$e]' ;;
		hook-timeout)
			_nsfd_jq "$cfg" --argjson t "$val" '.hooks[.nsfdLastHook][-1].timeout = $t' ;;
		jq) _nsfd_jq "$cfg" "$val" ;;
		esac || return 1
	done
	_nsfd_jq "$cfg" 'del(.nsfdLastHook)'
}

# nsfd_kubelet_mount_list: the mounts of --kubelet-mounts, one per line:
#   DESTINATION MODE PROPAGATION KIND
# MODE is ro or rw as the container must see it.
nsfd_kubelet_mount_list () {
	cat <<'LIST'
/etc/hosts rw rprivate file
/etc/hostname rw rprivate file
/etc/resolv.conf rw rprivate file
/dev/termination-log rw rprivate file
/var/run/secrets/kubernetes.io/serviceaccount ro rprivate projected
/etc/config ro rprivate configmap
/data/scratch rw rprivate emptydir
/data/shared rw rslave volume
LIST
}

# Sources as a kubelet lays them out, with the options containerd's CRI plugin uses
# (rbind, a propagation, ro/rw). The service-account volume is a real tmpfs, as the
# kubelet's projected volumes are, and the rslave volume's source is a shared mount so
# that the slave relation is real. Both host mounts are tracked for cleanup.
_nsfd_kubelet_mounts () {
	local cfg=$1 host=$2 userns=$3 dst mode prop kind src
	mkdir -p "$host"
	host=$(realpath "$host")
	while read -r dst mode prop kind; do
		src=$host/$(printf '%s' "${dst#/}" | tr / -)
		case $kind in
		file)
			case $dst in
			/etc/hosts) printf '127.0.0.1\tlocalhost\n10.0.0.7\tnsfd-pod\n' >"$src" ;;
			/etc/hostname) echo nsfd-pod >"$src" ;;
			/etc/resolv.conf) printf 'nameserver 10.96.0.10\nsearch default.svc.cluster.local\n' >"$src" ;;
			*) : >"$src" ;;
			esac
			;;
		projected)
			mkdir -p "$src"
			if ! nsfd_is_mountpoint "$src"; then
				nsfd_track_mount "$src"
				mount -t tmpfs -o size=1m,mode=0755 nsfd-projected "$src" || return 1
			fi
			echo "nsfd-test-token" >"$src/token"
			echo "default" >"$src/namespace"
			echo "-----BEGIN CERTIFICATE-----" >"$src/ca.crt"
			;;
		configmap)
			mkdir -p "$src"
			echo "key=value" >"$src/app.conf"
			;;
		emptydir) mkdir -p "$src" ;;
		volume)
			mkdir -p "$src"
			if ! nsfd_is_mountpoint "$src"; then
				nsfd_track_mount "$src"
				mount --bind "$src" "$src" && mount --make-shared "$src" || return 1
			fi
			;;
		esac
		# The container's root (mapped or not) must be able to write its rw volumes.
		if ((userns)) && [[ $mode == rw ]]; then
			chown -R "$NSFD_USERNS_HOST_ID:$NSFD_USERNS_HOST_ID" "$src"
		fi
		_nsfd_add_bind "$cfg" "$src" "$dst" "$prop,$mode" || return 1
	done < <(nsfd_kubelet_mount_list)
	# containerd's CRI makes the root rslave when a mount is HostToContainer (rslave);
	# without it crun, which makes the root rprivate, turns the volume private.
	_nsfd_jq "$cfg" '.linux.rootfsPropagation = "rslave"' 
}
