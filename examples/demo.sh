#!/usr/bin/env bash
# Runs virnucpro on the shipped demo data: builds the release binary, then runs the pipeline's
# stages on examples/demo.fa into demo_out/. Usage: bash examples/demo.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo_out}"
mkdir -p "$out"
cargo build --release --quiet -p virnucpro-cli
bin=target/release/virnucpro
"$bin" chunk examples/demo.fa -L 500 -o "$out/demo.chunked500.fa"
"$bin" translate "$out/demo.chunked500.fa" \
    --nucleotide "$out/demo.identified.fna" --protein "$out/demo.identified.faa"
echo "demo outputs in $out/:"
ls -l "$out"
