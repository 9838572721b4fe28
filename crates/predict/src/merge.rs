//! Joining the outputs of `predict --shard I/N` runs into the files one whole run would write.
//!
//! Every shard's `run.json` must be complete and made from the same input, length and models;
//! the shards must be exactly 1..N once each and their record ranges must tile the input. The
//! frame rows are concatenated in shard order (which is input order, the shards being
//! contiguous), every id is checked to appear once, and the per-chunk consensus is computed again
//! from the joined rows, so a chunk split across a shard boundary is still one row.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use virnucpro_engine::output::Embeddings;

use crate::error::{PredictError, Result};
use crate::out_dir::{self, CONSENSUS, EMBEDDINGS, RENAMED, RESULTS};
use crate::request::Summary;
use crate::results::FrameCall;
use crate::run_record::{self, RunRecord, RunTotals, SequenceCallCounts, RUN_RECORD};
use crate::sequence_calls::SequenceCounts;
use virnucpro_seq::AtomicFile;

/// What a merge wrote.
#[derive(Debug, Clone, Default)]
pub struct MergeSummary {
    /// Shards joined.
    pub shards: usize,
    /// Input records.
    pub sequences: u64,
    /// Frame rows.
    pub frames: u64,
    /// Frames called virus.
    pub virus_frames: u64,
    /// Chunks in the consensus.
    pub consensus_chunks: u64,
    /// Chunks called virus by the consensus.
    pub virus_chunks: u64,
    /// Whether `embeddings.h5` was joined too.
    pub embeddings: bool,
    /// Sequences called virus.
    pub viral_sequences: u64,
}

/// Joins the shard output directories `shards` into `out_dir`. `out_dir` may not be one of the
/// shards, and may hold earlier results only if they are this same result (a retried merge)
/// or `force` is given.
pub fn merge(
    shards: &[PathBuf],
    out_dir: &Path,
    force: bool,
    kraken: Option<&Path>,
) -> Result<MergeSummary> {
    let started = std::time::Instant::now();
    if shards.is_empty() {
        return Err(PredictError::Setup(
            "no shard directory given to merge".to_string(),
        ));
    }
    let mut runs: Vec<(PathBuf, RunRecord)> = Vec::new();
    for dir in shards {
        let record = run_record::read_record(&dir.join(RUN_RECORD))?.ok_or_else(|| {
            PredictError::file(
                dir,
                format!("no {RUN_RECORD}: not the output directory of `virnucpro predict --shard`"),
            )
        })?;
        if !record.complete {
            return Err(PredictError::file(
                dir,
                "this shard has not finished; rerun its `virnucpro predict --shard` command (it \
                 resumes) before merging",
            ));
        }
        if record.shard.is_none() {
            return Err(PredictError::file(
                dir,
                "this run was not started with --shard I/N; it is already a whole result",
            ));
        }
        runs.push((dir.clone(), record));
    }
    check_shards(&runs)?;
    runs.sort_by_key(|(_, r)| r.shard.map(|s| s.index));
    check_destination(&runs, out_dir, force)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| PredictError::file(out_dir, format!("cannot create: {e}")))?;
    let _lock = virnucpro_engine::lock::DirLock::acquire(out_dir)?;

    // The frame rows, in input order, each id once.
    let mut calls: Vec<FrameCall> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (dir, record) in &runs {
        let path = dir.join(RESULTS);
        let rows = read_results(&path)?;
        let expected = record.summary.map(|s| s.frames).unwrap_or(0);
        if rows.len() as u64 != expected {
            return Err(PredictError::file(
                &path,
                format!(
                    "{} rows, but its run recorded {expected} frames: the file was changed after \
                     the run; rerun this shard with --force-restart",
                    rows.len()
                ),
            ));
        }
        for call in rows {
            if !seen.insert(call.id.clone()) {
                return Err(PredictError::file(
                    &path,
                    format!(
                        "frame '{}' is also in an earlier shard: were two shards run on \
                         different inputs?",
                        call.id
                    ),
                ));
            }
            calls.push(call);
        }
    }

    let embeddings = merge_embeddings(&runs, &calls, out_dir)?;
    let sequences = merge_sequence_calls(&runs, out_dir)?;
    out_dir::write_results(out_dir, &calls)?;
    let consensus = crate::consensus::of_calls(&calls, out_dir)?;
    let summary = MergeSummary {
        viral_sequences: sequences.viral,
        shards: runs.len(),
        sequences: runs
            .iter()
            .map(|(_, r)| r.summary.map(|s| s.sequences).unwrap_or(0))
            .sum(),
        frames: calls.len() as u64,
        virus_frames: calls.iter().filter(|c| c.label() == "virus").count() as u64,
        consensus_chunks: consensus.len() as u64,
        virus_chunks: consensus.iter().filter(|c| c.1).count() as u64,
        embeddings,
    };
    // The joined directory records a whole, finished run: `predict` on the same input and models
    // into it finds it complete.
    let chunks = runs
        .iter()
        .map(|(_, r)| r.summary.map(|s| s.chunks).unwrap_or(0))
        .sum();
    // Every shard reads (and renames) the whole input, so each holds the whole mapping.
    let renamed = runs[0].1.sequence_calls.map_or(0, |c| c.renamed);
    if runs[0].1.rename_duplicates {
        let from = runs[0].0.join(RENAMED);
        copy_atomically(&from, &out_dir.join(RENAMED))?;
    }
    let whole = RunRecord {
        complete: true,
        summary: Some(RunTotals {
            sequences: summary.sequences,
            chunks,
            frames: summary.frames,
            virus_frames: summary.virus_frames,
            consensus_chunks: summary.consensus_chunks,
            virus_chunks: summary.virus_chunks,
        }),
        shard: None,
        sequence_calls: Some(SequenceCallCounts {
            viral: sequences.viral,
            unscored: sequences.unscored,
            renamed,
        }),
        seconds: None,
        ..runs[0].1.clone()
    };
    if let Some(kraken) = kraken {
        out_dir::write_kraken(out_dir, kraken)?;
    }
    let totals = Summary {
        sequences: summary.sequences,
        chunks,
        frames: summary.frames,
        virus_frames: summary.virus_frames,
        consensus_chunks: summary.consensus_chunks,
        virus_chunks: summary.virus_chunks,
        viral_sequences: sequences.viral,
        unscored_sequences: sequences.unscored,
        renamed,
        ..Summary::default()
    };
    crate::run_summary::write(
        out_dir,
        &crate::run_summary::of_merge(&whole, &totals, runs.len(), started.elapsed().as_secs_f64()),
    )?;
    run_record::write_record(&out_dir.join(RUN_RECORD), &whole)?;
    Ok(summary)
}

