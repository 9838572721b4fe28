#!/usr/bin/env bash
# Prepares what a lent GPU machine needs for scripts/device-check.sh, in .device-bundle/ (ignored
# by git, carried by the device tool): the CUDA binary (scripts/build-cuda.sh), the shared
# libraries it needs that such a machine may lack (HDF5 and its dependencies; the CUDA libraries
# come from the machine's own PyTorch), the golden files the self-check compares against, and
# the PyTorch reference benchmark scripts. Stays under the 64 MiB a device run carries.
#
# Usage: scripts/device-bundle.sh [GOLDEN_DIR] [BENCH_DIR]   (defaults: ../shared/golden, ../shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
golden=${1:-../shared/golden}
bench=${2:-../shared/bench}
bundle=.device-bundle

scripts/build-cuda.sh "$bundle"
mkdir -p "$bundle/lib" "$bundle/golden"

# Shared libraries of the binary, less the C library family every Linux has and less CUDA's.
ldd "$bundle/virnucpro" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so.* | libm.so.* | libgcc_s.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) ;;
        libcuda.so.* | libcublas* | libcurand* | libcudart* | libnvrtc*) ;;
        *) cp -L "$lib" "$bundle/lib/" ;;
    esac
done

# The golden files the self-check reads (not the large pickles it does not).
for m in esm2_tiny dnabert_tiny; do
    mkdir -p "$bundle/golden/models/$m"
    for f in config.json model.safetensors reference.json reference.safetensors tokenizer.json \
        tokenizer_config.json special_tokens_map.json vocab.txt; do
        [ -f "$golden/models/$m/$f" ] && cp "$golden/models/$m/$f" "$bundle/golden/models/$m/"
    done
done
mkdir -p "$bundle/golden/classifier" "$bundle/golden/e2e" "$bundle/golden/inputs"
cp "$golden/classifier/tiny_mlp.pth" "$bundle/golden/classifier/"
cp "$golden"/e2e/*.prediction_results*.* "$bundle/golden/e2e/"
cp "$golden"/inputs/*.fa "$bundle/golden/inputs/"
cp "$bench/torch_esm_ref.py" scripts/torch_dnabert_ref.py "$bundle/"

echo "bundle: $(du -sh "$bundle" | cut -f1) in $bundle (the device run carries it: carry [\"$bundle\"])"
