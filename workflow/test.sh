#!/usr/bin/env bash
# Runs the Snakemake workflow on the demo data in 3 shards and checks that the merged result is
# the result of one whole run: same frames in the same order, same labels, scores within 1e-5,
# the same consensus. Snakemake comes from PyPI into a private venv when it is not on PATH.
#
# Usage: bash workflow/test.sh [WORK_DIR]   (run from anywhere; needs cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"

if command -v snakemake >/dev/null 2>&1; then
    snakemake=snakemake
else
    venv=${VIRNUCPRO_SNAKEMAKE_ENV:-$work/snakemake-env}
    bash scripts/python-venv.sh "$venv" snakemake snakemake
    snakemake="$venv/bin/snakemake"
fi

cargo build --release --locked --quiet -p virnucpro-cli
bin=$(pwd)/target/release/virnucpro

echo "== workflow: examples/demo.fa in 3 shards ($("$snakemake" --version))"
"$snakemake" -s workflow/Snakefile --configfile workflow/config.yaml --cores 2 --quiet rules \
    --config outdir="$work/workflow_out" virnucpro="$bin" shards=3
test -f "$work/workflow_out/demo/prediction_results.txt"
for i in 1 2 3; do
    grep -q '"index": '"$i" "$work/workflow_out/demo/shards/$i/run.json"
done

echo "== one whole run"
"$bin" -q predict examples/demo.fa -L 500 -o "$work/single" --device cpu \
    --esm examples/models/esm2_demo --dnabert examples/models/dnabert_demo \
    --classifier examples/models/classifier_demo

python3 - "$work/workflow_out/demo" "$work/single" <<'PY'
import sys
merged, single = sys.argv[1], sys.argv[2]
def rows(d):
    with open(f"{d}/prediction_results.txt") as f:
        return [l.rstrip("\n").split("\t") for l in f][1:]
a, b = rows(merged), rows(single)
assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
for x, y in zip(a, b):
    assert x[:2] == y[:2], (x, y)
    assert abs(float(x[2]) - float(y[2])) <= 1e-5 and abs(float(x[3]) - float(y[3])) <= 1e-5, (x, y)
ids = [r[0] for r in a]
assert len(set(ids)) == len(ids), "a frame appears twice"
for name in ("prediction_results_highestscore.csv", "sequence_summary.tsv", "viruses.fna"):
    c = [open(f"{d}/{name}").read() for d in (merged, single)]
    assert c[0] == c[1], f"{name} differs"
assert open(f"{merged}/kraken.txt").read().count("\n") == len(open(f"{single}/sequence_summary.tsv").readlines()) - 1
print(f"workflow check: {len(a)} frames in 3 shards, merged == single run")
PY
