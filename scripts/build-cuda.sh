#!/usr/bin/env bash
# Builds `virnucpro --features cuda` on a machine with no GPU and no system CUDA.
#
# The CUDA 13.0 compiler and the libraries the link needs come from PyPI wheels into a private
# virtual environment; the driver library (libcuda), which only a GPU driver ships, is replaced
# at link time by a stub that defines every driver symbol the build references. At run time the
# binary loads the real libcuda.so.1 of the GPU machine, never the stub.
#
# Usage: scripts/build-cuda.sh [OUTPUT_DIR]
#   OUTPUT_DIR (default dist/cuda) receives the stripped binary `virnucpro`.
# Environment:
#   CUDA_COMPUTE_CAP  PTX target (default 80: runs on compute capability 8.0 and newer, 9.0 included)
#   VIRNUCPRO_CUDA_ENV  where the toolchain venv lives (default .cuda-toolchain)
#   CARGO_TARGET_DIR  build directory (default target/cuda, apart from the CPU build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

out_dir=${1:-dist/cuda}
venv=${VIRNUCPRO_CUDA_ENV:-$root/.cuda-toolchain}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/cuda}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-80}

say() { echo "[build-cuda] $*" >&2; }

# 1. The toolchain. Pinned to CUDA 13.0: PTX from a newer nvcc can be too new for a 13.0 driver.
if ! [ -x "$venv/bin/python" ]; then
    say "creating the toolchain environment in $venv"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian's python3 lacks venv until python3-venv is installed (CI runs as root).
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq python3-venv
        rm -rf "$venv" && python3 -m venv "$venv"
    fi
fi
if ! "$venv/bin/python" -c 'import nvidia' 2>/dev/null || ! [ -f "$venv/.complete" ]; then
    say "installing the CUDA 13.0 toolchain wheels (nvcc, headers, cuBLAS, cuRAND, NVRTC)"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-crt==13.0.88 \
        nvidia-cuda-cccl==13.0.85 nvidia-nvvm==13.0.88 nvidia-cuda-nvrtc==13.0.88 \
        nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
    touch "$venv/.complete"
fi
cu=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$cu/bin/nvcc" ] || { say "nvcc not found under $cu"; exit 1; }
export PATH="$cu/bin:$PATH" CUDA_ROOT="$cu" CUDA_PATH="$cu" CUDA_HOME="$cu"
say "nvcc: $("$cu/bin/nvcc" --version | tail -1); compute capability $CUDA_COMPUTE_CAP"

# 2. The link folder: unversioned names for the PyPI libraries, and a libcuda stub defining the
#    driver API as cudarc (candle's CUDA layer) declares it. The Rust libraries are built with LTO
#    and hold LLVM bitcode that the system nm cannot read, so the declarations are the list;
#    defining more symbols than are referenced costs nothing.
link_dir="$CARGO_TARGET_DIR/cuda-link"
mkdir -p "$link_dir"
for lib in cublas cublasLt curand nvrtc cudart; do
    real=$(find "$cu/lib" "$(dirname "$cu")" -name "lib$lib.so.*" 2>/dev/null | sort | head -1)
    [ -n "$real" ] || { say "lib$lib.so.* not found in the toolchain environment"; exit 1; }
    ln -sf "$real" "$link_dir/lib$lib.so"
done
cargo fetch --locked
cudarc_src=$(cargo metadata --locked --format-version 1 --features virnucpro-cli/cuda |
    "$venv/bin/python" -c 'import json, os, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "cudarc":
        print(os.path.join(os.path.dirname(p["manifest_path"]), "src", "driver", "sys"))')
[ -d "$cudarc_src" ] || { say "cudarc's driver bindings not found"; exit 1; }
grep -rhoE '\bfn cu[A-Z][A-Za-z0-9_]*' "$cudarc_src" | sed 's/^fn //' | sort -u \
    >"$link_dir/driver-symbols.txt"
count=$(wc -l <"$link_dir/driver-symbols.txt")
[ "$count" -gt 100 ] || { say "only $count driver symbols found in $cudarc_src"; exit 1; }
sed 's/.*/void &(void) {}/' "$link_dir/driver-symbols.txt" >"$link_dir/libcuda_stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$link_dir/libcuda.so" "$link_dir/libcuda_stub.c"
say "libcuda stub defines $count driver symbols"

# 3. One build of the binary. The link folder goes to the final crate only (not RUSTFLAGS), so
#    changing it never rebuilds a dependency. A cold build takes about 7 minutes on 2 idle cores.
cargo rustc --release --locked --features cuda -p virnucpro-cli --bin virnucpro -- \
    -L "native=$link_dir"

mkdir -p "$out_dir"
cp "$CARGO_TARGET_DIR/release/virnucpro" "$out_dir/virnucpro"
strip "$out_dir/virnucpro"
# Smoke test without a GPU: with the stub standing in for the driver, the binary must load and
# its CPU path must work.
smoke=$(mktemp -d)
cp "$link_dir/libcuda.so" "$smoke/libcuda.so.1"
for lib in cublas cublasLt curand nvrtc cudart; do ln -sf "$(readlink -f "$link_dir/lib$lib.so")" "$smoke/"; done
LD_LIBRARY_PATH="$smoke" "$out_dir/virnucpro" --version >&2
LD_LIBRARY_PATH="$smoke" "$out_dir/virnucpro" -q chunk examples/demo.fa -L 500 -o "$smoke/demo.fa" >&2
rm -rf "$smoke"
size=$(du -m "$out_dir/virnucpro" | cut -f1)
say "built $out_dir/virnucpro (${size} MiB, stripped); it needs at run time:"
readelf -d "$out_dir/virnucpro" | awk '/NEEDED/ {print "  " $NF}' >&2
