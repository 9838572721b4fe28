//! The ESM-2 forward pass, exactly as fair-esm computes `representations[last]`
//! (spec: models.md section 1): token-dropout rescale of the embeddings, pre-LayerNorm layers with
//! rotary self-attention (query scaled before the rotation) and an erf-GELU feed-forward, and the
//! final `emb_layer_norm_after`. Runs padded batches, or packed batches where each sequence
//! attends only to itself and restarts its rotary positions.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};

use super::layer::EsmLayer;
use super::{Esm2Config, EsmAlphabet};
use crate::batch::{Batching, PackedBatch, PaddedBatch};
use crate::embedding_model::EmbeddingModel;
use crate::error::Result;
use crate::layers::attention::{self, PackedAttention, TokenLayout};
use crate::layers::{rotary::Rotary, weights};

/// fair-esm pools at most this many residues (`truncation_seq_length`), from the first.
pub const POOL_MAX_RESIDUES: usize = 1024;

/// Fraction of tokens masked during ESM-2 training (0.15 * 0.8); inference rescales by
/// `(1 - 0.12) / (1 - observed mask ratio)`.
const MASK_RATIO_TRAIN: f64 = 0.15 * 0.8;

/// An ESM-2 model ready to run.
pub struct Esm2 {
    config: Esm2Config,
    embed: Embedding,
    layers: Vec<EsmLayer>,
    final_norm: LayerNorm,
    rotary: Rotary,
    device: Device,
    dtype: DType,
    /// How packed batches run, chosen from the device and the layer widths.
    batching: Batching,
    /// How packed sequences attend on this device.
    attention: PackedAttention,
}

impl EmbeddingModel for Esm2 {
    type Config = Esm2Config;
    type Tokenizer = EsmAlphabet;
    const DESCRIPTION: &'static str = "an ESM-2 model";
    const MARKER_TENSOR: &'static str = "embeddings.word_embeddings.weight";
    const PREFIXES: &'static [&'static str] = &["esm"];

    fn read_config(path: &Path) -> Result<Esm2Config> {
        Esm2Config::from_file(path)
    }

    fn load_tokenizer(_dir: &Path) -> Result<EsmAlphabet> {
        Ok(EsmAlphabet)
    }

    /// Builds the model from tensors named as in the hub checkpoints (below the `esm.` prefix).
    fn from_weights(
        config: Esm2Config,
        vb: &VarBuilder,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let h = config.hidden_size;
        let embed =
            candle_nn::embedding(config.vocab_size, h, vb.pp("embeddings.word_embeddings"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| EsmLayer::load(vb.pp(format!("encoder.layer.{i}")), &config, i))
            .collect::<Result<Vec<_>>>()?;
        let final_norm = candle_nn::layer_norm(
            h,
            config.layer_norm_eps,
            vb.pp("encoder.emb_layer_norm_after"),
        )?;
        Ok(Esm2 {
            batching: Batching::for_model(
                device,
                h.min(config.intermediate_size),
                config.intermediate_size,
            ),
            attention: PackedAttention::for_device(device),
            rotary: Rotary::new(config.head_dim()),
            config,
            embed,
            layers,
            final_norm,
            device: device.clone(),
            dtype,
        })
    }

    fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn batching(&self) -> Batching {
        self.batching
    }

    fn forward_padded(&self, batch: &PaddedBatch) -> Result<Tensor> {
        let (b, w) = (batch.len(), batch.width);
        let bias = attention::key_padding_bias(&batch.lengths, w, f32::NEG_INFINITY, &self.device)?;
        let positions: Vec<u32> = (0..w as u32).collect();
        let lengths: Vec<(usize, usize)> = batch
            .lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| (i * w, l))
            .collect();
        let x = self.embed_tokens(&batch.token_ids, &lengths)?;
        let layout = TokenLayout::Padded {
            batch: b,
            width: w,
            bias,
        };
        let x = self.encode(x, &positions, &layout)?;
        Ok(x.reshape((b, w, self.config.hidden_size))?)
    }

    fn forward_packed(&self, batch: &PackedBatch) -> Result<Tensor> {
        let spans: Vec<(usize, usize)> = (0..batch.len())
            .map(|i| (batch.start(i), batch.seq_len(i)))
            .collect();
        let x = self.embed_tokens(&batch.token_ids, &spans)?;
        let layout = TokenLayout::Packed {
            cu_seqlens: &batch.cu_seqlens,
            bias: None,
            attention: self.attention,
        };
        self.encode(x, &batch.positions, &layout)
    }

    /// Residues only (not `<cls>` or `<eos>`), at most [`POOL_MAX_RESIDUES`], from the first.
    fn pooled_rows(start: usize, len: usize) -> (usize, usize) {
        let residues = len.saturating_sub(2).min(POOL_MAX_RESIDUES);
        (start + 1, residues)
    }
}

impl Esm2 {
    /// The tensors of a model of this shape as the hub's `model.safetensors` names them
    /// (`esm.` prefix), with their shapes: what a file must hold for [`EmbeddingModel::load`].
    pub fn hub_layout(config: &Esm2Config) -> Result<weights::TensorLayout> {
        let layout =
            weights::layout(|vb| Self::from_weights(config.clone(), vb, &Device::Cpu, DType::F32))?;
        Ok(layout
            .into_iter()
            .map(|(name, shape)| (format!("esm.{name}"), shape))
            .collect())
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &Esm2Config {
        &self.config
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Embeds token rows with the token-dropout rescale and zeroed padding; `spans` gives each
    /// sequence's (first row, length), every other row is padding.
    fn embed_tokens(&self, token_ids: &[u32], spans: &[(usize, usize)]) -> Result<Tensor> {
        let n = token_ids.len();
        let ids = Tensor::from_slice(token_ids, n, &self.device)?;
        let x = self.embed.forward(&ids)?;
        let mut scale = vec![0f32; n];
        for &(start, len) in spans {
            let tokens = &token_ids[start..start + len];
            let factor = if self.config.token_dropout {
                let masked = tokens
                    .iter()
                    .filter(|&&t| t == self.config.mask_token_id)
                    .count();
                (1.0 - MASK_RATIO_TRAIN) / (1.0 - masked as f64 / len as f64)
            } else {
                1.0
            };
            for (s, &t) in scale[start..start + len].iter_mut().zip(tokens) {
                let zeroed = self.config.token_dropout && t == self.config.mask_token_id;
                *s = if zeroed { 0.0 } else { factor as f32 };
            }
        }
        let scale = Tensor::from_vec(scale, (n, 1), &self.device)?.to_dtype(self.dtype)?;
        Ok(x.broadcast_mul(&scale)?)
    }

    /// Runs the layers and the final LayerNorm over token rows `(n, hidden)`.
    fn encode(&self, mut x: Tensor, positions: &[u32], layout: &TokenLayout) -> Result<Tensor> {
        let (cos, sin) = self.rotary.cos_sin(positions, self.dtype, &self.device)?;
        for layer in &self.layers {
            x = layer.forward(&x, &cos, &sin, layout)?;
        }
        Ok(self.final_norm.forward(&x)?)
    }
}
