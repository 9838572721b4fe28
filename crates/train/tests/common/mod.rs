//! Generated genomes for the training tests: GenBank with CDS translations, and FASTA.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use virnucpro_seq::synthetic::SplitMix64;
use virnucpro_seq::translate::{translate, Frame};
use virnucpro_train::{DatasetRequest, Label, Source, SplitBy};

/// A genome of `genes` coding genes (random sense codons) separated by non-coding spacers,
/// with each gene's protein.
pub fn genome(rng: &mut SplitMix64, genes: usize) -> (Vec<u8>, Vec<(usize, usize, String)>) {
    const B: &[u8] = b"ACGT";
    let mut seq = Vec::new();
    let mut cds = Vec::new();
    for _ in 0..genes {
        for _ in 0..(30 + rng.below(60)) {
            seq.push(B[rng.below(4) as usize]);
        }
        let start = seq.len();
        seq.extend_from_slice(b"ATG");
        for _ in 0..(150 + rng.below(200)) {
            loop {
                let c = [0, 0, 0].map(|_| B[rng.below(4) as usize]);
                if !matches!(&c, b"TAA" | b"TAG" | b"TGA") {
                    seq.extend_from_slice(&c);
                    break;
                }
            }
        }
        let protein = translate(&seq[start..], Frame::ALL[0]);
        let protein = String::from_utf8(protein).unwrap();
        seq.extend_from_slice(b"TAA");
        cds.push((start + 1, seq.len(), protein));
    }
    (seq, cds)
}

/// A generated GenBank record: id, sequence, CDS (1-based start, end, protein).
pub type GbRecord = (String, Vec<u8>, Vec<(usize, usize, String)>);

/// GenBank text of `records` (id, sequence, CDS with translations when `translations`).
pub fn genbank(records: &[GbRecord], translations: bool) -> String {
    let mut out = String::new();
    for (id, seq, cds) in records {
        out += &format!(
            "LOCUS       {:<16} {:>11} bp    DNA     linear   CON 01-JAN-2020\n",
            id.split('.').next().unwrap(),
            seq.len()
        );
        out += &format!(
            "DEFINITION  generated.\nACCESSION   {}\nVERSION     {id}\n",
            id.split('.').next().unwrap()
        );
        out += "FEATURES             Location/Qualifiers\n";
        out += &format!("     source          1..{}\n", seq.len());
        for (start, end, protein) in cds {
            out += &format!("     CDS             {start}..{end}\n");
            if translations {
                out += &format!("                     /translation=\"{protein}\"\n");
            }
        }
        out += "ORIGIN\n";
        for (i, line) in seq.chunks(60).enumerate() {
            out += &format!("{:>9}", i * 60 + 1);
            for word in line.chunks(10) {
                out += " ";
                out += &String::from_utf8_lossy(word).to_ascii_lowercase();
            }
            out += "\n";
        }
        out += "//\n";
    }
    out
}

pub struct Inputs {
    pub viral: PathBuf,
    pub bacteria: PathBuf,
    pub fungi: PathBuf,
}

pub fn inputs(dir: &Path) -> Inputs {
    let mut rng = SplitMix64(7);
    let mut records = |prefix: &str, n: usize, genes: usize| {
        (0..n)
            .map(|i| {
                let (seq, cds) = genome(&mut rng, genes);
                (format!("{prefix}_{i}.1"), seq, cds)
            })
            .collect::<Vec<_>>()
    };
    let viral = records("NC_V", 4, 6);
    let bacteria = records("NC_B", 2, 40);
    let fungi = records("NC_F", 2, 20);
    let paths = Inputs {
        viral: dir.join("viral.gbff"),
        bacteria: dir.join("bacteria.gbff.gz"),
        fungi: dir.join("fungi.fna"),
    };
    std::fs::write(&paths.viral, genbank(&viral, true)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&paths.bacteria).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(genbank(&bacteria, true).as_bytes()).unwrap();
    gz.finish().unwrap();
    let fasta: String = fungi
        .iter()
        .map(|(id, seq, _)| format!(">{id}\n{}\n", String::from_utf8_lossy(seq)))
        .collect();
    std::fs::write(&paths.fungi, fasta).unwrap();
    paths
}

pub fn request(i: &Inputs, out: &Path) -> DatasetRequest {
    DatasetRequest {
        sources: vec![
            Source {
                path: i.viral.clone(),
                label: Label::Viral,
                group: "viral".into(),
            },
            Source {
                path: i.bacteria.clone(),
                label: Label::Host,
                group: "bacteria".into(),
            },
            Source {
                path: i.fungi.clone(),
                label: Label::Host,
                group: "fungi".into(),
            },
        ],
        length: 150,
        seed: 42,
        test_fraction: 0.1,
        split_by: SplitBy::Frame,
        balance: true,
        out_dir: out.to_path_buf(),
    }
}
