//! The whole prediction, in one pass over the input: chunk -> translate -> (DNABERT-S, ESM-2
//! -> concatenate, DNABERT-S first -> classifier -> softmax) per batch of frames -> the two
//! result files.
//!
//! The engine runs the three models on each batch of frames and checkpoints the two
//! probabilities of each frame, so no embedding outlives its batch and nothing but the
//! checkpoints (tens of bytes a frame) is on disk during a run. A rerun resumes frame by frame.
//! The result files are written from the checkpoints in input order, as a stream. `run.json`
//! in the output directory ties it to its input, length and models: a rerun with anything else
//! is refused unless `force_restart`, and a finished run reruns instantly.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use virnucpro_engine::ordered::InOrder;
use virnucpro_engine::{encoder, fault, fingerprint, Model, ModelKind, Options, StopFlag};
use virnucpro_models::Classifier;
use virnucpro_seq::{DuplicateIds, FastaReader};

use crate::error::{PredictError, Result};
use crate::frames::Frames;
use crate::ledger::LedgerWriter;
use crate::out_dir::OutDir;
pub use crate::request::{Reporter, Request, Silent, Summary};
use crate::result_writer::{Plan, ResultWriter};
use crate::run_record::{read_record, write_record, RunRecord, Timings};
use crate::scorer::{FrameScorer, SCORES};
use crate::sequence_calls::SequenceTable;
use crate::shard::{self, Shard, ShardRecord};
use crate::totals::Totals;

/// Runs (or resumes) a prediction: describe the run, stop early if this very run finished
/// before, load the models, score every frame in one pass over the input, write the result
/// files from the checkpoints, and record the run as complete.
pub fn predict(req: &Request, reporter: &dyn Reporter, stop: &StopFlag) -> Result<Summary> {
    let started = Instant::now();
    let out = &req.out_dir;
    let dir = OutDir::new(out);
    std::fs::create_dir_all(out)
        .map_err(|e| PredictError::file(out, format!("cannot create: {e}")))?;
    // One run at a time in OUT_DIR, from the first read of its record to the last write.
    let _lock = virnucpro_engine::lock::DirLock::acquire(out)?;
    virnucpro_engine::runner::report_leftovers(
        &dir.remove_orphaned_temps(req.kraken_output.as_deref())?,
    );
    // An output outside OUT_DIR that cannot be written stops the run before it starts.
    if let Some(kraken) = &req.kraken_output {
        virnucpro_seq::output::check_writable(kraken)?;
    }
    let work = dir.intermediates();
    let record_path = dir.run_record();

    let (mut record, fingerprint_seconds) = describe_run(req, reporter)?;
    if let Some(done) = finished_before(req, &record, &dir)? {
        return Ok(done);
    }
    if req.force_restart {
        start_over(&dir)?;
    }

    // Every model is loaded before anything is written, so a broken one stops the run here.
    let scorers = load_scorers(req)?;
    let widths = (scorers[0].dnabert_dim(), scorers[0].esm_dim());
    let workers: Vec<Box<dyn Model>> = scorers
        .into_iter()
        .map(|w| Box::new(w) as Box<dyn Model>)
        .collect();
    let workers = fault::inject_models(workers, req.fault);
    let workers: Vec<&dyn Model> = workers.iter().map(|w| w.as_ref()).collect();
    write_record(&record_path, &record)?;
    std::fs::create_dir_all(&work)
        .map_err(|e| PredictError::file(&work, format!("cannot create: {e}")))?;

    let scored = score_frames(req, &workers, &mut record, &dir, reporter, stop)?;
    let mut summary = Summary {
        stage_seconds: vec![("fingerprint".into(), fingerprint_seconds)],
        ..Summary::default()
    };
    report_scoring(req, reporter, &scored, started, &mut summary);

    let keep_embeddings = req.save_embeddings.then_some(widths);
    let width = workers[0].width();
    write_results(
        req,
        &dir,
        &scored,
        Layout {
            width,
            embeddings: keep_embeddings,
        },
        reporter,
        (&mut summary, &mut record),
        started,
        stop,
    )?;
    // The last write: a crash before it resumes rather than reporting a finished run.
    write_record(&record_path, &record)?;
    if !req.keep_intermediates {
        std::fs::remove_dir_all(&work)
            .map_err(|e| PredictError::file(&work, format!("cannot remove: {e}")))?;
    }
    Ok(summary)
}

