#!/usr/bin/env python3
"""Reference throughput of DNABERT-S embedding in plain PyTorch, for side-by-side runs with
`virnucpro bench dnabert` on the same card (the companion of ../shared/bench/torch_esm_ref.py).

DNABERT-S is a MosaicBERT: fused QKV, ALiBi attention bias instead of positions, post-LayerNorm,
a gated GELU feed-forward (768 -> 2 x 3072 -> 768), mean over all tokens. Its Hugging Face code
needs `trust_remote_code` and a download, so the same network is written here in plain PyTorch
with random weights, using the strongest plain recipe: length-sorted padded batches under a token
budget, fp16/bf16, scaled_dot_product_attention with the ALiBi + padding bias as its mask.

    python3 torch_dnabert_ref.py --seqs 20000 --dtype fp16 --json out.json
"""
import argparse, json, math, random, time

import torch
import torch.nn.functional as F

HIDDEN, LAYERS, HEADS, INTER, VOCAB = 768, 12, 12, 3072, 4096


def alibi_slopes(n):
    def pow2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return pow2(n)
    p = 2 ** math.floor(math.log2(n))
    return pow2(p) + pow2(2 * p)[0::2][: n - p]


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = torch.nn.Linear(HIDDEN, 3 * HIDDEN)
        self.out = torch.nn.Linear(HIDDEN, HIDDEN)
        self.norm1 = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.gated = torch.nn.Linear(HIDDEN, 2 * INTER, bias=False)
        self.wo = torch.nn.Linear(INTER, HIDDEN)
        self.norm2 = torch.nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, x, bias):
        b, w, _ = x.shape
        q, k, v = self.qkv(x).view(b, w, 3, HEADS, HIDDEN // HEADS).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = self.norm1(x + self.out(a.transpose(1, 2).reshape(b, w, HIDDEN)))
        g, u = self.gated(x).chunk(2, dim=-1)
        return self.norm2(x + self.wo(F.gelu(g) * u))


class DnabertS(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, HIDDEN)
        self.type0 = torch.nn.Parameter(torch.randn(HIDDEN))
        self.norm = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(LAYERS))
        self.register_buffer("slopes", torch.tensor(alibi_slopes(HEADS)), persistent=False)

    def forward(self, ids, mask):
        b, w = ids.shape
        x = self.norm(self.embed(ids) + self.type0)
        pos = torch.arange(w, device=ids.device)
        dist = (pos[None, :] - pos[:, None]).abs().to(x.dtype)
        bias = -self.slopes.to(x.dtype)[:, None, None] * dist  # (heads, w, w)
        bias = bias[None] + torch.where(mask[:, None, None, :] > 0, 0.0, float("-inf")).to(x.dtype)
        for layer in self.layers:
            x = layer(x, bias)
        return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqs", type=int, default=20000)
    ap.add_argument("--min-tokens", type=int, default=95)
    ap.add_argument("--max-tokens", type=int, default=115)
    ap.add_argument("--budget", type=int, default=16384, help="tokens per batch incl. padding")
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[a.dtype]
    torch.manual_seed(a.seed)
    with torch.device(a.device):
        model = DnabertS()
    model = model.to(a.device, dtype).eval()
    params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embed"))

    rng = random.Random(a.seed)
    lengths = [rng.randint(a.min_tokens, a.max_tokens) for _ in range(a.seqs)]
    order = sorted(range(a.seqs), key=lambda i: lengths[i])
    plan, batch, width = [], [], 0
    for i in order:
        w = max(width, lengths[i])
        if batch and w * (len(batch) + 1) > a.budget:
            plan.append(batch)
            batch, w = [], lengths[i]
        batch.append(i)
        width = w
    if batch:
        plan.append(batch)
    real = sum(lengths)

    def run(part):
        out = []
        for b in part:
            w = max(lengths[i] for i in b)
            ids = torch.zeros(len(b), w, dtype=torch.long)
            mask = torch.zeros(len(b), w, dtype=torch.long)
            for r, i in enumerate(b):
                ids[r, : lengths[i]] = torch.randint(5, VOCAB, (lengths[i],))
                mask[r, : lengths[i]] = 1
            ids, mask = ids.to(a.device, non_blocking=True), mask.to(a.device, non_blocking=True)
            h = model(ids, mask)
            m = mask.unsqueeze(-1).to(h.dtype)
            out.append(((h * m).sum(1) / m.sum(1)).float().cpu())
        return out

    with torch.inference_mode():
        run(plan[: min(3, len(plan))])
        if a.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        run(plan)
        if a.device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    padded = sum(len(b) * max(lengths[i] for i in b) for b in plan)
    res = {
        "impl": f"pytorch {torch.__version__} MosaicBERT (sdpa)",
        "model": "DNABERT-S 117M", "dtype": a.dtype, "device": a.device,
        "gpu": torch.cuda.get_device_name(0) if a.device == "cuda" else None,
        "seqs": a.seqs, "batches": len(plan), "budget": a.budget,
        "seconds": round(dt, 3),
        "seqs_per_s": round(a.seqs / dt, 1),
        "tokens_per_s": round(real / dt, 1),
        "padding_fraction": round(1 - real / padded, 4),
        "tflops_effective": round(2 * params * real / dt / 1e12, 1),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if a.device == "cuda" else None,
    }
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
