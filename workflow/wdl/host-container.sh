#!/usr/bin/env bash
# A stand-in for `podman` that lets miniwdl run a WDL task on this host, without a container
# image: the task's bind mounts (inputs, working directory, command) are made in a private mount
# namespace (`unshare --mount`, needs root) and the task command runs there with the host's
# programs (so `virnucpro` is whatever is on PATH). For testing the WDL on machines without a
# container runtime (workflow/wdl/test.sh); real runs use Docker, Podman or Singularity.
#
# Understands what miniwdl's podman backend calls: `--version`, `pull IMAGE`, and
# `run [--rm] [--workdir DIR] [--cpus N] [--memory N] [--user U] [-v HOST:CONT[:ro]]... IMAGE CMD...`.
set -euo pipefail

case "${1:-}" in
    --version) echo "host-container 1.0 (no image: runs on this host)"; exit 0 ;;
    pull) exit 0 ;;
    run) shift ;;
    *) echo "host-container: unsupported command: $*" >&2; exit 2 ;;
esac

workdir=/
mounts=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rm|--privileged) shift ;;
        --workdir) workdir=$2; shift 2 ;;
        --cpus|--memory|--user|--device) shift 2 ;;
        -v) mounts+=("$2"); shift 2 ;;
        -*) echo "host-container: unsupported option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
shift # the image

script='set -e
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    spec=$1; shift
    ro=; case "$spec" in *:ro) ro=1; spec=${spec%:ro} ;; esac
    host=${spec%%:*}; cont=${spec#*:}
    if [ -d "$host" ]; then mkdir -p "$cont"; else mkdir -p "$(dirname "$cont")"; [ -e "$cont" ] || : > "$cont"; fi
    mount --bind "$host" "$cont"
    if [ -n "$ro" ]; then mount -o remount,bind,ro "$cont"; fi
done
shift
cd "$WORKDIR"
exec "$@"'
exec env WORKDIR="$workdir" unshare --mount --propagation private \
    bash -c "$script" host-container "${mounts[@]}" -- "$@"
