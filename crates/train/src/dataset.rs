//! The training set: labelled genomes in, the frames a classifier learns from out.
//!
//! Each input is a viral or a host genome file of a named group, GenBank or FASTA, plain or
//! compressed. GenBank records get the original's annotated-frame rule (a frame is kept only
//! when its protein is part of one of the record's CDS translations); FASTA records, which
//! carry no annotation, get every stop-free frame, and `dataset.json` says so per input
//! (`virnucpro_seq::training_frames`). The inputs are read twice, a record at a time: once to
//! count each group's frames, once to draw and write them, so memory does not grow with the
//! genomes. The host frames are balanced against the viral ones (`balance`) and a seeded
//! share is held out as the test set, by frame as the original does or by genome (no genome
//! on both sides).
//!
//! ```text
//! DIR/
//!   frames.fna     one nucleotide slice per frame (id, then the sequence on one line)
//!   frames.faa     the frames' proteins, in the same order
//!   labels.tsv     frame_id, label (1 viral, 0 host), group, record, split (train/test)
//!   dataset.json   the request, each input's fingerprint, rule and counts, counts per group,
//!                  label and split; written last, so its presence means the set is whole
//!   features.h5    later, from `features` (rebuilding the set removes it)
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use virnucpro_engine::file_hash::HashCache;
use virnucpro_seq::genbank::{is_genbank_file, GenbankReader};
use virnucpro_seq::output::AtomicFile;
use virnucpro_seq::training_frames::{for_each_training_frame, ProteinIndex, TrainingFrame};
use virnucpro_seq::{FastaReader, SixFrames};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::balance::{quotas, Draw};
use crate::error::{Result, TrainError};

/// Shortest chunk length a training set may use.
pub const MIN_LENGTH: usize = 100;
/// Longest: ESM-2 takes 1,022 residues, a 3,000 bp chunk gives at most 1,000.
pub const MAX_LENGTH: usize = 3000;

/// The files of a dataset directory.
pub const NUCLEOTIDES: &str = "frames.fna";
/// The proteins.
pub const PROTEINS: &str = "frames.faa";
/// One row per frame.
pub const LABELS: &str = "labels.tsv";
/// The record of the set.
pub const DATASET_JSON: &str = "dataset.json";

/// Viral (label 1) or host (label 0), as the original labels them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// A viral genome: label 1.
    Viral,
    /// A host genome: label 0.
    Host,
}

impl Label {
    /// The number the classifier learns.
    pub fn number(self) -> u8 {
        match self {
            Label::Viral => 1,
            Label::Host => 0,
        }
    }
}

/// One input file and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The genome file (GenBank or FASTA, plain or compressed).
    pub path: PathBuf,
    /// Viral or host.
    pub label: Label,
    /// The host group (`bacteria`, `fungi` ...); `viral` for viral inputs.
    pub group: String,
}

/// How the test set is held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    /// Frames at random, as the original does (frames of one genome fall on both sides).
    Frame,
    /// Whole records at random: no genome is on both sides.
    Genome,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct DatasetRequest {
    /// The inputs.
    pub sources: Vec<Source>,
    /// Chunk length in bp, [`MIN_LENGTH`]..=[`MAX_LENGTH`].
    pub length: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Share of the frames held out as the test set, in [0, 1).
    pub test_fraction: f64,
    /// By frame or by genome.
    pub split_by: SplitBy,
    /// Draw as many host frames as viral ones (else keep every frame).
    pub balance: bool,
    /// The dataset directory.
    pub out_dir: PathBuf,
}

/// What one input gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceCounts {
    /// The file.
    pub path: PathBuf,
    /// `viral` or `host`.
    pub label: String,
    /// Its group.
    pub group: String,
    /// `genbank` or `fasta`.
    pub format: String,
    /// Which frames were candidates.
    pub rule: String,
    /// xxh3-128 of the file's bytes.
    pub fingerprint: String,
    /// Records read.
    pub records: u64,
    /// CDS features (GenBank).
    pub cds: u64,
    /// CDS translations (GenBank).
    pub translations: u64,
    /// Chunks dropped for an ambiguous letter.
    pub ambiguous_chunks: u64,
    /// Frames the rule kept.
    pub candidate_frames: u64,
    /// Frames drawn into the set.
    pub frames: u64,
}

/// Frames of one group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupCounts {
    /// The group.
    pub group: String,
    /// `viral` or `host`.
    pub label: String,
    /// Frames the rule kept.
    pub candidate_frames: u64,
    /// Frames drawn.
    pub frames: u64,
    /// Of those, in the test set.
    pub test_frames: u64,
}

