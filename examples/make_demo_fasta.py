#!/usr/bin/env python3
"""Writes examples/demo.fa: a small, reproducible demo input for virnucpro.

Twelve synthetic records (no real organism): coding-like contigs whose frames survive
translation, random sequence whose frames all meet a stop, short reads, a lower-case stretch,
an N run and IUPAC codes. Run: python3 examples/make_demo_fasta.py > examples/demo.fa
"""
import random

rng = random.Random(20261128)
STOPS = {"TAA", "TAG", "TGA"}


def coding(n_bases):
    codons = []
    while len(codons) * 3 < n_bases:
        c = "".join(rng.choice("ACGT") for _ in range(3))
        if c not in STOPS:
            codons.append(c)
    return "".join(codons)[:n_bases]


def random_dna(n_bases):
    return "".join(rng.choice("ACGT") for _ in range(n_bases))


def revcomp(s):
    return s.translate(str.maketrans("ACGTacgt", "TGCAtgca"))[::-1]


records = [
    ("contig_001", "coding contig, forward strand", coding(1480)),
    ("contig_002", "coding contig, reverse strand", revcomp(coding(960))),
    ("contig_003", "random sequence", random_dna(1200)),
    ("contig_004", "coding with an N run", None),
    ("contig_005", "coding, lower-case stretch", None),
    ("read_0001", "short read", coding(300)),
    ("read_0002", "short read", random_dna(300)),
    ("read_0003", "read with IUPAC codes", None),
    ("read_0004", "500 bp read", coding(500)),
    ("read_0005", "500 bp read", revcomp(coding(500))),
    ("contig_006", "long coding contig", coding(2600)),
    ("contig_007", "random sequence", random_dna(777)),
]
s = coding(900)
records[3] = (records[3][0], records[3][1], s[:400] + "N" * 25 + s[425:])
s = coding(700)
records[4] = (records[4][0], records[4][1], s[:200] + s[200:350].lower() + s[350:])
s = coding(300)
records[7] = (records[7][0], records[7][1], s[:100] + "R" + s[101:200] + "Y" + s[201:])

for rid, desc, seq in records:
    print(f">{rid} {desc}")
    for i in range(0, len(seq), 70):
        print(seq[i:i + 70])
