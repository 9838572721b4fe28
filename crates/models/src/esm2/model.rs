//! The ESM-2 forward pass, exactly as fair-esm computes `representations[last]`
//! (spec: models.md section 1): token-dropout rescale of the embeddings, pre-LayerNorm layers with
//! rotary self-attention (query scaled before the rotation) and an erf-GELU feed-forward, and the
//! final `emb_layer_norm_after`. Runs padded batches, or packed batches where each sequence
//! attends only to itself and restarts its rotary positions.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use super::Esm2Config;
use crate::batch::{one_by_one, CpuBatching, PackedBatch, PaddedBatch};
use crate::error::{ModelError, Result};
use crate::layers::{activation, attention, rotary, rotary::Rotary, weights, weights::Weights};
use crate::pooling;
use crate::precision::Precision;

/// fair-esm pools at most this many residues (`truncation_seq_length`), from the first.
pub const POOL_MAX_RESIDUES: usize = 1024;

/// Fraction of tokens masked during ESM-2 training (0.15 * 0.8); inference rescales by
/// `(1 - 0.12) / (1 - observed mask ratio)`.
const MASK_RATIO_TRAIN: f64 = 0.15 * 0.8;

struct EsmLayer {
    attn_norm: LayerNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    ffn_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// How the token rows of a forward pass are laid out, for attention.
enum Layout<'a> {
    Padded {
        batch: usize,
        width: usize,
        key_bias: Tensor,
    },
    Packed {
        cu_seqlens: &'a [usize],
    },
}

/// An ESM-2 model ready to run.
pub struct Esm2 {
    config: Esm2Config,
    embed: Embedding,
    layers: Vec<EsmLayer>,
    final_norm: LayerNorm,
    rotary: Rotary,
    device: Device,
    dtype: DType,
    /// How packed batches run on the CPU, chosen from the layer widths.
    cpu_batching: CpuBatching,
}

impl Esm2 {
    /// Loads a Hugging Face ESM-2 directory (`config.json` and `model.safetensors` or
    /// `pytorch_model.bin`) onto `device` in `precision`.
    pub fn load(dir: &Path, device: &Device, precision: Precision) -> Result<Self> {
        let config_path = weights::config_path(dir, "an ESM-2 model")?;
        let config = Esm2Config::from_file(&config_path)?;
        let dtype = precision.dtype();
        let weights = Weights::open(
            dir,
            dtype,
            device,
            "embeddings.word_embeddings.weight",
            &["esm"],
        )?;
        Self::from_weights(config, &weights.vb, device, dtype).map_err(|e| match e {
            ModelError::Candle(e) => weights.error(e),
            other => other,
        })
    }