/// What the set holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DatasetSummary {
    /// Frames in all.
    pub frames: u64,
    /// Viral frames.
    pub viral_frames: u64,
    /// Host frames.
    pub host_frames: u64,
    /// Frames in the test set.
    pub test_frames: u64,
    /// Per group, in the order first given.
    pub groups: Vec<GroupCounts>,
    /// Per input, in the order given.
    pub sources: Vec<SourceCounts>,
}

/// Builds the training set of `req` in `req.out_dir`.
pub fn make_dataset(req: &DatasetRequest) -> Result<DatasetSummary> {
    check_request(req)?;
    std::fs::create_dir_all(&req.out_dir)
        .map_err(|e| TrainError::file(&req.out_dir, format!("cannot create: {e}")))?;
    let _lock = virnucpro_engine::lock::DirLock::acquire(&req.out_dir)?;
    virnucpro_engine::runner::report_leftovers(&virnucpro_seq::output::remove_orphaned_temps(
        &req.out_dir,
        None,
    )?);
    // A set being rebuilt is not whole until its new record is written, and the features of
    // the old one (and their checkpoints) belong to other frames.
    for name in [
        DATASET_JSON,
        crate::features::FEATURES_JSON,
        crate::features::FEATURES,
    ] {
        remove_if_there(&req.out_dir.join(name))?;
    }
    let checkpoints = req.out_dir.join(crate::features::CHECKPOINTS);
    if checkpoints.exists() {
        std::fs::remove_dir_all(&checkpoints)
            .map_err(|e| TrainError::file(&checkpoints, format!("cannot remove: {e}")))?;
    }

    // Pass 1: what each input and group holds.
    let mut sources = Vec::new();
    let mut seen_records: HashMap<u64, usize> = HashMap::new();
    let mut six = SixFrames::new();
    for (i, source) in req.sources.iter().enumerate() {
        tracing::info!("counting the frames of {}", source.path.display());
        let mut counts = describe(source)?;
        for_each_frame(
            source,
            req.length,
            &mut six,
            &mut counts,
            |record, frame| {
                if frame.is_some() {
                    return Ok(());
                }
                match seen_records.insert(xxh3_64_with_seed(record.as_bytes(), 0), i) {
                    Some(other) => Err(TrainError::file(
                        &source.path,
                        format!(
                            "record '{record}' is also in {}: give each genome once, under one \
                         label",
                            req.sources[other].path.display()
                        ),
                    )),
                    None => Ok(()),
                }
            },
        )?;
        if counts.format == "genbank" && counts.translations == 0 {
            return Err(TrainError::file(
                &source.path,
                format!(
                    "no CDS /translation in any of its {} records ({} CDS): the annotated-frame \
                     rule needs them; use the RefSeq .gbff (it has them), or give the genomes \
                     as FASTA to keep every stop-free frame",
                    counts.records, counts.cds
                ),
            ));
        }
        sources.push(counts);
    }
    let mut groups = group_counts(&sources);
    for g in &groups {
        if g.candidate_frames == 0 {
            let files: Vec<String> = sources
                .iter()
                .filter(|s| s.group == g.group && s.label == g.label)
                .map(|s| s.path.display().to_string())
                .collect();
            return Err(TrainError::Setup(format!(
                "the {} group '{}' ({}) gave no training frame at -L {}: its records are \
                 shorter than a chunk, every chunk holds an ambiguous base, or no frame matches \
                 an annotated protein; give other genomes or leave the group out",
                g.label,
                g.group,
                files.join(", "),
                req.length
            )));
        }
    }

    // How many frames each group gives.
    let viral: u64 = groups
        .iter()
        .filter(|g| g.label == "viral")
        .map(|g| g.candidate_frames)
        .sum();
    let host_groups: Vec<usize> = (0..groups.len())
        .filter(|&g| groups[g].label == "host")
        .collect();
    let available: Vec<u64> = host_groups
        .iter()
        .map(|&g| groups[g].candidate_frames)
        .collect();
    let host_quota = if req.balance {
        quotas(&available, viral)
    } else {
        available.clone()
    };
    let host_total: u64 = host_quota.iter().sum();
    if req.balance && host_total < viral {
        tracing::warn!(
            "the host genomes give {host_total} frames, fewer than the {viral} viral ones: the \
             set is not balanced; add host genomes for a balanced set"
        );
    }
    let mut draws: HashMap<(String, String), Draw> = HashMap::new();
    for g in &groups {
        let quota = match host_groups.iter().position(|&h| groups[h].group == g.group) {
            Some(k) if g.label == "host" => host_quota[k],
            _ => g.candidate_frames,
        };
        let seed = req.seed ^ xxh3_64_with_seed(g.group.as_bytes(), req.seed);
        draws.insert(
            (g.label.clone(), g.group.clone()),
            Draw::new(quota, g.candidate_frames, seed),
        );
    }
    let total = viral + host_total;
    let test_wanted = (total as f64 * req.test_fraction).round() as u64;
    let mut split = Draw::new(test_wanted, total, req.seed.rotate_left(17) ^ 0x5b11);

    // Pass 2: draw and write.
    let mut nucleotides = AtomicFile::create(req.out_dir.join(NUCLEOTIDES))?;
    let mut proteins = AtomicFile::create(req.out_dir.join(PROTEINS))?;
    let mut labels = AtomicFile::create(req.out_dir.join(LABELS))?;
    labels.write_all(b"frame_id\tlabel\tgroup\trecord\tsplit\n")?;
    let mut summary = DatasetSummary::default();
    let mut line = Vec::new();
    for (source, counts) in req.sources.iter().zip(sources.iter_mut()) {
        tracing::info!("drawing the frames of {}", source.path.display());
        let label = counts.label.clone();
        let draw = draws
            .get_mut(&(label.clone(), source.group.clone()))
            .expect("every group has a draw");
        let mut fresh = SourceCounts::default();
        for_each_frame(source, req.length, &mut six, &mut fresh, |record, frame| {
            let Some(frame) = frame else { return Ok(()) };
            if !draw.take_next() {
                return Ok(());
            }
            let test = match req.split_by {
                SplitBy::Frame => split.take_next(),
                SplitBy::Genome => in_test(record, req.seed, req.test_fraction),
            };
            counts.frames += 1;
            summary.frames += 1;
            if source.label == Label::Viral {
                summary.viral_frames += 1;
            } else {
                summary.host_frames += 1;
            }
            if test {
                summary.test_frames += 1;
            }
            let group = groups
                .iter_mut()
                .find(|g| g.label == label && g.group == source.group)
                .expect("every source's group is counted");
            group.frames += 1;
            group.test_frames += u64::from(test);
            write_frame(
                &mut line,
                frame,
                (&mut nucleotides, &mut proteins, &mut labels),
            )?;
            line.clear();
            line.extend_from_slice(
                format!(
                    "{}\t{}\t{}\t{record}\t{}\n",
                    frame.id,
                    source.label.number(),
                    source.group,
                    if test { "test" } else { "train" }
                )
                .as_bytes(),
            );
            labels.write_all(&line)?;
            Ok(())
        })?;
        if fresh.candidate_frames != counts.candidate_frames {
            return Err(TrainError::file(
                &source.path,
                format!(
                    "gave {} frames when read again, {} the first time: the file changed \
                     while the set was made; run again",
                    fresh.candidate_frames, counts.candidate_frames
                ),
            ));
        }
    }
    nucleotides.commit()?;
    proteins.commit()?;
    labels.commit()?;
    summary.groups = groups;
    summary.sources = sources;
    write_record(req, &summary)?;
    Ok(summary)
}