/// The record of this run as far as it is known before the input is read: its length,
/// settings and the models' fingerprints (the input's comes with the pass over it), and how
/// long fingerprinting the models took.
fn describe_run(req: &Request, reporter: &dyn Reporter) -> Result<(RunRecord, f64)> {
    let hashing = Instant::now();
    let hashes = crate::locate::hash_cache();
    let record = RunRecord {
        input_fingerprint: String::new(),
        length: req.length,
        esm_fingerprint: fingerprint::model_fingerprint(&req.models.esm, &hashes)?,
        dnabert_fingerprint: fingerprint::model_fingerprint(&req.models.dnabert, &hashes)?,
        classifier_fingerprint: fingerprint::model_fingerprint(&req.models.classifier, &hashes)?,
        complete: false,
        summary: None,
        shard: req
            .shard
            .map(|s| plan_shard(&req.input, s, req.duplicates))
            .transpose()?,
        seconds: None,
        min_score: req.min_score,
        rename_duplicates: req.duplicates == DuplicateIds::Rename,
        merged_shards: None,
    };
    let seconds = hashing.elapsed().as_secs_f64();
    reporter.stage(
        "fingerprint",
        "whole-content hashes of the model files (remembered between runs)",
        seconds,
    );
    Ok((record, seconds))
}

/// `Some` summary when the output directory holds this very run, finished (its Kraken file is
/// written again if asked); `None` to run or resume; an error for another run's directory.
fn finished_before(req: &Request, record: &RunRecord, dir: &OutDir) -> Result<Option<Summary>> {
    if req.force_restart {
        // Whatever the record says, even when it cannot be read: the run starts over.
        return Ok(None);
    }
    let Some(previous) = read_record(&dir.run_record())? else {
        return Ok(None);
    };
    let done = compare_with_previous(req, record, &previous)?;
    if done.is_some() {
        if let Some(kraken) = &req.kraken_output {
            let summary = dir.sequence_summary();
            if !summary.is_file() {
                return Err(PredictError::file(
                    &summary,
                    "missing: this run was made before per-sequence calls existed; rerun it \
                     with --force-restart to write them",
                ));
            }
            crate::sequence_calls::write_kraken(&summary, kraken)?;
        }
    }
    Ok(done)
}

/// What the one pass over the input left behind.
struct Scored {
    /// What the engine did.
    engine: virnucpro_engine::Summary,
    /// Kept frames, all checkpointed.
    frames: u64,
    /// Records and chunks read.
    counts: crate::frames::Counts,
    /// Empty records, left out.
    skipped: virnucpro_seq::fasta::SkippedRecords,
    /// Records given a new id.
    renamed: Vec<virnucpro_seq::Renamed>,
    /// The record ledger the per-sequence table is made from.
    ledger: std::path::PathBuf,
    /// Whether the input is read again for the viral records (a file), or the ledger kept
    /// them (a stream).
    reread_input: bool,
}

