//! The whole prediction: chunk -> translate -> DNABERT-S -> ESM-2 -> concatenate (DNABERT-S
//! first) -> classifier -> softmax -> the two result files.
//!
//! Every stage writes its outputs atomically and is skipped on a rerun when they exist; the
//! embedding stages also resume inside, sequence by sequence. `run.json` in the output directory
//! ties it to its input, length and models: a rerun with anything else is refused unless
//! `force_restart`, and a finished run reruns instantly.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use virnucpro_engine::{encoder, fault, fingerprint, Options, StopFlag};
use virnucpro_models::{Classifier, Precision};
use virnucpro_seq::{AtomicFile, FastaReader, OutputPaths, Stages};

use crate::error::{PredictError, Result};
use crate::locate::ModelPaths;
use crate::results::{self, FrameCall};
use crate::shard::{self, Shard, ShardRecord};

/// Everything a prediction needs.
#[derive(Debug, Clone)]
pub struct Request {
    /// Input FASTA (plain or compressed).
    pub input: PathBuf,
    /// Chunk length (300 or 500).
    pub length: usize,
    /// Output directory.
    pub out_dir: PathBuf,
    /// The models.
    pub models: ModelPaths,
    /// Where the models run: one worker per device (per copy, see `workers_per_device`).
    pub devices: Vec<Device>,
    /// Model copies per device (several CPU workers share the cores).
    pub workers_per_device: usize,
    /// Process only this part of the input (`--shard I/N`), for `virnucpro merge` to join.
    pub shard: Option<Shard>,
    /// A worker failure to inject (tests of recovery only).
    pub fault: Option<virnucpro_engine::fault::Fault>,
    /// Their precision.
    pub precision: Precision,
    /// CPU threads for the sequence stages.
    pub threads: usize,
    /// Tokens per embedding batch.
    pub token_budget: usize,
    /// Checkpoint cadence of the embedding stages.
    pub checkpoint_every_seqs: u64,
    /// ...and in time.
    pub checkpoint_every: Duration,
    /// Start over, discarding an earlier run's state in `out_dir`.
    pub force_restart: bool,
    /// Also write `embeddings.h5` (ids, dnabert, esm2).
    pub save_embeddings: bool,
    /// Keep the intermediate files.
    pub keep_intermediates: bool,
}

/// Hooks through which the flow reports; the CLI logs and draws bars.
pub trait Reporter: Sync {
    /// A stage finished: its name, what it did, and how long it took.
    fn stage(&self, name: &str, detail: &str, seconds: f64);
    /// A warning for the user.
    fn warn(&self, message: &str);
    /// A progress sink for an embedding stage.
    fn embed_progress(&self, model: &str) -> Box<dyn virnucpro_engine::Progress + '_>;
    /// The embedding stage `model` finished with `summary` (per-worker throughput); by default,
    /// nothing is reported.
    fn workers(&self, _model: &str, _summary: &virnucpro_engine::Summary) {}
    /// Wraps the input file read by the chunk+translate stage (for a bar over its bytes); by
    /// default, reads it as it is.
    fn wrap_input(&self, _path: &Path, file: std::fs::File) -> Box<dyn std::io::Read + Send> {
        Box::new(file)
    }
}

/// A reporter that says nothing (tests, and callers that make their own report).
pub struct Silent;

impl Reporter for Silent {
    fn stage(&self, _: &str, _: &str, _: f64) {}
    fn warn(&self, _: &str) {}
    fn embed_progress(&self, _: &str) -> Box<dyn virnucpro_engine::Progress + '_> {
        Box::new(virnucpro_engine::NoProgress)
    }
}

/// What a prediction did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Input records.
    pub sequences: u64,
    /// Chunks.
    pub chunks: u64,
    /// Kept frames (= rows of prediction_results.txt).
    pub frames: u64,
    /// Frames called virus.
    pub virus_frames: u64,
    /// Chunks called virus by the consensus.
    pub virus_chunks: u64,
    /// Chunks in the consensus.
    pub consensus_chunks: u64,
    /// Seconds per stage, in order.
    pub stage_seconds: Vec<(String, f64)>,
    /// The run had finished before; nothing was recomputed.
    pub already_complete: bool,
}

