//! What ESM-2 and DNABERT-S share as embedding models, written once: loading from a model
//! directory or with random weights, and pooling the final hidden states into one embedding per
//! sequence, padded or packed. Each network supplies only its own parts (config, tokenizer,
//! layers, which rows it pools); the engine's adapter is generic over this trait.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::batch::{in_groups, one_by_one, Batching, PackedBatch, PaddedBatch};
use crate::error::{ModelError, Result};
use crate::layers::{weights, weights::Weights};
use crate::pooling;
use crate::precision::Precision;

/// Turns one sequence (protein or nucleotides) into a model's token ids, specials included.
pub trait SequenceTokenizer: Send + Sync {
    /// The token ids of `seq`; an error names the letter or reason it cannot be tokenised.
    fn encode(&self, seq: &str) -> Result<Vec<u32>>;
}

/// An embedding network: token sequences in, one vector per sequence out.
pub trait EmbeddingModel: Sized + Send + Sync {
    /// Its hyper-parameters (`config.json`).
    type Config: Clone;
    /// Its tokenizer.
    type Tokenizer: SequenceTokenizer;

    /// Names the model in messages about its files ("an ESM-2 model").
    const DESCRIPTION: &'static str;
    /// A tensor every checkpoint of the model holds: where it is found tells which of
    /// [`EmbeddingModel::PREFIXES`] the file's tensor names carry.
    const MARKER_TENSOR: &'static str;
    /// Prefixes a checkpoint's tensor names may carry (`esm`, `bert`).
    const PREFIXES: &'static [&'static str];

    /// Reads and checks `config.json`.
    fn read_config(path: &Path) -> Result<Self::Config>;
    /// The tokenizer that goes with the model in `dir`.
    fn load_tokenizer(dir: &Path) -> Result<Self::Tokenizer>;
    /// Builds the model from tensors named as in the hub checkpoints (below the prefix).
    fn from_weights(
        config: Self::Config,
        vb: &VarBuilder,
        device: &Device,
        dtype: DType,
    ) -> Result<Self>;

    /// Width of the embeddings.
    fn hidden_size(&self) -> usize;
    /// The device the model runs on.
    fn device(&self) -> &Device;
    /// How packed batches run, chosen when the model was built.
    fn batching(&self) -> Batching;
    /// Final hidden states `(batch, width, hidden)` of a padded batch, in the model's dtype.
    fn forward_padded(&self, batch: &PaddedBatch) -> Result<Tensor>;
    /// Final hidden states `(total tokens, hidden)` of a packed batch, in the model's dtype.
    fn forward_packed(&self, batch: &PackedBatch) -> Result<Tensor>;
    /// The rows `(first, count)` averaged into the embedding of a sequence of `len` tokens
    /// whose first token is row `start`.
    fn pooled_rows(start: usize, len: usize) -> (usize, usize);

    /// Loads a model directory (`config.json` and `model.safetensors` or `pytorch_model.bin`)
    /// onto `device` in `precision`.
    fn load(dir: &Path, device: &Device, precision: Precision) -> Result<Self> {
        let config_path = weights::config_path(dir, Self::DESCRIPTION)?;
        let config = Self::read_config(&config_path)?;
        let dtype = precision.dtype();
        let weights = Weights::open(dir, dtype, device, Self::MARKER_TENSOR, Self::PREFIXES)?;
        Self::from_weights(config, &weights.vb, device, dtype).map_err(|e| match e {
            ModelError::Candle(e) => weights.error(e),
            other => other,
        })
    }

    /// A model of the given shape with random weights, for benchmarks. Each weight is created
    /// once, on `device`, and shared with the model: no second copy is ever held.
    fn random(config: Self::Config, device: &Device, precision: Precision) -> Result<Self> {
        let dtype = precision.dtype();
        Self::from_weights(config, &weights::random(dtype, device), device, dtype)
    }

    /// VirNucPro's embedding of each sequence of a padded batch: the mean of the final states
    /// over [`EmbeddingModel::pooled_rows`], `(batch, hidden)` in f32.
    fn embed_padded(&self, batch: &PaddedBatch) -> Result<Tensor> {
        let hidden = self.forward_padded(batch)?;
        let flat = hidden.reshape((batch.len() * batch.width, self.hidden_size()))?;
        let spans: Vec<(usize, usize)> = batch
            .lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| Self::pooled_rows(i * batch.width, l))
            .collect();
        pooling::mean_rows(&flat, &spans)
    }

    /// As [`EmbeddingModel::embed_padded`], for a packed batch. On the CPU a row is
    /// bit-identical whatever else is in the batch ([`Batching`]); on a GPU the batch runs at
    /// once and a row depends on its neighbours only through rounding.
    fn embed_packed(&self, batch: &PackedBatch) -> Result<Tensor> {
        match self.batching() {
            Batching::OneByOne if batch.len() > 1 => {
                return one_by_one(batch, |single| self.embed_packed(single));
            }
            Batching::Groups { max_tokens } if batch.len() > 1 && batch.tokens() > max_tokens => {
                return in_groups(batch, max_tokens, |group| self.embed_packed(group));
            }
            _ => {}
        }
        let hidden = self.forward_packed(batch)?;
        let spans: Vec<(usize, usize)> = (0..batch.len())
            .map(|i| Self::pooled_rows(batch.start(i), batch.seq_len(i)))
            .collect();
        pooling::mean_rows(&hidden, &spans)
    }
}