/// The one pass: read, chunk, translate, embed, classify, checkpoint. Every kept frame of the
/// input ends up in a checkpoint under `intermediates/checkpoints`; `record` gets the input's fingerprint.
fn score_frames(
    req: &Request,
    workers: &[&dyn Model],
    record: &mut RunRecord,
    dir: &OutDir,
    reporter: &dyn Reporter,
    stop: &StopFlag,
) -> Result<Scored> {
    let input = virnucpro_seq::fasta::open_input(&req.input)?;
    let reader = FastaReader::from_reader(&req.input, reporter.wrap_input(&req.input, input))?
        .with_duplicates(req.duplicates);
    let ledger_path = dir.ledger();
    // A file is read again for the viral records at the end; a stream's records are kept.
    let reread_input = rereadable(&req.input);
    let ledger = LedgerWriter::create(&ledger_path, !reread_input)
        .map_err(|e| PredictError::file(&ledger_path, format!("cannot create: {e}")))?;
    let mut frames =
        Frames::new(reader, req.length, record.shard.map(|s| s.start..s.end)).with_ledger(ledger);
    let options = Options {
        token_budget: req.token_budget,
        checkpoint_every_seqs: req.checkpoint_every_seqs,
        checkpoint_every: req.checkpoint_every,
        force_restart: false,
        keep_checkpoints: true,
    };
    let progress = reporter.embed_progress("predict");
    let (engine, streamed) = virnucpro_engine::run_items(
        workers,
        &mut frames,
        &req.input,
        &dir.checkpoints(),
        &combined_fingerprint(record),
        &options,
        progress.as_ref(),
        stop,
    )?;
    drop(progress);
    record.input_fingerprint = frames.fingerprint();
    frames
        .finish_ledger()
        .map_err(|e| PredictError::file(&ledger_path, format!("cannot write: {e}")))?;
    Ok(Scored {
        skipped: frames.skipped().clone(),
        counts: frames.counts(),
        renamed: frames.renamed().to_vec(),
        engine,
        frames: streamed.total,
        ledger: ledger_path,
        reread_input,
    })
}

/// Warns of what the pass found (damaged or repeated checkpoints, empty or renamed records, no
/// frame at all), reports the stage, and fills the pass's part of `summary`.
fn report_scoring(
    req: &Request,
    reporter: &dyn Reporter,
    scored: &Scored,
    started: Instant,
    summary: &mut Summary,
) {
    let engine = &scored.engine;
    for (path, reason) in &engine.corrupt {
        reporter.warn(&format!(
            "unusable checkpoint {} ({reason}): its frames were computed again",
            path.display()
        ));
    }
    if engine.repeated_rows > 0 {
        reporter.warn(&format!(
            "{} frame(s) were found identical in more than one checkpoint and used once",
            engine.repeated_rows
        ));
    }
    for (path, id) in &engine.conflicting_rows {
        reporter.warn(&format!(
            "{}: frame '{id}' has different rows in more than one checkpoint; every copy was \
             dropped and it was computed again",
            path.display()
        ));
    }
    if scored.skipped.count > 0 {
        reporter.warn(&format!(
            "{}: skipped {} empty record(s): {}",
            req.input.display(),
            scored.skipped.count,
            scored.skipped.first_ids.join(", ")
        ));
    }
    if let Some(first) = scored.renamed.first() {
        reporter.warn(&format!(
            "{} record(s) had an id an earlier record has and were renamed (first: '{}' -> \
             '{}'); the mapping is in {}",
            scored.renamed.len(),
            first.original,
            first.new,
            OutDir::new(&req.out_dir).renamed().display()
        ));
    }
    let secs = started.elapsed().as_secs_f64();
    reporter.stage(
        "predict",
        &format!(
            "{} sequences -> {} chunks -> {} kept frames ({} from earlier checkpoints), {:.0} \
             frames/s, {:.1} s in the models",
            scored.counts.sequences,
            scored.counts.chunks,
            scored.frames,
            engine.resumed,
            engine.computed as f64 / secs.max(1e-9),
            engine.model_seconds
        ),
        secs,
    );
    reporter.workers("predict", engine);
    if scored.frames == 0 {
        reporter.warn(
            "no frame without a stop codon was found: the result files hold their header only",
        );
    }
    summary.forward_seconds = engine.model_seconds;
    summary.resumed_frames = engine.resumed;
    summary.stage_seconds.push(("predict".into(), secs));
}