/// Name of the run record in the output directory.
pub const RUN_RECORD: &str = "run.json";
/// `prediction_results.txt`.
pub const RESULTS: &str = "prediction_results.txt";
/// `prediction_results_highestscore.csv`.
pub const CONSENSUS: &str = "prediction_results_highestscore.csv";

/// `run.json`: what a run in an output directory was made from, whether it finished, and what it
/// found. `merge` reads it from each shard's directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// Fingerprint of the whole input (ids and sequences).
    pub input_fingerprint: String,
    /// Chunk length.
    pub length: usize,
    /// Fingerprints of the three models.
    pub esm_fingerprint: String,
    /// DNABERT-S.
    pub dnabert_fingerprint: String,
    /// The classifier.
    pub classifier_fingerprint: String,
    /// Whether both result files were written.
    pub complete: bool,
    /// sequences, chunks, frames, virus frames, consensus chunks, virus chunks.
    pub summary: Option<[u64; 6]>,
    /// The part of the input this run did, when it was one shard of several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
}

/// Runs (or resumes) a prediction.
pub fn predict(req: &Request, reporter: &dyn Reporter, stop: &StopFlag) -> Result<Summary> {
    let out = &req.out_dir;
    std::fs::create_dir_all(out)
        .map_err(|e| PredictError::file(out, format!("cannot create: {e}")))?;
    let work = out.join("intermediates");

    // The record of this run: its input, length and models.
    let mut input_fp = fingerprint::InputFingerprint::new();
    let mut lengths: Vec<u32> = Vec::new();
    for record in FastaReader::open(&req.input)? {
        let record = record?;
        input_fp.add(&record.id, &record.seq);
        if req.shard.is_some() {
            lengths.push(u32::try_from(record.seq.len()).unwrap_or(u32::MAX));
        }
    }
    let shard = req.shard.map(|s| shard::plan(&lengths, s));
    drop(lengths);
    let mut record = RunRecord {
        input_fingerprint: input_fp.finish(),
        length: req.length,
        esm_fingerprint: fingerprint::model_fingerprint(&req.models.esm)?,
        dnabert_fingerprint: fingerprint::model_fingerprint(&req.models.dnabert)?,
        classifier_fingerprint: fingerprint::model_fingerprint(&req.models.classifier)?,
        complete: false,
        summary: None,
        shard,
    };
    let record_path = out.join(RUN_RECORD);
    if let Some(previous) = read_record(&record_path)? {
        let same = RunRecord {
            complete: previous.complete,
            summary: previous.summary,
            ..record.clone()
        } == previous;
        if !same && !req.force_restart {
            return Err(PredictError::Setup(format!(
                "{} holds a run of a different input, length, model or shard; rerun with \
                 --force-restart to discard it, or choose another output directory",
                out.display()
            )));
        }
        if same
            && previous.complete
            && out.join(RESULTS).is_file()
            && out.join(CONSENSUS).is_file()
            && !req.force_restart
        {
            let s = previous.summary.unwrap_or_default();
            return Ok(Summary {
                sequences: s[0],
                chunks: s[1],
                frames: s[2],
                virus_frames: s[3],
                consensus_chunks: s[4],
                virus_chunks: s[5],
                already_complete: true,
                ..Summary::default()
            });
        }
    }
    if req.force_restart {
        for p in [work.clone()] {
            if p.exists() {
                std::fs::remove_dir_all(&p)
                    .map_err(|e| PredictError::file(&p, format!("cannot remove: {e}")))?;
            }
        }
    }
    write_record(&record_path, &record)?;
    std::fs::create_dir_all(&work)
        .map_err(|e| PredictError::file(&work, format!("cannot create: {e}")))?;

    let mut summary = Summary::default();
    let stem = "input";
    let chunked = work.join(format!("{stem}.chunked{}.fa", req.length));
    let nucleotide = work.join(format!("{stem}.identified.fna"));
    let protein = work.join(format!("{stem}.identified.faa"));

    // Stages 1-2: chunk and translate in one pass.
    let started = Instant::now();
    if nucleotide.is_file() && protein.is_file() && chunked.is_file() {
        summary.sequences = match &shard {
            Some(s) => s.end - s.start,
            None => count_records(&req.input)?,
        };
        summary.chunks = count_records(&chunked)?;
        summary.frames = count_records(&nucleotide)?;
        reporter.stage("chunk+translate", "done in an earlier run", 0.0);
    } else {
        let file = virnucpro_seq::fasta::open_input(&req.input)?;
        let mut reader =
            FastaReader::from_reader(&req.input, reporter.wrap_input(&req.input, file))?;
        if let Some(s) = &shard {
            reader = reader.only(s.start..s.end);
        }
        let s = virnucpro_seq::run(
            Stages::ChunkAndTranslate { length: req.length },
            reader,
            &OutputPaths {
                chunked: Some(chunked.clone()),
                nucleotide: Some(nucleotide.clone()),
                protein: Some(protein.clone()),
            },
            req.threads,
        )?;
        if s.skipped.count > 0 {
            reporter.warn(&format!(
                "{}: skipped {} empty record(s): {}",
                req.input.display(),
                s.skipped.count,
                s.skipped.first_ids.join(", ")
            ));
        }
        summary.sequences = s.records;
        summary.chunks = s.chunks;
        summary.frames = s.kept_frames;
        let secs = started.elapsed().as_secs_f64();
        reporter.stage(
            "chunk+translate",
            &format!(
                "{} sequences -> {} chunks -> {} kept frames",
                s.records, s.chunks, s.kept_frames
            ),
            secs,
        );
        summary.stage_seconds.push(("chunk+translate".into(), secs));
    }

    let calls = if summary.frames == 0 {
        reporter.warn(
            "no frame without a stop codon was found: the result files hold their header only",
        );
        Vec::new()
    } else {
        // Stages 3-4: the two embeddings, each resumable inside.
        let options = Options {
            token_budget: req.token_budget,
            checkpoint_every_seqs: req.checkpoint_every_seqs,
            checkpoint_every: req.checkpoint_every,
            force_restart: false,
            keep_checkpoints: false,
        };
        let dna_out = work.join("dnabert").join("embeddings.h5");
        let esm_out = work.join("esm2").join("embeddings.h5");
        for (kind, model, input, output, fp) in [
            (
                "dnabert",
                &req.models.dnabert,
                &nucleotide,
                &dna_out,
                &record.dnabert_fingerprint,
            ),
            (
                "esm2",
                &req.models.esm,
                &protein,
                &esm_out,
                &record.esm_fingerprint,
            ),
        ] {
            let started = Instant::now();
            if output.is_file() {
                reporter.stage(kind, "done in an earlier run", 0.0);
                continue;
            }
            let dir = output
                .parent()
                .expect("an output inside the work directory");
            std::fs::create_dir_all(dir)
                .map_err(|e| PredictError::file(dir, format!("cannot create: {e}")))?;
            let workers = encoder::load_workers(
                kind,
                model,
                &req.devices,
                req.workers_per_device,
                req.precision,
            )?;
            let workers = fault::inject(workers, req.fault);
            let refs: Vec<&dyn encoder::Encoder> = workers.iter().map(|w| w.as_ref()).collect();
            let progress = reporter.embed_progress(kind);
            let s = virnucpro_engine::embed_file(
                &refs,
                input,
                output,
                fp,
                &options,
                progress.as_ref(),
                stop,
            )?;
            let secs = started.elapsed().as_secs_f64();
            reporter.stage(
                kind,
                &format!(
                    "{} frames embedded ({} from earlier checkpoints), {:.0} frames/s",
                    s.total,
                    s.resumed,
                    s.computed as f64 / secs.max(1e-9)
                ),
                secs,
            );
            reporter.workers(kind, &s);
            summary.stage_seconds.push((kind.into(), secs));
        }

        // Stage 5: concatenate and classify.
        let started = Instant::now();
        let dna = virnucpro_engine::output::read(&dna_out)?;
        let esm = virnucpro_engine::output::read(&esm_out)?;
        if dna.ids != esm.ids {
            return Err(PredictError::Setup(format!(
                "the DNABERT-S and ESM-2 embeddings under {} list different frames; rerun with --force-restart",
                work.display()
            )));
        }
        let classifier = Classifier::load(&req.models.classifier, &Device::Cpu)?;
        if classifier.input_size() != dna.dim + esm.dim {
            return Err(PredictError::Setup(format!(
                "{} takes {} features, but DNABERT-S ({}) + ESM-2 ({}) give {}: the classifier does \
                 not belong to these embedding models",
                req.models.classifier.display(),
                classifier.input_size(),
                dna.dim,
                esm.dim,
                dna.dim + esm.dim
            )));
        }
        let n = dna.ids.len();
        let mut features = Vec::with_capacity(n * (dna.dim + esm.dim));
        for i in 0..n {
            features.extend_from_slice(dna.row(i));
            features.extend_from_slice(esm.row(i));
        }
        let x = Tensor::from_vec(features, (n, dna.dim + esm.dim), &Device::Cpu)
            .map_err(virnucpro_models::ModelError::from)?;
        let predictions = classifier.predict(&x)?;
        if req.save_embeddings {
            save_embeddings(&out.join("embeddings.h5"), &dna, &esm)?;
        }
        let calls: Vec<FrameCall> = dna
            .ids
            .into_iter()
            .zip(predictions)
            .map(|(id, p)| FrameCall { id, probs: p.probs })
            .collect();
        let secs = started.elapsed().as_secs_f64();
        reporter.stage("classify", &format!("{n} frames"), secs);
        summary.stage_seconds.push(("classify".into(), secs));
        calls
    };

    write_results(out, &calls)?;
    let consensus = results::consensus(&calls);
    summary.virus_frames = calls.iter().filter(|c| c.label() == "virus").count() as u64;
    summary.consensus_chunks = consensus.len() as u64;
    summary.virus_chunks = consensus.iter().filter(|c| c.1).count() as u64;

    record.complete = true;
    record.summary = Some([
        summary.sequences,
        summary.chunks,
        summary.frames,
        summary.virus_frames,
        summary.consensus_chunks,
        summary.virus_chunks,
    ]);
    write_record(&record_path, &record)?;
    if !req.keep_intermediates {
        std::fs::remove_dir_all(&work)
            .map_err(|e| PredictError::file(&work, format!("cannot remove: {e}")))?;
    }
    Ok(summary)
}

