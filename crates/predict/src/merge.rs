//! Joining the outputs of `predict --shard I/N` runs into the files one whole run would write.
//!
//! Every shard's `run.json` must be complete and made from the same input, length and models;
//! the shards must be exactly 1..N once each and their record ranges must tile the input. The
//! shards are contiguous parts of the input, so reading them one after the other is input
//! order: their frame rows, embeddings, per-sequence rows and viral records are read a line
//! (or a slab of rows) at a time and fed to the one result writer that `predict` uses, which
//! computes the per-chunk consensus again from the joined rows (a chunk is never split across
//! shards, but the consensus sorts all chunks as one). Each shard's row counts are checked
//! against its `run.json`. Memory does not grow with the input.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use virnucpro_engine::StopFlag;
use virnucpro_seq::Renamed;

use crate::embeddings::EmbeddingsReader;
use crate::error::{PredictError, Result};
use crate::out_dir::{OutDir, RESULT_FILES, RUN_RECORD, VIRUSES_FASTA, VIRUSES_FASTQ};
use crate::result_writer::{Plan, ResultWriter};
use crate::results::RESULTS_HEADER;
use crate::run_record::{self, RunRecord};
use crate::sequence_calls::{SequenceRow, SequenceSink, SUMMARY_HEADER};
use crate::totals::Totals;

/// What a merge wrote.
#[derive(Debug, Clone, Default)]
pub struct MergeSummary {
    /// Shards joined.
    pub shards: usize,
    /// What the joined result counts.
    pub totals: Totals,
    /// Whether `embeddings.h5` was joined too.
    pub embeddings: bool,
}

/// A shard: its directory and its run record.
type ShardRun = (PathBuf, RunRecord);