/// How the checkpoints' rows are laid out: their width, and the two embedding widths after
/// the scores when they hold the embeddings.
struct Layout {
    width: usize,
    embeddings: Option<(usize, usize)>,
}

/// Every result file, in input order, from the checkpoints and the record ledger, through the
/// one result writer; `summary.json` last. Fills the writing's part of `summary` and marks
/// `record` complete with the counts and timings (the caller writes it).
#[allow(clippy::too_many_arguments)]
fn write_results(
    req: &Request,
    dir: &OutDir,
    scored: &Scored,
    layout: Layout,
    reporter: &dyn Reporter,
    (summary, record): (&mut Summary, &mut RunRecord),
    started: Instant,
    stop: &StopFlag,
) -> Result<()> {
    let writing = Instant::now();
    let writing_cpu = virnucpro_engine::clock::thread_cpu_seconds();
    let reread = scored
        .reread_input
        .then(|| FastaReader::open_with(&req.input, req.duplicates))
        .transpose()?;
    let mut table = SequenceTable::open(&scored.ledger, req.min_score, reread)?;
    let plan = Plan {
        frames: scored.frames,
        embeddings: layout.embeddings,
        fastq: table.fastq(),
        kraken: req.kraken_output.clone(),
        renamed: req.duplicates == DuplicateIds::Rename,
    };
    // The consensus spills its sorted runs beside the checkpoints.
    let mut writer = ResultWriter::create(dir, &dir.intermediates(), &plan, stop.clone())?;
    let mut rows = InOrder::open(&dir.checkpoints(), layout.width)?;
    while rows.next_row(|id, values| -> Result<()> {
        let probs = [values[0], values[1]];
        let embedding = layout
            .embeddings
            .map(|(d, _)| (&values[SCORES..SCORES + d], &values[SCORES + d..]));
        writer.frame(id, probs, embedding)?;
        table.push(id, probs, &mut writer)
    })? {}
    rows.finish(scored.frames)?;
    let duplicates = rows.duplicates;
    drop(rows);
    table.finish(&mut writer)?;
    for renamed in &scored.renamed {
        writer.renamed(renamed)?;
    }
    if duplicates > 0 {
        reporter.warn(&format!(
            "{duplicates} frame(s) were in two checkpoints with the same result; each was used \
             once"
        ));
    }
    let engine = &scored.engine;
    writer.finish(|totals| {
        let secs = writing.elapsed().as_secs_f64();
        reporter.stage("write", &format!("{} frames", scored.frames), secs);
        summary.stage_seconds.push(("write".into(), secs));
        summary.totals = Totals {
            chunks: scored.counts.chunks,
            ..*totals
        };
        let writing_cpu = virnucpro_engine::clock::thread_cpu_seconds() - writing_cpu;
        tracing::debug!(
            "CPU outside the models: {:.2} s reading, tokenising and planning, {:.2} s \
             checkpointing, {writing_cpu:.2} s writing the result files",
            engine.feeder_cpu_seconds,
            engine.writer_cpu_seconds
        );
        record.complete = true;
        record.summary = Some(summary.totals);
        record.seconds = Some(Timings {
            wall: started.elapsed().as_secs_f64(),
            forward: summary.forward_seconds,
            flow_cpu: engine.feeder_cpu_seconds + engine.writer_cpu_seconds + writing_cpu,
        });
        Ok(crate::run_summary::of_run(req, record, summary, engine))
    })?;
    Ok(())
}

