//! The training set's features: each frame's DNABERT-S mean (768) followed by its ESM-2 mean
//! (2560), the classifier's input, computed by the engine `predict` runs on (token-budget
//! batches, one worker per device, background checkpoints, resume after any stop).
//!
//! The frames come from the dataset's `frames.fna` and `frames.faa`, read once in lockstep (the
//! ids must agree line for line). The checkpoints go to `DATASET/checkpoints/`; at the end they
//! are merged back into input order a slice at a time and written to `DATASET/features.h5`
//! (`ids`, `dnabert`, `esm2`: the layout of `predict --save-embeddings`), row `i` being row `i`
//! of `labels.tsv`, then checked against it, then `features.json` records the models; only then
//! are the checkpoints removed. Memory does not grow with the dataset.

use std::path::{Path, PathBuf};

use candle_core::Device;
use virnucpro_engine::fingerprint::model_fingerprint;
use virnucpro_engine::ordered::InOrder;
use virnucpro_engine::{encoder, Item, Model, ModelKind, Options, Progress, StopFlag};
use virnucpro_models::Precision;
use virnucpro_predict::embeddings::EmbeddingsWriter;
use virnucpro_predict::scorer::FrameScorer;
use virnucpro_seq::output::AtomicFile;
use virnucpro_seq::{DuplicateIds, FastaReader};

use crate::dataset::{remove_if_there, DATASET_JSON, LABELS, NUCLEOTIDES, PROTEINS};
use crate::error::{Result, TrainError};

/// The features file in a dataset directory.
pub const FEATURES: &str = "features.h5";
/// What the features were made with.
pub const FEATURES_JSON: &str = "features.json";
/// The engine's checkpoints, during a run.
pub const CHECKPOINTS: &str = "checkpoints";

/// What to compute.
#[derive(Debug, Clone)]
pub struct FeaturesRequest {
    /// A finished `virnucpro dataset` directory.
    pub dataset: PathBuf,
    /// ESM-2 model directory.
    pub esm: PathBuf,
    /// DNABERT-S model directory.
    pub dnabert: PathBuf,
    /// Devices, one worker each (times `workers_per_device`).
    pub devices: Vec<Device>,
    /// Model copies per device.
    pub workers_per_device: usize,
    /// Precision of both models.
    pub precision: Precision,
    /// Batching and checkpoint cadence; `force_restart` discards earlier checkpoints.
    pub options: Options,
    /// Where the model fingerprints are remembered.
    pub hash_cache: virnucpro_engine::file_hash::HashCache,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct FeaturesSummary {
    /// Frames with features.
    pub frames: u64,
    /// Of those, taken from earlier checkpoints.
    pub resumed: u64,
    /// DNABERT-S and ESM-2 widths.
    pub widths: (usize, usize),
}

/// Computes (or resumes) the features of the dataset in `req.dataset`.
pub fn extract_features(
    req: &FeaturesRequest,
    progress: &dyn Progress,
    stop: &StopFlag,
) -> Result<FeaturesSummary> {
    let dir = &req.dataset;
    let record = read_dataset_record(dir)?;
    let frames = record["counts"]["frames"].as_u64().unwrap_or(0);
    let _lock = virnucpro_engine::lock::DirLock::acquire(dir)?;
    let checkpoints = dir.join(CHECKPOINTS);
    let mut leftovers = virnucpro_seq::output::remove_orphaned_temps(dir, None)?;
    leftovers.extend(virnucpro_engine::checkpoint::remove_orphaned_temps(
        &checkpoints,
    )?);
    virnucpro_engine::runner::report_leftovers(&leftovers);
    for name in [FEATURES_JSON, FEATURES] {
        remove_if_there(&dir.join(name))?;
    }

    let fingerprint = format!(
        "esm2:{};dnabert:{}",
        model_fingerprint(&req.esm, &req.hash_cache)?,
        model_fingerprint(&req.dnabert, &req.hash_cache)?
    );
    let workers = encoder::load_each(
        &req.devices,
        req.workers_per_device,
        "the models",
        |device| -> Result<FrameScorer> {
            let dnabert = encoder::load(ModelKind::Dnabert, &req.dnabert, device, req.precision)?;
            let esm = encoder::load(ModelKind::Esm2, &req.esm, device, req.precision)?;
            Ok(FrameScorer::features(dnabert, esm))
        },
    )?;
    let widths = (workers[0].dnabert_dim(), workers[0].esm_dim());
    let models: Vec<&dyn Model> = workers.iter().map(|w| w as &dyn Model).collect();
    let source = FramePairs::open(&dir.join(NUCLEOTIDES), &dir.join(PROTEINS))?;
    std::fs::create_dir_all(&checkpoints)
        .map_err(|e| TrainError::file(&checkpoints, format!("cannot create: {e}")))?;
    let (summary, streamed) = virnucpro_engine::run_items(
        &models,
        source,
        &dir.join(NUCLEOTIDES),
        &checkpoints,
        &fingerprint,
        &req.options,
        progress,
        stop,
    )?;
    if streamed.total != frames {
        return Err(TrainError::file(
            dir,
            format!(
                "{NUCLEOTIDES} holds {} frames but {DATASET_JSON} counts {frames}: the dataset \
                 changed since it was made; make it again",
                streamed.total
            ),
        ));
    }

    // The checkpoints, in input order, into features.h5.
    let path = dir.join(FEATURES);
    let (d, e) = widths;
    let mut out = EmbeddingsWriter::create(&path, frames as usize, d, e)?;
    let mut rows = InOrder::open(&checkpoints, d + e)?;
    let mut labels = LabelIds::open(&dir.join(LABELS))?;
    while rows.next_row(|id, values| -> Result<()> {
        labels.expect(id)?;
        if stop.signal().is_some() {
            return Err(TrainError::Setup(
                "stopped by a signal while the features were written; run again to finish".into(),
            ));
        }
        out.push(id, &values[..d], &values[d..])?;
        Ok(())
    })? {}
    rows.finish(frames)?;
    drop(rows);
    labels.finish()?;
    out.commit()?;
    write_features_record(req, &fingerprint, &streamed.fingerprint, frames, widths)?;
    if !req.options.keep_checkpoints {
        std::fs::remove_dir_all(&checkpoints)
            .map_err(|e| TrainError::file(&checkpoints, format!("cannot remove: {e}")))?;
    }
    Ok(FeaturesSummary {
        frames,
        resumed: summary.resumed,
        widths,
    })
}

/// `dataset.json` of a finished dataset directory.
fn read_dataset_record(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join(DATASET_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        TrainError::file(
            &path,
            format!("cannot read ({e}): not a finished `virnucpro dataset` directory"),
        )
    })?;
    let record: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        TrainError::file(&path, format!("unreadable ({e}); make the dataset again"))
    })?;
    if record["complete"] != true {
        return Err(TrainError::file(
            &path,
            "the dataset is not complete; make it again",
        ));
    }
    Ok(record)
}

