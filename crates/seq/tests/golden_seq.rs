//! The sequence stages against the goldens made by the original Python (`../shared/golden/seq/`):
//! every input, both chunk lengths, chunking alone, translation alone and both in one pass.
//! Skipped, with a message, where `../shared/golden` is absent.

use std::path::Path;
use virnucpro_testkit::golden_dir;

use virnucpro_seq::{fasta, run, FastaReader, OutputPaths, Stages};

const INPUTS: [&str; 6] = [
    "test_with_orfs",
    "test_fixed_500bp",
    "test_sequences_small",
    "test_sequences",
    "edge_cases",
    "genomes",
];

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Records of a FASTA file as (id, sequence) text, for a readable first difference.
fn records(path: &Path) -> Vec<(String, String)> {
    if std::fs::metadata(path).unwrap().len() == 0 {
        return Vec::new();
    }
    fasta::read_all(path)
        .unwrap()
        .into_iter()
        .map(|r| (r.id, String::from_utf8(r.seq).unwrap()))
        .collect()
}

fn assert_same(ours: &Path, golden: &Path) {
    assert_eq!(
        records(ours),
        records(golden),
        "{} vs {}",
        ours.display(),
        golden.display()
    );
    assert!(
        read(ours) == read(golden),
        "bytes differ: {} vs {}",
        ours.display(),
        golden.display()
    );
}

#[test]
fn chunk_and_translate_in_one_pass_match_every_golden() {
    let Some(golden) = golden_dir("seq") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for stem in INPUTS {
        for length in [300, 500] {
            let input = golden.join("inputs").join(format!("{stem}.fa"));
            let outputs = OutputPaths {
                chunked: Some(work.path().join(format!("{stem}.{length}.fa"))),
                nucleotide: Some(work.path().join(format!("{stem}.{length}.fna"))),
                protein: Some(work.path().join(format!("{stem}.{length}.faa"))),
            };
            for threads in [1, 3] {
                let summary = run(
                    Stages::ChunkAndTranslate { length },
                    FastaReader::open(&input).unwrap(),
                    &outputs,
                    threads,
                )
                .unwrap();
                let seq = golden.join("seq");
                assert_same(
                    outputs.chunked.as_ref().unwrap(),
                    &seq.join(format!("{stem}.chunked{length}.fa")),
                );
                assert_same(
                    outputs.nucleotide.as_ref().unwrap(),
                    &seq.join(format!("{stem}.identified{length}.fna")),
                );
                assert_same(
                    outputs.protein.as_ref().unwrap(),
                    &seq.join(format!("{stem}.identified{length}.faa")),
                );
                assert_eq!(
                    summary.kept_frames,
                    records(&seq.join(format!("{stem}.identified{length}.faa"))).len() as u64
                );
                compared += 3;
            }
        }
    }
    assert_eq!(compared, INPUTS.len() * 2 * 2 * 3);
}

#[test]
fn chunk_then_translate_as_separate_stages_match_every_golden() {
    let Some(golden) = golden_dir("seq") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    for stem in INPUTS {
        for length in [300, 500] {
            let input = golden.join("inputs").join(format!("{stem}.fa"));
            let chunked = work.path().join(format!("{stem}.chunked{length}.fa"));
            run(
                Stages::Chunk { length },
                FastaReader::open(&input).unwrap(),
                &OutputPaths {
                    chunked: Some(chunked.clone()),
                    ..OutputPaths::default()
                },
                2,
            )
            .unwrap();
            let seq = golden.join("seq");
            assert_same(&chunked, &seq.join(format!("{stem}.chunked{length}.fa")));

            // Translate reads the golden chunked file, so this stage is checked on its own.
            let nucleotide = work.path().join(format!("{stem}.{length}.fna"));
            let protein = work.path().join(format!("{stem}.{length}.faa"));
            run(
                Stages::Translate,
                FastaReader::open(seq.join(format!("{stem}.chunked{length}.fa"))).unwrap(),
                &OutputPaths {
                    chunked: None,
                    nucleotide: Some(nucleotide.clone()),
                    protein: Some(protein.clone()),
                },
                2,
            )
            .unwrap();
            assert_same(
                &nucleotide,
                &seq.join(format!("{stem}.identified{length}.fna")),
            );
            assert_same(
                &protein,
                &seq.join(format!("{stem}.identified{length}.faa")),
            );
        }
    }
}