    /// Builds the model from tensors named as in the hub checkpoints (below the `esm.` prefix).
    pub fn from_weights(
        config: Esm2Config,
        vb: &VarBuilder,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let embed =
            candle_nn::embedding(config.vocab_size, h, vb.pp("embeddings.word_embeddings"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp(format!("encoder.layer.{i}"));
                let attn = vb.pp("attention");
                Ok(EsmLayer {
                    attn_norm: candle_nn::layer_norm(h, eps, attn.pp("LayerNorm"))?,
                    query: candle_nn::linear(h, h, attn.pp("self.query"))?,
                    key: candle_nn::linear(h, h, attn.pp("self.key"))?,
                    value: candle_nn::linear(h, h, attn.pp("self.value"))?,
                    out: candle_nn::linear(h, h, attn.pp("output.dense"))?,
                    ffn_norm: candle_nn::layer_norm(h, eps, vb.pp("LayerNorm"))?,
                    fc1: candle_nn::linear(
                        h,
                        config.intermediate_size,
                        vb.pp("intermediate.dense"),
                    )?,
                    fc2: candle_nn::linear(config.intermediate_size, h, vb.pp("output.dense"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let final_norm = candle_nn::layer_norm(h, eps, vb.pp("encoder.emb_layer_norm_after"))?;
        let rotary = Rotary::new(config.head_dim());
        let cpu_batching = CpuBatching::for_width(config.hidden_size.min(config.intermediate_size));
        Ok(Esm2 {
            cpu_batching,
            config,
            embed,
            layers,
            final_norm,
            rotary,
            device: device.clone(),
            dtype,
        })
    }

    /// A model of the given shape with random weights, for benchmarks. Each weight is created
    /// once, on `device`, and shared with the model: no second copy is ever held.
    pub fn random(config: Esm2Config, device: &Device, precision: Precision) -> Result<Self> {
        let dtype = precision.dtype();
        Self::from_weights(config, &weights::random(dtype, device), device, dtype)
    }

    /// The tensors of a model of this shape as the hub's `model.safetensors` names them
    /// (`esm.` prefix), with their shapes: what a file must hold for [`Esm2::load`].
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

    /// Width of the embeddings (2560 for the 3B model).
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Final hidden states `(batch, width, hidden)` (in the model's dtype) of a padded batch.
    pub fn forward_padded(&self, batch: &PaddedBatch) -> Result<Tensor> {
        let (b, w) = (batch.len(), batch.width);
        let key_bias =
            attention::key_padding_bias(&batch.lengths, w, f32::NEG_INFINITY, &self.device)?;
        let positions: Vec<u32> = (0..w as u32).collect();
        let lengths: Vec<(usize, usize)> = batch
            .lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| (i * w, l))
            .collect();
        let x = self.embed_tokens(&batch.token_ids, &lengths)?;
        let x = self.encode(
            x,
            &positions,
            &Layout::Padded {
                batch: b,
                width: w,
                key_bias,
            },
        )?;
        Ok(x.reshape((b, w, self.config.hidden_size))?)
    }

    /// Final hidden states `(total tokens, hidden)` (in the model's dtype) of a packed batch.
    pub fn forward_packed(&self, batch: &PackedBatch) -> Result<Tensor> {
        let spans: Vec<(usize, usize)> = (0..batch.len())
            .map(|i| (batch.cu_seqlens[i], batch.seq_len(i)))
            .collect();
        let x = self.embed_tokens(&batch.token_ids, &spans)?;
        self.encode(
            x,
            &batch.positions,
            &Layout::Packed {
                cu_seqlens: &batch.cu_seqlens,
            },
        )
    }

    /// VirNucPro's protein embedding of each sequence of a padded batch: the mean of the final
    /// states over residues `1..=min(len, 1024)`, `(batch, hidden)` in f32.
    pub fn embed_padded(&self, batch: &PaddedBatch) -> Result<Tensor> {
        let hidden = self.forward_padded(batch)?;
        let flat = hidden.reshape((batch.len() * batch.width, self.config.hidden_size))?;
        let spans: Vec<(usize, usize)> = batch
            .lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| residue_span(i * batch.width, l))
            .collect();
        pooling::mean_rows(&flat, &spans)
    }

    /// As [`Esm2::embed_padded`], for a packed batch. On the CPU a row is bit-identical
    /// whatever else is in the batch ([`CpuBatching`]); on a GPU the batch runs at once and a
    /// row depends on its neighbours only through rounding.
    pub fn embed_packed(&self, batch: &PackedBatch) -> Result<Tensor> {
        if self.device.is_cpu() && batch.len() > 1 && self.cpu_batching == CpuBatching::OneByOne {
            return one_by_one(batch, |single| self.embed_packed(single));
        }
        let hidden = self.forward_packed(batch)?;
        let spans: Vec<(usize, usize)> = (0..batch.len())
            .map(|i| residue_span(batch.cu_seqlens[i], batch.seq_len(i)))
            .collect();
        pooling::mean_rows(&hidden, &spans)
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
    fn encode(&self, mut x: Tensor, positions: &[u32], layout: &Layout) -> Result<Tensor> {
        let (cos, sin) = self.rotary.cos_sin(positions, self.dtype, &self.device)?;
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &cos, &sin, layout)?;
        }
        Ok(self.final_norm.forward(&x)?)
    }

    fn layer_forward(
        &self,
        layer: &EsmLayer,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        layout: &Layout,
    ) -> Result<Tensor> {
        let (n, h) = x.dims2()?;
        let heads = self.config.num_attention_heads;
        let d = self.config.head_dim();
        let scale = (d as f64).powf(-0.5);
        let normed = layer.attn_norm.forward(x)?;
        let q = (layer.query.forward(&normed)? * scale)?;
        let k = layer.key.forward(&normed)?;
        let v = layer.value.forward(&normed)?;
        let attended = match layout {
            Layout::Padded {
                batch,
                width,
                key_bias,
            } => {
                // (batch, width, heads, d) -> (batch, heads, width, d)
                let split = |t: Tensor| -> Result<Tensor> {
                    Ok(t.reshape((*batch, *width, heads, d))?
                        .transpose(1, 2)?
                        .contiguous()?)
                };
                let q = rotary::apply(&split(q)?, cos, sin)?;
                let k = rotary::apply(&split(k)?, cos, sin)?;
                let out = attention::attend(&q, &k, &split(v)?, 1.0, Some(key_bias))?;
                out.transpose(1, 2)?.reshape((n, h))?
            }
            Layout::Packed { cu_seqlens } => {
                // Token-major all the way: (n, heads, d) views of the projections.
                let rotate = |t: Tensor| -> Result<Tensor> {
                    Ok(
                        rotary::apply_token_major(&t.reshape((1, n, heads, d))?, cos, sin)?
                            .squeeze(0)?,
                    )
                };
                let (q, k) = (rotate(q)?, rotate(k)?);
                let v = v.reshape((n, heads, d))?;
                if self.device.is_cpu() {
                    attention::attend_packed(&q, &k, &v, cu_seqlens, 1.0, None)?
                } else {
                    attention::attend_packed_gathered(&q, &k, &v, cu_seqlens, 1.0, None)?
                }
            }
        };
        let x = (x + layer.out.forward(&attended)?)?;
        let normed = layer.ffn_norm.forward(&x)?;
        let ffn = layer
            .fc2
            .forward(&activation::gelu_erf(&layer.fc1.forward(&normed)?)?)?;
        Ok((x + ffn)?)
    }
}

/// Rows pooled for a sequence of `len` tokens starting at `start`: residues only (not `<cls>` or
/// `<eos>`), at most [`POOL_MAX_RESIDUES`].
fn residue_span(start: usize, len: usize) -> (usize, usize) {
    let residues = len.saturating_sub(2).min(POOL_MAX_RESIDUES);
    (start + 1, residues)
}