/// Writes the two result files of `calls` into `out`, each atomically.
pub fn write_results(out: &Path, calls: &[FrameCall]) -> Result<()> {
    for (name, text) in [
        (RESULTS, results::prediction_results(calls)),
        (CONSENSUS, results::consensus_csv(calls)),
    ] {
        let mut f = AtomicFile::create(out.join(name))?;
        f.write_all(text.as_bytes())?;
        f.commit()?;
    }
    Ok(())
}

fn count_records(path: &Path) -> Result<u64> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(0);
    }
    let mut n = 0;
    for r in FastaReader::open(path)? {
        r?;
        n += 1;
    }
    Ok(n)
}

/// Reads `run.json`, if there is one.
pub fn read_record(path: &Path) -> Result<Option<RunRecord>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            PredictError::file(
                path,
                format!("unreadable run record ({e}); use --force-restart"),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PredictError::file(path, e)),
    }
}

/// Writes `run.json` atomically.
pub fn write_record(path: &Path, record: &RunRecord) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    let text = serde_json::to_string_pretty(record).map_err(|e| PredictError::file(path, e))?;
    f.write_all(text.as_bytes())?;
    f.commit()?;
    Ok(())
}

/// Writes `embeddings.h5`: `ids`, `dnabert` and `esm2` (float32), atomically.
pub fn save_embeddings(
    path: &Path,
    dna: &virnucpro_engine::output::Embeddings,
    esm: &virnucpro_engine::output::Embeddings,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = virnucpro_seq::output::temp_file_in(dir, ".embeddings.")
        .map_err(|e| PredictError::file(path, e))?;
    let h5 = |e: hdf5::Error| PredictError::file(path, e);
    {
        let file = hdf5::File::create(temp.path()).map_err(h5)?;
        let ids: Vec<hdf5::types::VarLenUnicode> = dna
            .ids
            .iter()
            .map(|s| s.parse().unwrap_or_default())
            .collect();
        file.new_dataset_builder()
            .with_data(ids.as_slice())
            .create("ids")
            .map_err(h5)?;
        for (name, e) in [("dnabert", dna), ("esm2", esm)] {
            let view = ndarray::ArrayView2::from_shape((e.ids.len(), e.dim), &e.values)
                .map_err(|err| PredictError::file(path, err))?;
            file.new_dataset_builder()
                .with_data(view)
                .create(name)
                .map_err(h5)?;
        }
        file.close().map_err(h5)?;
    }
    virnucpro_seq::output::persist_synced(temp, path)?;
    Ok(())
}