fn write_features_record(
    req: &FeaturesRequest,
    models: &str,
    input: &str,
    frames: u64,
    (d, e): (usize, usize),
) -> Result<()> {
    let path = req.dataset.join(FEATURES_JSON);
    let record = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "complete": true,
        "frames": frames,
        "dnabert_dim": d,
        "esm_dim": e,
        "models": {
            "esm": req.esm,
            "dnabert": req.dnabert,
            "fingerprint": models,
        },
        "precision": req.precision.to_string(),
        "input_fingerprint": input,
    });
    let mut f = AtomicFile::create(&path)?;
    f.write_all(
        serde_json::to_string_pretty(&record)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    f.write_all(b"\n")?;
    f.commit()?;
    Ok(())
}

/// The frames of a dataset as engine items: the nucleotide and protein records of the same
/// frame, read in lockstep.
struct FramePairs {
    nucleotides: FastaReader,
    proteins: FastaReader,
    paths: (PathBuf, PathBuf),
}

impl FramePairs {
    fn open(nucleotides: &Path, proteins: &Path) -> Result<Self> {
        // The ids were made unique by `dataset` and each is checked against labels.tsv: no
        // need for the readers' duplicate check, which holds 16 bytes a record.
        let open = |p: &Path| FastaReader::open_with(p, DuplicateIds::Allow);
        Ok(FramePairs {
            nucleotides: open(nucleotides)?,
            proteins: open(proteins)?,
            paths: (nucleotides.to_path_buf(), proteins.to_path_buf()),
        })
    }
}

impl Iterator for FramePairs {
    type Item = virnucpro_engine::Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        let mismatch = |what: String| {
            Some(Err(virnucpro_engine::EngineError::file(
                &self.paths.1,
                "does not match its nucleotide file",
                what,
            )))
        };
        match (self.nucleotides.next(), self.proteins.next()) {
            (None, None) => None,
            (Some(Err(e)), _) | (_, Some(Err(e))) => Some(Err(e.into())),
            (Some(Ok(n)), Some(Ok(p))) if n.id == p.id => Some(Ok(Item {
                id: n.id,
                seqs: vec![n.seq, p.seq],
            })),
            (Some(Ok(n)), Some(Ok(p))) => mismatch(format!(
                "'{}' where {} has '{}'; make the dataset again",
                p.id,
                self.paths.0.display(),
                n.id
            )),
            _ => mismatch("one file ends before the other; make the dataset again".into()),
        }
    }
}

/// The frame ids of `labels.tsv`, read a line at a time to check the features' order.
struct LabelIds {
    path: PathBuf,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    line: u64,
}

impl LabelIds {
    fn open(path: &Path) -> Result<Self> {
        use std::io::BufRead;
        let file = std::fs::File::open(path)
            .map_err(|e| TrainError::file(path, format!("cannot open: {e}")))?;
        let mut lines = std::io::BufReader::new(file).lines();
        lines.next(); // the header
        Ok(LabelIds {
            path: path.to_path_buf(),
            lines,
            line: 1,
        })
    }

    fn expect(&mut self, id: &str) -> Result<()> {
        self.line += 1;
        let line = match self.lines.next() {
            Some(Ok(line)) => line,
            Some(Err(e)) => return Err(TrainError::file(&self.path, format!("cannot read: {e}"))),
            None => String::new(),
        };
        if line.split('\t').next() != Some(id) {
            return Err(TrainError::file(
                &self.path,
                format!(
                    "line {} is not frame '{id}': labels and frames disagree; make the dataset \
                     again",
                    self.line
                ),
            ));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        match self.lines.next() {
            None => Ok(()),
            Some(_) => Err(TrainError::file(
                &self.path,
                "holds more rows than there are frames; make the dataset again",
            )),
        }
    }
}