/// Whether `out_dir` may receive the joined result: never a shard's own directory; a directory
/// holding results only when they are of this same input and models (a merge retried by a
/// workflow engine) or when `force` says to replace them.
fn check_destination(runs: &[(PathBuf, RunRecord)], out_dir: &Path, force: bool) -> Result<()> {
    let target = std::fs::canonicalize(out_dir).ok();
    for (dir, _) in runs {
        if target.is_some() && std::fs::canonicalize(dir).ok() == target {
            return Err(PredictError::Setup(format!(
                "{} is one of the shards being merged; give merge another output directory",
                out_dir.display()
            )));
        }
    }
    let holds_results = [RUN_RECORD, RESULTS, CONSENSUS]
        .iter()
        .any(|name| out_dir.join(name).exists());
    if !holds_results || force {
        return Ok(());
    }
    let first = &runs[0].1;
    let same = run_record::read_record(&out_dir.join(RUN_RECORD))
        .ok()
        .flatten()
        .is_some_and(|r| {
            r.shard.is_none()
                && r.input_fingerprint == first.input_fingerprint
                && r.length == first.length
                && r.esm_fingerprint == first.esm_fingerprint
                && r.dnabert_fingerprint == first.dnabert_fingerprint
                && r.classifier_fingerprint == first.classifier_fingerprint
        });
    if same {
        return Ok(());
    }
    Err(PredictError::Setup(format!(
        "{} already holds the results of another run; choose another output directory, or \
         pass --force to replace them",
        out_dir.display()
    )))
}

