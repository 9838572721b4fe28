#!/usr/bin/env bash
# Runs on a lent GPU machine (no Rust, no network), from the repository root, after
# scripts/device-bundle.sh prepared .device-bundle/ here and the device tool carried it:
#   1. lists the CUDA libraries found and what the binary resolves;
#   2. the self-check: every golden model comparison on the GPU in fp32, fp16 and bf16, and the
#      same on the CPU of that machine, as tables;
#   3. the multi-worker engine on the GPU (two workers on one card) against the CPU result, and
#      the GPU determinism bound: one input under several token budgets and worker counts;
#   4. speed: ESM-2 3B (random weights, 20000 proteins of 60-166 aa, budget 16384, fp16) beside
#      the PyTorch reference on the same card, and DNABERT-S (117M) at 500 bp beside its
#      PyTorch reference; GPU memory and the share of the matrix peak.
# Everything is written to $OUT (device-check.log and one file per step).
#
# Usage (device tool): bash scripts/device-check.sh [quick]   ("quick": 2000 proteins)
set -uo pipefail
cd "$(dirname "$0")/.."
B=.device-bundle
OUT=${OUT:-$(mktemp -d)}
SEQS=20000
[ "${1:-}" = quick ] && SEQS=2000
PEAK=${PEAK_TFLOPS:-989}   # H100/H200 dense fp16/bf16 matrix peak (SXM), TFLOP/s
exec > >(tee "$OUT/device-check.log") 2>&1

step() { echo; echo "=== $* ($(date +%T))"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1

step "libraries"
libdirs=$(python3 - <<'PY'
import glob, os, site
dirs = set()
for base in site.getsitepackages() + ["/usr/local/cuda/lib64", "/usr/local/nvidia/lib64"]:
    for pat in ("libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libnvrtc.so.13", "libcudart.so.13"):
        for f in glob.glob(os.path.join(base, "**", pat), recursive=True):
            dirs.add(os.path.dirname(f))
print(":".join(sorted(dirs)))
PY
)
export LD_LIBRARY_PATH="$B/lib:${libdirs}:${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ldd "$B/virnucpro" | grep -E "not found|cuda|cublas|curand|nvrtc|hdf5"
V="$B/virnucpro"
$V --version
$V utils list-devices

step "self-check on the GPU (fp32, fp16, bf16)"
$V utils self-check --golden "$B/golden" --device cuda:0 --precision all | tee "$OUT/selfcheck-gpu.txt"
echo "self-check gpu exit: ${PIPESTATUS[0]}"
step "self-check on this machine's CPU (fp32), for comparison"
$V -t 16 utils self-check --golden "$B/golden" --device cpu --precision fp32 | tee "$OUT/selfcheck-cpu.txt"

step "engine: two workers on one GPU against the CPU"
work=$(mktemp -d)
$V -q predict examples/demo.fa -L 500 -o "$work/cpu" --device cpu --esm examples/models/esm2_demo \
    --dnabert examples/models/dnabert_demo --classifier examples/models/classifier_demo
$V predict examples/demo.fa -L 500 -o "$work/gpu" --device cuda:0 --workers 2 --precision fp32 \
    --esm examples/models/esm2_demo --dnabert examples/models/dnabert_demo \
    --classifier examples/models/classifier_demo
python3 - "$work/cpu" "$work/gpu" <<'PY'
import sys
rows = [[l.split("\t") for l in open(f"{d}/prediction_results.txt")][1:] for d in sys.argv[1:]]
a, b = rows
worst = max(max(abs(float(x[2]) - float(y[2])), abs(float(x[3]) - float(y[3]))) for x, y in zip(a, b))
same = [x[:2] for x in a] == [y[:2] for y in b]
print(f"demo predict, GPU fp32 with 2 workers vs CPU: {len(a)} frames, ids+labels identical: {same}, max score diff {worst:.1e}")
PY

step "determinism on the GPU: one input in several batchings (issue 12, item 8)"
# The same demo input with token budgets 256, 2048 and 16384 and 1 or 2 workers, in fp32 and
# fp16: the largest score difference between batchings, and whether the files are identical.
for prec in fp32 fp16; do
    for run in "256 1" "2048 1" "16384 1" "2048 2"; do
        set -- $run
        $V -q predict examples/demo.fa -L 500 -o "$work/det-$prec-$1-$2" --device cuda:0 \
            --precision "$prec" --token-budget "$1" --workers "$2" --esm examples/models/esm2_demo \
            --dnabert examples/models/dnabert_demo --classifier examples/models/classifier_demo
    done
    python3 - "$prec" "$work"/det-"$prec"-* <<'PY' | tee -a "$OUT/determinism-gpu.txt"
import sys
prec, dirs = sys.argv[1], sys.argv[2:]
rows = [[l.split("\t") for l in open(f"{d}/prediction_results.txt")][1:] for d in dirs]
base = rows[0]
worst = max(max(abs(float(x[2]) - float(y[2])), abs(float(x[3]) - float(y[3])))
            for r in rows[1:] for x, y in zip(base, r))
texts = {open(f"{d}/prediction_results.txt").read() for d in dirs}
print(f"GPU {prec}: {len(dirs)} batchings, byte-identical: {len(texts) == 1}, max score diff {worst:.1e}")
PY
done

step "speed: ESM-2 3B, $SEQS proteins, fp16, budget 16384, beside PyTorch"
timeout 420 $V bench esm2 --shape 3B --seqs "$SEQS" --budget 16384 --device cuda:0 --precision fp16 \
    --peak-tflops "$PEAK" --torch-ref "$B/torch_esm_ref.py" | tee "$OUT/bench-esm2-3B.txt"

step "speed: DNABERT-S 117M at 500 bp, fp16, budget 16384, beside PyTorch"
timeout 240 $V bench dnabert --seqs "$SEQS" --budget 16384 --device cuda:0 --precision fp16 \
    --peak-tflops "$PEAK" --torch-ref "$B/torch_dnabert_ref.py" | tee "$OUT/bench-dnabert.txt"

step "done"