/// Joins the shard output directories `shards` into `out_dir`. `out_dir` may not be one of the
/// shards, and may hold earlier results only if they are this merge's own (a retried merge)
/// or `force` is given. A signal on `stop` ends the merge with nothing committed.
pub fn merge(
    shards: &[PathBuf],
    out_dir: &Path,
    force: bool,
    kraken: Option<&Path>,
    stop: &StopFlag,
) -> Result<MergeSummary> {
    let started = std::time::Instant::now();
    if shards.is_empty() {
        return Err(PredictError::Setup(
            "no shard directory given to merge".to_string(),
        ));
    }
    let mut runs: Vec<ShardRun> = Vec::new();
    for dir in shards {
        let record = run_record::read_record(&OutDir::new(dir).run_record())?.ok_or_else(|| {
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
    let embeddings = embedding_widths(&runs)?;
    let fastq = viral_records_format(&runs)?;
    check_destination(&runs, out_dir, force)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| PredictError::file(out_dir, format!("cannot create: {e}")))?;
    let _lock = virnucpro_engine::lock::DirLock::acquire(out_dir)?;
    // After OUT_DIR exists: the Kraken file may be inside it.
    if let Some(kraken) = kraken {
        virnucpro_seq::output::check_writable(kraken)?;
    }
    let dir = OutDir::new(out_dir);
    virnucpro_engine::runner::report_leftovers(&dir.remove_orphaned_temps(kraken)?);
    // What an earlier result left (checked by `check_destination`).
    dir.remove_results()?;

    let first = &runs[0].1;
    let shard_totals = |r: &RunRecord| r.summary.unwrap_or_default();
    let plan = Plan {
        frames: runs.iter().map(|(_, r)| shard_totals(r).frames).sum(),
        embeddings,
        fastq,
        kraken: kraken.map(Path::to_path_buf),
        renamed: first.rename_duplicates,
    };
    let mut writer = ResultWriter::create(&dir, out_dir, &plan, stop.clone())?;
    for (shard_dir, record) in &runs {
        let shard = OutDir::new(shard_dir);
        join_frames(&mut writer, &shard, shard_totals(record).frames, embeddings)?;
        join_sequences(&mut writer, &shard, shard_totals(record).sequences, fastq)?;
    }
    if first.rename_duplicates {
        // Every shard reads (and renames) the whole input, so each holds the whole mapping.
        join_renamed(&mut writer, &OutDir::new(&runs[0].0))?;
    }
    // The joined directory records a whole, finished run: `predict` on the same input and
    // models into it finds it complete.
    let chunks = runs.iter().map(|(_, r)| shard_totals(r).chunks).sum();
    let mut whole = RunRecord {
        complete: true,
        summary: None,
        shard: None,
        seconds: None,
        merged_shards: Some(runs.len()),
        ..first.clone()
    };
    let totals = writer.finish(|written| {
        let totals = Totals { chunks, ..*written };
        whole.summary = Some(totals);
        Ok(crate::run_summary::of_merge(
            &whole,
            &totals,
            runs.len(),
            started.elapsed().as_secs_f64(),
        ))
    })?;
    run_record::write_record(&dir.run_record(), &whole)?;
    Ok(MergeSummary {
        shards: runs.len(),
        totals: Totals { chunks, ..totals },
        embeddings: embeddings.is_some(),
    })
}

/// Whether `out_dir` may receive the joined result: never a shard's own directory; a directory
/// holding results only when they are this merge's own, of the same input and models (a merge
/// retried by a workflow engine), or when `force` says to replace them.
fn check_destination(runs: &[ShardRun], out_dir: &Path, force: bool) -> Result<()> {
    let target = std::fs::canonicalize(out_dir).ok();
    for (dir, _) in runs {
        if target.is_some() && std::fs::canonicalize(dir).ok() == target {
            return Err(PredictError::Setup(format!(
                "{} is one of the shards being merged; give merge another output directory",
                out_dir.display()
            )));
        }
    }
    let dir = OutDir::new(out_dir);
    let holds_results = std::iter::once(&RUN_RECORD)
        .chain(RESULT_FILES.iter())
        .any(|name| dir.file(name).exists());
    if !holds_results || force {
        return Ok(());
    }
    let first = &runs[0].1;
    let own = run_record::read_record(&dir.run_record())
        .ok()
        .flatten()
        .is_some_and(|r| r.shard.is_none() && r.merged_shards.is_some() && r.same_source(first));
    if own {
        return Ok(());
    }
    Err(PredictError::Setup(format!(
        "{} already holds the results of another run; choose another output directory, or \
         pass --force to replace them",
        out_dir.display()
    )))
}

/// The lines of a shard's text file after its header, which must be `header`.
fn lines_after_header(
    path: &Path,
    header: &str,
    what: &str,
) -> Result<impl Iterator<Item = Result<String>>> {
    let cannot = {
        let path = path.to_path_buf();
        move |e: std::io::Error| {
            PredictError::file(
                &path,
                format!("cannot read: {e}; rerun this shard with --force-restart"),
            )
        }
    };
    let file = std::fs::File::open(path).map_err(&cannot)?;
    let mut lines = std::io::BufReader::with_capacity(1 << 20, file).lines();
    if lines.next().transpose().map_err(&cannot)?.as_deref() != Some(header.trim_end()) {
        return Err(PredictError::file(
            path,
            format!("not a {what} (its header differs)"),
        ));
    }
    Ok(lines.map(move |line| line.map_err(&cannot)))
}

/// A file of a shard held other than `want` rows: changed after its run.
fn row_count_error(path: &Path, rows: u64, want: u64, what: &str) -> PredictError {
    PredictError::file(
        path,
        format!(
            "{rows} rows, but its run recorded {want} {what}: the file was changed after the \
             run; rerun this shard with --force-restart"
        ),
    )
}

/// Feeds a shard's frame rows (and embeddings) to `writer`, checking there are `want`.
fn join_frames(
    writer: &mut ResultWriter,
    shard: &OutDir,
    want: u64,
    embeddings: Option<(usize, usize)>,
) -> Result<()> {
    let path = shard.results();
    let mut saved = match embeddings {
        Some(_) if want > 0 => Some(EmbeddingsReader::open(&shard.embeddings())?),
        _ => None,
    };
    if let Some(r) = &saved {
        if r.rows() as u64 != want || Some(r.dims()) != embeddings {
            return Err(PredictError::file(
                r.path(),
                format!(
                    "{} rows of {:?} floats, but its run recorded {want} frames of {:?}; \
                     rerun this shard with --force-restart",
                    r.rows(),
                    r.dims(),
                    embeddings.unwrap_or_default()
                ),
            ));
        }
    }
    let mut rows = 0u64;
    for (i, line) in
        lines_after_header(&path, RESULTS_HEADER, "prediction_results.txt")?.enumerate()
    {
        let line = line?;
        let bad = || {
            PredictError::file(
                &path,
                format!(
                    "line {}: expected id, label and two scores: '{line}'",
                    i + 2
                ),
            )
        };
        let mut fields = line.split('\t');
        let (Some(id), Some(_label), Some(p0), Some(p1), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(bad());
        };
        let probs = [
            p0.parse().map_err(|_| bad())?,
            p1.parse().map_err(|_| bad())?,
        ];
        rows += 1;
        match saved.as_mut() {
            Some(reader) => {
                let saved_path = reader.path().to_path_buf();
                let (saved_id, dnabert, esm) = reader
                    .next_row()?
                    .ok_or_else(|| row_count_error(&saved_path, rows - 1, want, "frames"))?;
                if saved_id != id {
                    return Err(PredictError::file(
                        &saved_path,
                        format!(
                            "row {rows} is '{saved_id}' but prediction_results.txt has '{id}' \
                             there; rerun this shard with --force-restart"
                        ),
                    ));
                }
                writer.frame(id, probs, Some((dnabert, esm)))?;
            }
            None => writer.frame(id, probs, None)?,
        }
    }
    if rows != want {
        return Err(row_count_error(&path, rows, want, "frames"));
    }
    Ok(())
}

/// Feeds a shard's per-sequence rows and viral records to `writer`, checking there are
/// `want` rows.
fn join_sequences(writer: &mut ResultWriter, shard: &OutDir, want: u64, fastq: bool) -> Result<()> {
    let path = shard.sequence_summary();
    let mut rows = 0u64;
    for (i, line) in lines_after_header(&path, SUMMARY_HEADER, "sequence_summary.tsv")?.enumerate()
    {
        let row = SequenceRow::parse(&line?, &path, i + 2)?;
        writer.sequence(&row, None)?;
        rows += 1;
    }
    if rows != want {
        return Err(row_count_error(&path, rows, want, "sequences"));
    }
    let viruses = shard.viruses(fastq);
    let cannot = |e: std::io::Error| PredictError::file(&viruses, format!("cannot read: {e}"));
    let mut file = std::fs::File::open(&viruses).map_err(cannot)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(cannot)?;
        if n == 0 {
            return Ok(());
        }
        writer.viral_records(&buf[..n])?;
    }
}

/// Feeds a shard's `renamed_ids.tsv` to `writer`.
fn join_renamed(writer: &mut ResultWriter, shard: &OutDir) -> Result<()> {
    let path = shard.renamed();
    for (i, line) in
        lines_after_header(&path, "record\toriginal_id\tnew_id", "renamed_ids.tsv")?.enumerate()
    {
        let line = line?;
        let bad = || {
            PredictError::file(
                &path,
                format!(
                    "line {}: expected record, original_id, new_id: '{line}'",
                    i + 2
                ),
            )
        };
        let mut fields = line.split('\t');
        let (Some(record), Some(original), Some(new), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        writer.renamed(&Renamed {
            record: record.parse().map_err(|_| bad())?,
            original: original.to_string(),
            new: new.to_string(),
        })?;
    }
    Ok(())
}

/// The embedding widths when the shards saved `embeddings.h5` (all of them with frames, or
/// none), `None` when none did.
fn embedding_widths(runs: &[ShardRun]) -> Result<Option<(usize, usize)>> {
    let with_frames: Vec<&PathBuf> = runs
        .iter()
        .filter(|(_, r)| r.summary.map(|s| s.frames).unwrap_or(0) > 0)
        .map(|(d, _)| d)
        .collect();
    let saved: Vec<PathBuf> = with_frames
        .iter()
        .map(|d| OutDir::new(d).embeddings())
        .filter(|p| p.is_file())
        .collect();
    if saved.is_empty() {
        return Ok(None);
    }
    if saved.len() != with_frames.len() {
        return Err(PredictError::Setup(format!(
            "only {} of {} shards hold {}: run every shard with or every shard without \
             --save-embeddings",
            saved.len(),
            with_frames.len(),
            crate::out_dir::EMBEDDINGS
        )));
    }
    let dims = EmbeddingsReader::open(&saved[0])?.dims();
    for path in &saved[1..] {
        if EmbeddingsReader::open(path)?.dims() != dims {
            return Err(PredictError::file(
                path,
                "embedding widths differ between shards",
            ));
        }
    }
    Ok(Some(dims))
}

/// Whether the shards' viral records are FASTQ (every shard must have them in one format).
fn viral_records_format(runs: &[ShardRun]) -> Result<bool> {
    let mut format = None;
    for (dir, _) in runs {
        let shard = OutDir::new(dir);
        let fastq = match (
            shard.viruses(false).is_file(),
            shard.viruses(true).is_file(),
        ) {
            (true, false) => false,
            (false, true) => true,
            _ => {
                return Err(PredictError::file(
                    dir,
                    format!(
                        "needs exactly one of {VIRUSES_FASTA} and {VIRUSES_FASTQ}; rerun this \
                         shard with --force-restart"
                    ),
                ))
            }
        };
        if *format.get_or_insert(fastq) != fastq {
            return Err(PredictError::file(
                dir,
                "its viral records are in another format than the first shard's",
            ));
        }
    }
    Ok(format.unwrap_or(false))
}

/// Same input, length and models everywhere; shards 1..N each once; ranges tiling the input.
fn check_shards(runs: &[ShardRun]) -> Result<()> {
    let (first_dir, first) = &runs[0];
    let first_shard = first.shard.expect("checked by the caller");
    for (dir, r) in runs {
        let same = r.same_source(first)
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