/// Concatenates the shards' `sequence_summary.tsv` and viral records (shards are contiguous
/// runs of records, so this is input order), checking each shard's rows against its record.
fn merge_sequence_calls(runs: &[(PathBuf, RunRecord)], out_dir: &Path) -> Result<SequenceCounts> {
    use crate::sequence_calls::{
        SequenceRow, SEQUENCE_SUMMARY, SUMMARY_HEADER, VIRUSES_FASTA, VIRUSES_FASTQ,
    };
    let mut tsv = AtomicFile::create(out_dir.join(SEQUENCE_SUMMARY))?;
    tsv.write_all(SUMMARY_HEADER.as_bytes())?;
    let mut counts = SequenceCounts::default();
    let mut viruses_name = None;
    for (dir, record) in runs {
        let path = dir.join(SEQUENCE_SUMMARY);
        let cannot = |e: std::io::Error| {
            PredictError::file(
                &path,
                format!("cannot read: {e}; rerun this shard with --force-restart"),
            )
        };
        let file = std::fs::File::open(&path).map_err(cannot)?;
        let mut lines = std::io::BufRead::lines(std::io::BufReader::with_capacity(1 << 20, file));
        if lines.next().transpose().map_err(cannot)?.as_deref() != Some(SUMMARY_HEADER.trim_end()) {
            return Err(PredictError::file(
                &path,
                "not a sequence_summary.tsv (header differs)",
            ));
        }
        let mut rows = 0u64;
        for (i, line) in lines.enumerate() {
            let line = line.map_err(cannot)?;
            let row = SequenceRow::parse(&line, &path, i + 2)?;
            rows += 1;
            match row.call {
                crate::sequence_calls::Call::Virus => counts.viral += 1,
                crate::sequence_calls::Call::Unscored => counts.unscored += 1,
                crate::sequence_calls::Call::Others => {}
            }
            tsv.write_all(line.as_bytes())?;
            tsv.write_all(b"\n")?;
        }
        let expected = record.summary.map(|s| s.sequences).unwrap_or(0);
        if rows != expected {
            return Err(PredictError::file(
                &path,
                format!("{rows} rows, but its run recorded {expected} sequences: the file was changed after the run; rerun this shard with --force-restart"),
            ));
        }
        counts.sequences += rows;
        let name = [VIRUSES_FASTA, VIRUSES_FASTQ]
            .into_iter()
            .find(|n| dir.join(n).is_file())
            .ok_or_else(|| {
                PredictError::file(
                    dir,
                    "no viruses.fna or viruses.fastq; rerun this shard with --force-restart",
                )
            })?;
        if *viruses_name.get_or_insert(name) != name {
            return Err(PredictError::file(
                dir,
                "its viral records are in another format than the first shard's",
            ));
        }
    }
    let name = viruses_name.unwrap_or(VIRUSES_FASTA);
    let mut viruses = AtomicFile::create(out_dir.join(name))?;
    for (dir, _) in runs {
        let path = dir.join(name);
        append_file(&mut viruses, &path)?;
    }
    let other = if name == VIRUSES_FASTA {
        VIRUSES_FASTQ
    } else {
        VIRUSES_FASTA
    };
    match std::fs::remove_file(out_dir.join(other)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(PredictError::file(
                out_dir.join(other),
                format!("cannot remove: {e}"),
            ))
        }
    }
    tsv.commit()?;
    viruses.commit()?;
    Ok(counts)
}

/// Appends the file at `path` to `out`, a megabyte at a time.
fn append_file(out: &mut AtomicFile, path: &Path) -> Result<()> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| PredictError::file(path, format!("cannot read: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(cannot)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
    }
}

/// Copies `from` to `to` through a temporary file.
fn copy_atomically(from: &Path, to: &Path) -> Result<()> {
    let mut f = AtomicFile::create(to)?;
    append_file(&mut f, from)?;
    f.commit()?;
    Ok(())
}

/// Same input, length and models everywhere; shards 1..N each once; ranges tiling the input.
fn check_shards(runs: &[(PathBuf, RunRecord)]) -> Result<()> {
    let (first_dir, first) = &runs[0];
    let first_shard = first.shard.expect("checked by the caller");
    for (dir, r) in runs {
        let same = r.input_fingerprint == first.input_fingerprint
            && r.length == first.length
            && r.esm_fingerprint == first.esm_fingerprint
            && r.dnabert_fingerprint == first.dnabert_fingerprint
            && r.classifier_fingerprint == first.classifier_fingerprint
            && r.min_score == first.min_score
            && r.rename_duplicates == first.rename_duplicates;
        if !same {
            return Err(PredictError::Setup(format!(
                "{} and {} were made from a different input, length, models, --min-score or \
                 --rename-duplicates; shards of one result must all come from the same command",
                first_dir.display(),
                dir.display()
            )));
        }
        let s = r.shard.expect("checked by the caller");
        if s.count != first_shard.count {
            return Err(PredictError::Setup(format!(
                "{} is shard {}/{} but {} is shard {}/{}: all shards must split into the same N",
                first_dir.display(),
                first_shard.index,
                first_shard.count,
                dir.display(),
                s.index,
                s.count
            )));
        }
    }
    let n = first_shard.count;
    let mut by_index: Vec<Option<&Path>> = vec![None; n];
    for (dir, r) in runs {
        let s = r.shard.expect("checked by the caller");
        if let Some(other) = by_index[s.index - 1].replace(dir) {
            return Err(PredictError::Setup(format!(
                "shard {}/{n} given twice: {} and {}",
                s.index,
                other.display(),
                dir.display()
            )));
        }
    }
    let missing: Vec<String> = (1..=n)
        .filter(|i| by_index[i - 1].is_none())
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(PredictError::Setup(format!(
            "shard(s) {} missing: run `virnucpro predict ... --shard I/{n}` for each and pass \
             every shard directory to merge",
            missing.join(", ")
        )));
    }
    let mut ranges: Vec<_> = runs.iter().filter_map(|(_, r)| r.shard).collect();
    ranges.sort_by_key(|s| s.index);
    let mut next = 0;
    for s in &ranges {
        if s.start != next || s.total != ranges[0].total {
            return Err(PredictError::Setup(format!(
                "shard {}/{n} covers records {}..{} but {next} was expected next: the shards do \
                 not tile one input",
                s.index, s.start, s.end
            )));
        }
        next = s.end;
    }
    if next != ranges[0].total {
        return Err(PredictError::Setup(format!(
            "the shards cover {next} of the input's {} records",
            ranges[0].total
        )));
    }
    Ok(())
}

