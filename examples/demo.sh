#!/usr/bin/env bash
# Runs virnucpro end to end on the shipped demo data: builds the release binary, then
#   virnucpro predict examples/demo.fa -L 500 -o OUT_DIR (default demo_out/)
# with the tiny demo models in examples/models/.
#
# THE DEMO MODELS HAVE RANDOM WEIGHTS (made by examples/make_demo_models.py): the calls they give
# mean nothing. Real use needs the real ESM-2 3B, DNABERT-S and 300_model.pth / 500_model.pth.
# Usage: bash examples/demo.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo_out}"
bash scripts/ensure-hdf5.sh
cargo build --release --quiet -p virnucpro-cli
target/release/virnucpro predict examples/demo.fa -L 500 -o "$out" --force-restart \
    --esm examples/models/esm2_demo \
    --dnabert examples/models/dnabert_demo \
    --classifier examples/models/classifier_demo
echo
echo "Results in $out/ (random demo models: the calls are meaningless):"
ls -l "$out"
echo
head -n 6 "$out/prediction_results.txt"