/// Whether `record` falls in the test set when the split is by genome.
fn in_test(record: &str, seed: u64, fraction: f64) -> bool {
    let h = xxh3_64_with_seed(record.as_bytes(), seed ^ 0x7e57);
    ((h >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

fn write_frame(
    line: &mut Vec<u8>,
    frame: &TrainingFrame,
    (nucleotides, proteins, _labels): (&mut AtomicFile, &mut AtomicFile, &mut AtomicFile),
) -> Result<()> {
    for (file, seq) in [(nucleotides, &frame.nucleotide), (proteins, &frame.protein)] {
        line.clear();
        line.push(b'>');
        line.extend_from_slice(frame.id.as_bytes());
        line.push(b'\n');
        line.extend_from_slice(seq);
        line.push(b'\n');
        file.write_all(line)?;
    }
    Ok(())
}

fn check_request(req: &DatasetRequest) -> Result<()> {
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&req.length) {
        return Err(TrainError::Setup(format!(
            "-L {}: a training chunk is {MIN_LENGTH} to {MAX_LENGTH} bp (shorter chunks give \
             frames too short to learn from; longer ones exceed what ESM-2 takes)",
            req.length
        )));
    }
    if !(0.0..1.0).contains(&req.test_fraction) {
        return Err(TrainError::Setup(format!(
            "test fraction {}: give a share from 0 up to (not including) 1",
            req.test_fraction
        )));
    }
    for label in [Label::Viral, Label::Host] {
        if !req.sources.iter().any(|s| s.label == label) {
            return Err(TrainError::Setup(format!(
                "no {} genomes given: a classifier learns from both labels; give viral and \
                 host genomes",
                if label == Label::Viral {
                    "viral"
                } else {
                    "host"
                }
            )));
        }
    }
    for s in &req.sources {
        if s.path.as_os_str() != virnucpro_seq::fasta::STDIN && !s.path.exists() {
            return Err(TrainError::file(&s.path, "no such file; check the path"));
        }
        if s.path.as_os_str() == virnucpro_seq::fasta::STDIN || !s.path.is_file() {
            return Err(TrainError::file(
                &s.path,
                "not a regular file: a training set reads each input twice (to count, then to \
                 draw), so give files, not standard input or a pipe",
            ));
        }
    }
    Ok(())
}

/// An input's counts before reading its records: format, rule and fingerprint.
fn describe(source: &Source) -> Result<SourceCounts> {
    let genbank = is_genbank_file(&source.path)?;
    Ok(SourceCounts {
        path: source.path.clone(),
        label: match source.label {
            Label::Viral => "viral",
            Label::Host => "host",
        }
        .to_string(),
        group: source.group.clone(),
        format: if genbank { "genbank" } else { "fasta" }.to_string(),
        rule: if genbank {
            "annotated frame: stop-free and part of a CDS translation"
        } else {
            "every stop-free frame (FASTA carries no annotation)"
        }
        .to_string(),
        fingerprint: HashCache::none().hash(&source.path)?,
        ..SourceCounts::default()
    })
}

/// Calls `each` with every record's id (frame `None`) and then each of its training frames,
/// counting into `counts`.
fn for_each_frame(
    source: &Source,
    length: usize,
    six: &mut SixFrames,
    counts: &mut SourceCounts,
    mut each: impl FnMut(&str, Option<&TrainingFrame>) -> Result<()>,
) -> Result<()> {
    if is_genbank_file(&source.path)? {
        let mut seen = HashSet::new();
        for r in GenbankReader::open(&source.path)? {
            let r = r?;
            if !seen.insert(r.id.clone()) {
                return Err(TrainError::file(
                    &source.path,
                    format!("record '{}' appears twice; give each genome once", r.id),
                ));
            }
            counts.cds += r.cds as u64;
            counts.translations += r.translations.len() as u64;
            let index = ProteinIndex::new(&r.translations);
            frames_of_record(&r.id, &r.seq, Some(&index), length, six, counts, &mut each)?;
        }
    } else {
        for r in FastaReader::open(&source.path)? {
            let r = r?;
            frames_of_record(&r.id, &r.seq, None, length, six, counts, &mut each)?;
        }
    }
    Ok(())
}

/// One record's part of [`for_each_frame`].
fn frames_of_record(
    id: &str,
    seq: &[u8],
    index: Option<&ProteinIndex>,
    length: usize,
    six: &mut SixFrames,
    counts: &mut SourceCounts,
    each: &mut impl FnMut(&str, Option<&TrainingFrame>) -> Result<()>,
) -> Result<()> {
    counts.records += 1;
    each(id, None)?;
    let mut failure = None;
    let mut candidates = 0;
    let dropped = for_each_training_frame(id, seq, length, index, six, |f| {
        candidates += 1;
        if failure.is_none() {
            failure = each(id, Some(&f)).err();
        }
    });
    counts.ambiguous_chunks += dropped;
    counts.candidate_frames += candidates;
    failure.map_or(Ok(()), Err)
}

/// The groups in the order first given, with their candidate frames.
fn group_counts(sources: &[SourceCounts]) -> Vec<GroupCounts> {
    let mut groups: Vec<GroupCounts> = Vec::new();
    for s in sources {
        match groups
            .iter_mut()
            .find(|g| g.group == s.group && g.label == s.label)
        {
            Some(g) => g.candidate_frames += s.candidate_frames,
            None => groups.push(GroupCounts {
                group: s.group.clone(),
                label: s.label.clone(),
                candidate_frames: s.candidate_frames,
                ..GroupCounts::default()
            }),
        }
    }
    groups
}

/// Removes `path` if it is there.
pub(crate) fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TrainError::file(path, format!("cannot remove: {e}"))),
    }
}

/// Writes `dataset.json`: the request, the counts and the version.
fn write_record(req: &DatasetRequest, summary: &DatasetSummary) -> Result<()> {
    let path = req.out_dir.join(DATASET_JSON);
    let record = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "complete": true,
        "length": req.length,
        "seed": req.seed,
        "test_fraction": req.test_fraction,
        "split_by": req.split_by,
        "balance": req.balance,
        "counts": summary,
    });
    let text = serde_json::to_string_pretty(&record)
        .map_err(|e| TrainError::file(&path, e.to_string()))?;
    let mut f = AtomicFile::create(&path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.commit()?;
    Ok(())
}