/// The rows of a `prediction_results.txt`.
fn read_results(path: &Path) -> Result<Vec<FrameCall>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PredictError::file(path, format!("cannot read: {e}")))?;
    let mut lines = text.lines();
    if lines.next() != Some("Sequence_ID\tPrediction\tscore1\tscore2") {
        return Err(PredictError::file(
            path,
            "not a prediction_results.txt (its header is missing)",
        ));
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let bad = || {
                PredictError::file(
                    path,
                    format!(
                        "line {}: expected id, label and two scores: '{line}'",
                        i + 2
                    ),
                )
            };
            let fields: Vec<&str> = line.split('\t').collect();
            let [id, _label, p0, p1] = fields.as_slice() else {
                return Err(bad());
            };
            Ok(FrameCall {
                id: (*id).to_string(),
                probs: [
                    p0.parse().map_err(|_| bad())?,
                    p1.parse().map_err(|_| bad())?,
                ],
            })
        })
        .collect()
}

/// Joins the shards' `embeddings.h5` when they were saved; false when none was.
fn merge_embeddings(
    runs: &[(PathBuf, RunRecord)],
    calls: &[FrameCall],
    out_dir: &Path,
) -> Result<bool> {
    let with_frames: Vec<&PathBuf> = runs
        .iter()
        .filter(|(_, r)| r.summary.map(|s| s.frames).unwrap_or(0) > 0)
        .map(|(d, _)| d)
        .collect();
    let present = with_frames
        .iter()
        .filter(|d| d.join(EMBEDDINGS).is_file())
        .count();
    if present == 0 {
        return Ok(false);
    }
    if present != with_frames.len() {
        return Err(PredictError::Setup(format!(
            "only {present} of {} shards hold {EMBEDDINGS}: run every shard with or every shard \
             without --save-embeddings",
            with_frames.len()
        )));
    }
    let mut dna = Embeddings {
        ids: Vec::new(),
        dim: 0,
        values: Vec::new(),
    };
    let mut esm = dna.clone();
    for dir in with_frames {
        let path = dir.join(EMBEDDINGS);
        let (ids, d, e) = read_embeddings(&path)?;
        for (whole, part) in [(&mut dna, d), (&mut esm, e)] {
            if whole.dim != 0 && whole.dim != part.dim {
                return Err(PredictError::file(
                    &path,
                    "embedding widths differ between shards",
                ));
            }
            whole.dim = part.dim;
            whole.ids.extend(ids.iter().cloned());
            whole.values.extend(part.values);
        }
    }
    if dna.ids.len() != calls.len() || dna.ids.iter().zip(calls).any(|(a, c)| *a != c.id) {
        return Err(PredictError::Setup(format!(
            "the shards' {EMBEDDINGS} do not list the same frames as their {RESULTS}; rerun the \
             shards with --force-restart"
        )));
    }
    crate::embeddings::save(&out_dir.join(EMBEDDINGS), &dna, &esm)?;
    Ok(true)
}

/// Reads an `embeddings.h5` written by `predict --save-embeddings`: ids, DNABERT-S, ESM-2.
pub fn read_embeddings(path: &Path) -> Result<(Vec<String>, Embeddings, Embeddings)> {
    let h5 = |e: hdf5::Error| PredictError::file(path, format!("cannot read: {e}"));
    let file = hdf5::File::open(path).map_err(h5)?;
    let ids: Vec<String> = file
        .dataset("ids")
        .and_then(|d| d.read_raw::<hdf5::types::VarLenUnicode>())
        .map_err(h5)?
        .into_iter()
        .map(|s| s.as_str().to_string())
        .collect();
    let read = |name: &str| -> Result<Embeddings> {
        let data = file.dataset(name).map_err(h5)?;
        let shape = data.shape();
        if shape.len() != 2 || shape[0] != ids.len() {
            return Err(PredictError::file(
                path,
                format!(
                    "dataset {name} has shape {shape:?}, expected [{}, dim]",
                    ids.len()
                ),
            ));
        }
        Ok(Embeddings {
            ids: Vec::new(),
            dim: shape[1],
            values: data.read_raw::<f32>().map_err(h5)?,
        })
    };
    let dna = read("dnabert")?;
    let esm = read("esm2")?;
    Ok((ids, dna, esm))
}
