#!/usr/bin/env bash
# Makes sure the HDF5 C library and its headers (needed to build virnucpro: checkpoints and
# embedding files are HDF5) are installed, installing them where this machine allows it.
#
# - Found already (pkg-config, or Debian's /usr/include/hdf5/serial): nothing to do.
# - Debian/Ubuntu as root (or with passwordless sudo): apt-get install libhdf5-dev pkg-config.
# - Otherwise: stops with the exact command for this system, and exit 1.
#
# Usage: bash scripts/ensure-hdf5.sh   (called by examples/demo.sh and scripts/test.sh)
set -euo pipefail

have_hdf5() {
    { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists hdf5 2>/dev/null; } ||
        [ -e /usr/include/hdf5/serial/hdf5.h ] || [ -e /usr/include/hdf5.h ] ||
        [ -n "${HDF5_DIR:-}" ]
}

if have_hdf5; then
    exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        as_root=(none)
    fi
fi

if command -v apt-get >/dev/null 2>&1 && [ "${as_root[0]:-}" != none ]; then
    echo "virnucpro needs the HDF5 C library to build; installing libhdf5-dev (apt-get)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq libhdf5-dev pkg-config
    have_hdf5 && exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
    cmd="sudo apt-get install libhdf5-dev pkg-config"
elif command -v dnf >/dev/null 2>&1; then
    cmd="sudo dnf install hdf5-devel pkgconf-pkg-config"
elif command -v yum >/dev/null 2>&1; then
    cmd="sudo yum install hdf5-devel pkgconfig"
elif command -v zypper >/dev/null 2>&1; then
    cmd="sudo zypper install hdf5-devel pkg-config"
elif command -v pacman >/dev/null 2>&1; then
    cmd="sudo pacman -S hdf5 pkgconf"
elif command -v brew >/dev/null 2>&1; then
    cmd="brew install hdf5 pkg-config"
elif command -v conda >/dev/null 2>&1; then
    cmd="conda install -c conda-forge hdf5 pkg-config   (then export HDF5_DIR=\$CONDA_PREFIX)"
else
    cmd="install the HDF5 development files (headers and library) with your package manager, or set HDF5_DIR to an HDF5 installation"
fi
echo "error: virnucpro needs the HDF5 C library and headers to build, and they are not installed." >&2
echo "Install them with:" >&2
echo "    $cmd" >&2
echo "then run this command again." >&2
exit 1