/// What the previous run in the output directory means for this one: `Some` when it is this
/// very run, finished; an error when it is another run and `force_restart` was not given.
fn compare_with_previous(
    req: &Request,
    record: &RunRecord,
    previous: &RunRecord,
) -> Result<Option<Summary>> {
    let refuse = |what: &str| {
        PredictError::Setup(format!(
            "{} holds a run of a different {what}; rerun with --force-restart to discard it, or \
             choose another output directory",
            req.out_dir.display()
        ))
    };
    let same_setup = previous.length == record.length
        && previous.esm_fingerprint == record.esm_fingerprint
        && previous.dnabert_fingerprint == record.dnabert_fingerprint
        && previous.classifier_fingerprint == record.classifier_fingerprint
        && previous.shard == record.shard;
    if req.force_restart {
        return Ok(None);
    }
    if !same_setup {
        return Err(refuse("input, length, model or shard"));
    }
    if previous.min_score != record.min_score {
        return Err(PredictError::Setup(format!(
            "{} holds a run made with --min-score {}; give that, or --force-restart to run \
             again with {}, or choose another output directory",
            req.out_dir.display(),
            previous.min_score,
            record.min_score
        )));
    }
    let finished = previous.complete && OutDir::new(&req.out_dir).holds_finished_results();
    if !finished {
        return Ok(None); // resume: the engine checks each finished frame against the input
    }
    // One pass over the input tells whether it is the one this finished run was made from.
    let mut fp = fingerprint::InputFingerprint::new();
    for r in FastaReader::open_with(&req.input, req.duplicates)? {
        let r = r?;
        fp.add(&r.id, &r.seq);
    }
    if fp.finish() != previous.input_fingerprint {
        return Err(refuse("input"));
    }
    Ok(Some(Summary {
        totals: previous.summary.unwrap_or_default(),
        already_complete: true,
        ..Summary::default()
    }))
}

/// `--force-restart`: the old checkpoints and result files go before anything else is written.
fn start_over(dir: &OutDir) -> Result<()> {
    let work = dir.intermediates();
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .map_err(|e| PredictError::file(&work, format!("cannot remove: {e}")))?;
    }
    dir.remove_results()
}

/// Whether the input is a regular file, which can be read a second time (a pipe, FIFO or
/// standard input cannot).
fn rereadable(input: &Path) -> bool {
    input.as_os_str() != virnucpro_seq::fasta::STDIN
        && std::fs::metadata(input).is_ok_and(|m| m.is_file())
}

/// The record range of `shard`: measuring the input's records first needs it as a file.
fn plan_shard(input: &Path, shard: Shard, duplicates: DuplicateIds) -> Result<ShardRecord> {
    let is_file = std::fs::metadata(input)
        .map(|m| m.is_file())
        .unwrap_or(false);
    if !is_file {
        return Err(PredictError::Setup(format!(
            "{}: --shard needs the input as a file, read once to split it by bases before the \
             run; save the stream to a file first",
            input.display()
        )));
    }
    let mut lengths: Vec<u32> = Vec::new();
    for r in FastaReader::open_with(input, duplicates)? {
        lengths.push(u32::try_from(r?.seq.len()).unwrap_or(u32::MAX));
    }
    Ok(shard::plan(&lengths, shard))
}

/// One fingerprint for the three models, for the checkpoints.
fn combined_fingerprint(record: &RunRecord) -> String {
    let text = format!(
        "{}:{}:{}",
        record.dnabert_fingerprint, record.esm_fingerprint, record.classifier_fingerprint
    );
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()))
}

/// DNABERT-S, ESM-2 and the classifier for every worker: `workers_per_device` on each device.
fn load_scorers(req: &Request) -> Result<Vec<FrameScorer>> {
    crate::released::check_length(&req.models.classifier, req.length)?;
    let classifier = Arc::new(Classifier::load(&req.models.classifier, &Device::Cpu)?);
    encoder::load_each(
        &req.devices,
        req.workers_per_device,
        "the models",
        |device| -> Result<FrameScorer> {
            let dnabert = encoder::load(
                ModelKind::Dnabert,
                &req.models.dnabert,
                device,
                req.precision,
            )?;
            let esm = encoder::load(ModelKind::Esm2, &req.models.esm, device, req.precision)?;
            FrameScorer::new(dnabert, esm, classifier.clone(), req.save_embeddings)
                .map_err(|message| PredictError::file(&req.models.classifier, message))
        },
    )
}
