//! The engine's view of an embedding model: tokenise one sequence, embed a batch of them.
//! One small trait, so batching, devices and checkpoints know nothing of either network, and one
//! generic adapter ([`ModelEncoder`]) that puts any [`EmbeddingModel`] behind it.

use std::path::Path;

use candle_core::Device;
use virnucpro_models::{
    Dnabert, EmbeddingModel, Esm2, ModelError, PackedBatch, Precision, SequenceTokenizer,
};

use crate::error::Result;
use crate::model_kind::ModelKind;

/// A model that turns token sequences into one embedding each.
pub trait Encoder: Send + Sync {
    /// `esm2` or `dnabert`: names the model in checkpoints.
    fn name(&self) -> &'static str;
    /// Embedding width.
    fn dim(&self) -> usize;
    /// Whether batches are packed (no padding) or padded.
    fn packed(&self) -> bool;
    /// Compute precision, for the `dtype` attribute.
    fn precision(&self) -> Precision;
    /// The device the model runs on.
    fn device(&self) -> &Device;
    /// Token ids of one sequence, specials included; the error says why it cannot be tokenised.
    fn tokenize(&self, seq: &str) -> std::result::Result<Vec<u32>, ModelError>;
    /// Embeddings of a batch, row-major `[batch.len(), dim]`, in the order given.
    fn embed(&self, batch: &[&[u32]]) -> Result<Vec<f32>>;
}

/// An [`EmbeddingModel`] and its tokenizer as an [`Encoder`]: packed batches, the model's own
/// pooling.
pub struct ModelEncoder<M: EmbeddingModel> {
    kind: ModelKind,
    model: M,
    tokenizer: M::Tokenizer,
    precision: Precision,
}

/// ESM-2 in the engine: proteins, residue-mean pooling.
pub type Esm2Encoder = ModelEncoder<Esm2>;
/// DNABERT-S in the engine: nucleotides, mean over all tokens.
pub type DnabertEncoder = ModelEncoder<Dnabert>;

impl<M: EmbeddingModel> ModelEncoder<M> {
    /// Wraps a loaded model and its tokenizer; `kind` names it in checkpoints.
    pub fn new(kind: ModelKind, model: M, tokenizer: M::Tokenizer, precision: Precision) -> Self {
        ModelEncoder {
            kind,
            model,
            tokenizer,
            precision,
        }
    }

    /// Loads the tokenizer (first: it is the cheap check), then the model, from `dir`.
    pub fn load(
        kind: ModelKind,
        dir: &Path,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let tokenizer = M::load_tokenizer(dir)?;
        let model = M::load(dir, device, precision)?;
        Ok(Self::new(kind, model, tokenizer, precision))
    }
}

impl<M: EmbeddingModel> Encoder for ModelEncoder<M> {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn dim(&self) -> usize {
        self.model.hidden_size()
    }
    fn packed(&self) -> bool {
        true
    }
    fn precision(&self) -> Precision {
        self.precision
    }
    fn device(&self) -> &Device {
        self.model.device()
    }
    fn tokenize(&self, seq: &str) -> std::result::Result<Vec<u32>, ModelError> {
        self.tokenizer.encode(seq)
    }
    fn embed(&self, batch: &[&[u32]]) -> Result<Vec<f32>> {
        let batch = PackedBatch::new(batch)?;
        let pooled = self.model.embed_packed(&batch)?;
        Ok(pooled
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(ModelError::from)?)
    }
}

/// Loads the encoder `kind` from a model directory.
pub fn load(
    kind: ModelKind,
    dir: &Path,
    device: &Device,
    precision: Precision,
) -> Result<Box<dyn Encoder>> {
    Ok(match kind {
        ModelKind::Esm2 => Box::new(Esm2Encoder::load(kind, dir, device, precision)?),
        ModelKind::Dnabert => Box::new(DnabertEncoder::load(kind, dir, device, precision)?),
    })
}

/// Loads one copy of the encoder `kind` per worker: `per_device` copies on each of `devices`.
/// See [`load_each`].
pub fn load_workers(
    kind: ModelKind,
    dir: &Path,
    devices: &[Device],
    per_device: usize,
    precision: Precision,
) -> Result<Vec<Box<dyn Encoder>>> {
    load_each(devices, per_device, kind.name(), |device| {
        load(kind, dir, device, precision)
    })
}

/// Calls `load` for each worker: `per_device` times on each of `devices`. Each worker owns
/// what it loads, so workers never share a device's memory or a lock. A GPU where `what`
/// cannot be loaded (out of memory, a broken device) is left out with a warning as long as
/// another device took it; with none left, the first error is returned.
pub fn load_each<T, E: std::fmt::Display>(
    devices: &[Device],
    per_device: usize,
    what: &str,
    mut load: impl FnMut(&Device) -> std::result::Result<T, E>,
) -> std::result::Result<Vec<T>, E> {
    let mut workers = Vec::new();
    let mut first_error = None;
    for device in devices {
        for _ in 0..per_device.max(1) {
            match load(device) {
                Ok(worker) => workers.push(worker),
                Err(e) if devices.len() > 1 => {
                    tracing::warn!(
                        "{what} could not be loaded on {}: {e}; going on without that device",
                        virnucpro_models::device_name(device)
                    );
                    first_error.get_or_insert(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    match (workers.is_empty(), first_error) {
        (true, Some(e)) => Err(e),
        _ => Ok(workers),
    }
}
