#!/usr/bin/env python3
"""Writes tiny RANDOM-WEIGHT models for the demo into examples/models/ (Python 3 stdlib only).

    python3 examples/make_demo_models.py

They have the real formats and architectures of the models VirNucPro uses, at toy sizes:
  esm2_demo/        ESM-2 as the Hugging Face hub ships it (config.json, model.safetensors)
  dnabert_demo/     DNABERT-S / MosaicBERT (config.json, model.safetensors, a small BPE tokenizer.json)
  classifier_demo/  the VirNucPro MLP (300_model.safetensors, 500_model.safetensors), input 32+32
The weights are random (seeded, so the files are reproducible): the demo's calls mean nothing.
Real predictions need the real weights (ESM-2 3B, DNABERT-S, 300_model.pth / 500_model.pth).
"""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")
HIDDEN, HEADS, INTER, LAYERS = 32, 4, 64, 2


def save_safetensors(path, tensors):
    """tensors: name -> (shape, list of floats); writes float32 safetensors."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


class Weights:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.t = {}

    def normal(self, name, *shape, std=0.2):
        n = 1
        for s in shape:
            n *= s
        self.t[name] = (list(shape), [round(self.rng.gauss(0.0, std), 6) for _ in range(n)])

    def const(self, name, value, *shape):
        n = 1
        for s in shape:
            n *= s
        self.t[name] = (list(shape), [value] * n)

    def linear(self, name, out_dim, in_dim, bias=True):
        self.normal(name + ".weight", out_dim, in_dim)
        if bias:
            self.normal(name + ".bias", out_dim, std=0.02)

    def layer_norm(self, name, dim):
        self.const(name + ".weight", 1.0, dim)
        self.const(name + ".bias", 0.0, dim)


def esm2():
    d = os.path.join(OUT, "esm2_demo")
    os.makedirs(d, exist_ok=True)
    config = {
        "architectures": ["EsmForMaskedLM"], "model_type": "esm", "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": INTER,
        "hidden_act": "gelu", "layer_norm_eps": 1e-05, "position_embedding_type": "rotary",
        "token_dropout": True, "emb_layer_norm_before": False, "mask_token_id": 32,
        "pad_token_id": 1, "vocab_size": 33, "max_position_embeddings": 1026,
        "is_folding_model": False, "torch_dtype": "float32",
        "_comment": "virnucpro demo model: RANDOM weights, not a trained ESM-2",
    }
    w = Weights(1)
    w.normal("esm.embeddings.word_embeddings.weight", 33, HIDDEN, std=1.0)
    for i in range(LAYERS):
        p = "esm.encoder.layer.%d." % i
        for part in ("query", "key", "value"):
            w.linear(p + "attention.self." + part, HIDDEN, HIDDEN)
        w.linear(p + "attention.output.dense", HIDDEN, HIDDEN)
        w.layer_norm(p + "attention.LayerNorm", HIDDEN)
        w.linear(p + "intermediate.dense", INTER, HIDDEN)
        w.linear(p + "output.dense", HIDDEN, INTER)
        w.layer_norm(p + "LayerNorm", HIDDEN)
    w.layer_norm("esm.encoder.emb_layer_norm_after", HIDDEN)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_safetensors(os.path.join(d, "model.safetensors"), w.t)


def dna_tokenizer():
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    vocab = {tok: i for i, tok in enumerate(specials)}
    merges = []
    for b in "ACGT":
        vocab[b] = len(vocab)
    for a in "ACGT":
        for b in "ACGT":
            vocab[a + b] = len(vocab)
            merges.append(a + " " + b)
    for a in "ACGT":
        for b in "ACGT":
            for c in "ACGT":
                vocab[a + b + c] = len(vocab)
                merges.append(a + b + " " + c)
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(specials)]
    cls, sep = {"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [cls, {"Sequence": {"id": "A", "type_id": 0}}, sep],
            "pair": [cls, {"Sequence": {"id": "A", "type_id": 0}}, sep,
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}},
        },
        "decoder": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": "[UNK]", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": merges},
    }


def dnabert():
    d = os.path.join(OUT, "dnabert_demo")
    os.makedirs(d, exist_ok=True)
    tok = dna_tokenizer()
    vocab_size = len(tok["model"]["vocab"])
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": INTER,
        "hidden_act": "gelu", "layer_norm_eps": 1e-12, "vocab_size": vocab_size,
        "type_vocab_size": 2, "alibi_starting_size": 512, "max_position_embeddings": 512,
        "position_embedding_type": "absolute", "pad_token_id": 0, "torch_dtype": "float32",
        "_comment": "virnucpro demo model: RANDOM weights, not a trained DNABERT-S",
    }
    w = Weights(2)
    w.normal("embeddings.word_embeddings.weight", vocab_size, HIDDEN, std=1.0)
    w.normal("embeddings.token_type_embeddings.weight", 2, HIDDEN, std=0.1)
    w.layer_norm("embeddings.LayerNorm", HIDDEN)
    for i in range(LAYERS):
        p = "encoder.layer.%d." % i
        w.linear(p + "attention.self.Wqkv", 3 * HIDDEN, HIDDEN)
        w.linear(p + "attention.output.dense", HIDDEN, HIDDEN)
        w.layer_norm(p + "attention.output.LayerNorm", HIDDEN)
        w.linear(p + "mlp.gated_layers", 2 * INTER, HIDDEN, bias=False)
        w.linear(p + "mlp.wo", HIDDEN, INTER)
        w.layer_norm(p + "mlp.layernorm", HIDDEN)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tok, f)
    save_safetensors(os.path.join(d, "model.safetensors"), w.t)


def classifiers():
    d = os.path.join(OUT, "classifier_demo")
    os.makedirs(d, exist_ok=True)
    for seed, length in ((3, 300), (4, 500)):
        w = Weights(seed)
        w.linear("hidden_layer", 16, 2 * HIDDEN)
        w.normal("bn1.weight", 16, std=0.1)
        w.normal("bn1.bias", 16, std=0.1)
        w.normal("bn1.running_mean", 16, std=0.1)
        w.t["bn1.running_var"] = ([16], [1.0] * 16)
        w.linear("output_layer", 2, 16)
        save_safetensors(os.path.join(d, "%d_model.safetensors" % length), w.t)


if __name__ == "__main__":
    esm2()
    dnabert()
    classifiers()
    print("demo models (random weights) written to", OUT)
