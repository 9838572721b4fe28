//! `make_dataset` on generated genomes: GenBank with CDS translations and FASTA, viral and
//! host; the annotated-frame rule, the balance, the seeded split and the bad inputs.

mod common;

use std::path::{Path, PathBuf};

use common::{inputs, request};
use virnucpro_train::{make_dataset, DatasetRequest, Label, Source, SplitBy};

fn fasta(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|p| (p[0][1..].to_string(), p[1].to_string()))
        .collect()
}

#[test]
fn a_balanced_seeded_set_of_annotated_frames() {
    let dir = tempfile::tempdir().unwrap();
    let i = inputs(dir.path());
    let out = dir.path().join("set");
    let s = make_dataset(&request(&i, &out)).unwrap();

    // Balance: as many host frames as viral ones, shared evenly over the two groups.
    assert!(s.viral_frames > 50, "{s:?}");
    assert_eq!(s.host_frames, s.viral_frames);
    let host: Vec<u64> = s
        .groups
        .iter()
        .filter(|g| g.label == "host")
        .map(|g| g.frames)
        .collect();
    assert!(host[0].abs_diff(host[1]) <= 1, "{host:?}");
    assert_eq!(s.test_frames, ((s.frames as f64) * 0.1).round() as u64);

    // The files agree with each other and with the counts.
    let nucleotides = fasta(&out.join("frames.fna"));
    let proteins = fasta(&out.join("frames.faa"));
    let labels = std::fs::read_to_string(out.join("labels.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = labels
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(nucleotides.len() as u64, s.frames);
    assert_eq!(proteins.len(), nucleotides.len());
    assert_eq!(rows.len(), nucleotides.len());
    for ((n, p), row) in nucleotides.iter().zip(&proteins).zip(&rows) {
        assert_eq!(n.0, p.0);
        assert_eq!(row[0], n.0);
        // Prediction's nucleotide slice: 3 bases a residue, plus one where the chunk allows.
        assert!(
            n.1.len() == 3 * p.1.len() + 1 || n.1.len() == 3 * p.1.len(),
            "{n:?}"
        );
    }
    assert_eq!(
        rows.iter().filter(|r| r[4] == "test").count() as u64,
        s.test_frames
    );
    assert_eq!(
        rows.iter().filter(|r| r[1] == "1").count() as u64,
        s.viral_frames
    );

    // The annotated-frame rule: a GenBank frame's protein is part of one of its CDS.
    let viral_text = std::fs::read_to_string(&i.viral).unwrap();
    for (row, p) in rows.iter().zip(&proteins) {
        if row[2] == "viral" {
            assert!(viral_text.contains(&p.1), "{} is in no translation", row[0]);
            // Every gene is on the forward strand: no reverse frame is a coding frame.
            let frame = &row[0][row[0].len() - 2..];
            assert!(frame.starts_with('F'), "{} kept", row[0]);
        }
    }
    // FASTA has no annotation: every stop-free frame, reverse ones included, is a candidate.
    assert!(rows
        .iter()
        .any(|r| r[2] == "fungi" && r[0][r[0].len() - 2..].starts_with('R')));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(record["complete"], true);
    assert_eq!(record["counts"]["sources"][2]["format"], "fasta");
    assert_eq!(record["counts"]["sources"][1]["format"], "genbank");
    assert_eq!(
        record["counts"]["sources"][0]["fingerprint"]
            .as_str()
            .unwrap()
            .len(),
        32
    );

    // Seeded: the same request gives the same bytes; another seed another draw.
    let again = dir.path().join("again");
    make_dataset(&request(&i, &again)).unwrap();
    for name in ["frames.fna", "frames.faa", "labels.tsv"] {
        assert_eq!(
            std::fs::read(out.join(name)).unwrap(),
            std::fs::read(again.join(name)).unwrap()
        );
    }
    let other = dir.path().join("other");
    make_dataset(&DatasetRequest {
        seed: 7,
        ..request(&i, &other)
    })
    .unwrap();
    assert_ne!(
        std::fs::read(out.join("labels.tsv")).unwrap(),
        std::fs::read(other.join("labels.tsv")).unwrap()
    );

    // By genome: no record on both sides.
    let by_genome = dir.path().join("by_genome");
    make_dataset(&DatasetRequest {
        split_by: SplitBy::Genome,
        test_fraction: 0.3,
        ..request(&i, &by_genome)
    })
    .unwrap();
    let labels = std::fs::read_to_string(by_genome.join("labels.tsv")).unwrap();
    let mut side = std::collections::HashMap::new();
    for l in labels.lines().skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(
            *side.entry(f[3].to_string()).or_insert(f[4].to_string()),
            f[4],
            "{}",
            f[3]
        );
    }
}

#[test]
fn bad_inputs_are_clear_errors_and_write_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let i = inputs(dir.path());
    let err = |req: DatasetRequest| {
        let out = req.out_dir.clone();
        let e = make_dataset(&req).unwrap_err().to_string();
        assert!(!out.join("dataset.json").exists(), "{e}");
        e
    };
    let out = dir.path().join("set");

    // GenBank records without translations.
    let bare = dir.path().join("bare.gbff");
    let text = std::fs::read_to_string(&i.viral).unwrap();
    let stripped: String = text
        .lines()
        .filter(|l| !l.contains("/translation"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&bare, stripped).unwrap();
    let mut req = request(&i, &out);
    req.sources[0].path = bare.clone();
    let e = err(req);
    assert!(
        e.contains("bare.gbff") && e.contains("no CDS /translation"),
        "{e}"
    );

    // A group with no frames (every base ambiguous).
    let ns = dir.path().join("ns.fa");
    std::fs::write(&ns, format!(">n1\n{}\n", "N".repeat(2000))).unwrap();
    let mut req = request(&i, &out);
    req.sources.push(Source {
        path: ns,
        label: Label::Host,
        group: "plant".into(),
    });
    let e = err(req);
    assert!(
        e.contains("'plant'") && e.contains("no training frame"),
        "{e}"
    );

    // Labels all one class.
    let mut req = request(&i, &out);
    req.sources.retain(|s| s.label == Label::Viral);
    assert!(err(req).contains("no host genomes"));

    // A length too short, a genome given twice, a pipe.
    let e = err(DatasetRequest {
        length: 60,
        ..request(&i, &out)
    });
    assert!(e.contains("-L 60"), "{e}");
    let mut req = request(&i, &out);
    req.sources.push(Source {
        path: i.viral.clone(),
        label: Label::Host,
        group: "plant".into(),
    });
    let e = err(req);
    assert!(e.contains("is also in") && e.contains("viral.gbff"), "{e}");
    let mut req = request(&i, &out);
    req.sources[1].path = PathBuf::from("-");
    assert!(err(req).contains("not a regular file"));
}
