//! The DNABERT-S forward pass as MosaicBERT's `BertModel` computes `model(ids)[0]`
//! (spec: models.md section 2.4): LayerNorm of word + token-type-0 embeddings (no position
//! embeddings), then post-LayerNorm layers with fused-QKV attention under an ALiBi bias and a
//! gated-GELU feed-forward (GELU on the first half). Padded batches mask padding keys with
//! -10000, as the original does; packed batches have no padding, and each sequence attends to
//! itself under the ALiBi bias of its own length, so its embedding does not depend on the other
//! sequences of the batch (the engine runs packed batches).

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use super::DnabertConfig;
use crate::batch::{one_by_one, CpuBatching, PackedBatch, PaddedBatch};
use crate::error::{ModelError, Result};
use crate::layers::{activation, alibi, attention, weights, weights::Weights};
use crate::pooling;
use crate::precision::Precision;

/// How the token rows of a batch are laid out.
enum Layout<'a> {
    /// `(batch, width)` rows; `bias` is ALiBi plus the key mask, `(batch, heads, width, width)`.
    Padded {
        batch: usize,
        width: usize,
        bias: Tensor,
    },
    /// Sequences back to back; `alibi` is `(heads, longest, longest)`.
    Packed {
        cu_seqlens: &'a [usize],
        alibi: Tensor,
    },
}

struct BertLayer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    gated: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
}

/// A DNABERT-S model ready to run.
pub struct Dnabert {
    config: DnabertConfig,
    word: Embedding,
    token_type0: Tensor,
    embed_norm: LayerNorm,
    layers: Vec<BertLayer>,
    slopes: Vec<f32>,
    device: Device,
    dtype: DType,
    /// How packed batches run on the CPU, chosen from the layer widths.
    cpu_batching: CpuBatching,
}

impl Dnabert {
    /// Loads a DNABERT-S directory (`config.json` and `pytorch_model.bin` or
    /// `model.safetensors`, keys with or without the `bert.` prefix).
    pub fn load(dir: &Path, device: &Device, precision: Precision) -> Result<Self> {
        let config_path = weights::config_path(dir, "DNABERT-S")?;
        let config = DnabertConfig::from_file(&config_path)?;
        let dtype = precision.dtype();
        let weights = Weights::open(
            dir,
            dtype,
            device,
            "embeddings.word_embeddings.weight",
            &["bert"],
        )?;
        Self::from_weights(config, &weights.vb, device, dtype).map_err(|e| match e {
            ModelError::Candle(e) => weights.error(e),
            other => other,
        })
    }

    /// Builds the model from tensors named as in `BertModel`'s state dict.
    pub fn from_weights(
        config: DnabertConfig,
        vb: &VarBuilder,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let h = config.hidden_size;
        let i = config.intermediate_size;
        let eps = config.layer_norm_eps;
        let emb = vb.pp("embeddings");
        let word = candle_nn::embedding(config.vocab_size, h, emb.pp("word_embeddings"))?;
        let token_type0 = emb
            .get((config.type_vocab_size, h), "token_type_embeddings.weight")?
            .get(0)?;
        let embed_norm = candle_nn::layer_norm(h, eps, emb.pp("LayerNorm"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|l| {
                let vb = vb.pp(format!("encoder.layer.{l}"));
                Ok(BertLayer {
                    qkv: candle_nn::linear(h, 3 * h, vb.pp("attention.self.Wqkv"))?,
                    attn_out: candle_nn::linear(h, h, vb.pp("attention.output.dense"))?,
                    attn_norm: candle_nn::layer_norm(h, eps, vb.pp("attention.output.LayerNorm"))?,
                    gated: candle_nn::linear_no_bias(h, 2 * i, vb.pp("mlp.gated_layers"))?,
                    wo: candle_nn::linear(i, h, vb.pp("mlp.wo"))?,
                    mlp_norm: candle_nn::layer_norm(h, eps, vb.pp("mlp.layernorm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let slopes = alibi::slopes(config.num_attention_heads);
        let cpu_batching = CpuBatching::for_width(config.hidden_size.min(config.intermediate_size));
        Ok(Dnabert {
            cpu_batching,
            config,
            word,
            token_type0,
            embed_norm,
            layers,
            slopes,
            device: device.clone(),
            dtype,
        })
    }

    /// A model of the given shape with random weights, for benchmarks.
    pub fn random(config: DnabertConfig, device: &Device, precision: Precision) -> Result<Self> {
        let dtype = precision.dtype();
        Self::from_weights(config, &weights::random(dtype, device), device, dtype)
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &DnabertConfig {
        &self.config
    }

    /// Width of the embeddings (768).
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Word + token-type-0 embeddings under the embedding LayerNorm, `(n, hidden)`.
    fn embed_tokens(&self, token_ids: &[u32]) -> Result<Tensor> {
        let ids = Tensor::from_slice(token_ids, token_ids.len(), &self.device)?;
        let x = self.word.forward(&ids)?.broadcast_add(&self.token_type0)?;
        Ok(self.embed_norm.forward(&x)?)
    }

    /// Last hidden states `(batch, width, hidden)` in the model's dtype; rows past a sequence's
    /// length are padding and meaningless.
    pub fn forward_padded(&self, batch: &PaddedBatch) -> Result<Tensor> {
        let (b, w) = (batch.len(), batch.width);
        let h = self.config.hidden_size;
        let mut x = self.embed_tokens(&batch.token_ids)?;
        // ALiBi (heads, w, w) plus the key mask (b, 1, 1, w), both f32 as in the original.
        let bias = alibi::bias(&self.slopes, w, &self.device)?
            .unsqueeze(0)?
            .broadcast_add(&attention::key_padding_bias(
                &batch.lengths,
                w,
                -10000.0,
                &self.device,
            )?)?;
        let layout = Layout::Padded {
            batch: b,
            width: w,
            bias,
        };
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &layout)?;
        }
        Ok(x.reshape((b, w, h))?)
    }

    /// Last hidden states `(total tokens, hidden)` in the model's dtype of a packed batch.
    pub fn forward_packed(&self, batch: &PackedBatch) -> Result<Tensor> {
        let mut x = self.embed_tokens(&batch.token_ids)?;
        let layout = Layout::Packed {
            cu_seqlens: &batch.cu_seqlens,
            alibi: alibi::bias(&self.slopes, batch.max_seqlen(), &self.device)?,
        };
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &layout)?;
        }
        Ok(x)
    }

    /// VirNucPro's nucleotide embedding: the mean of the last hidden states over all tokens of
    /// each sequence, `[CLS]` and `[SEP]` included, `(batch, hidden)` in f32.
    pub fn embed_padded(&self, batch: &PaddedBatch) -> Result<Tensor> {
        let hidden = self.forward_padded(batch)?;
        let flat = hidden.reshape((batch.len() * batch.width, self.config.hidden_size))?;
        let spans: Vec<(usize, usize)> = batch
            .lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| (i * batch.width, l))
            .collect();
        pooling::mean_rows(&flat, &spans)
    }

    /// As [`Dnabert::embed_padded`], for a packed batch. On the CPU a row is bit-identical
    /// whatever else is in the batch ([`CpuBatching`]); on a GPU the batch runs at once and a
    /// row depends on its neighbours only through rounding.
    pub fn embed_packed(&self, batch: &PackedBatch) -> Result<Tensor> {
        if self.device.is_cpu() && batch.len() > 1 && self.cpu_batching == CpuBatching::OneByOne {
            return one_by_one(batch, |single| self.embed_packed(single));
        }
        let hidden = self.forward_packed(batch)?;
        let spans: Vec<(usize, usize)> = (0..batch.len())
            .map(|i| (batch.cu_seqlens[i], batch.seq_len(i)))
            .collect();
        pooling::mean_rows(&hidden, &spans)
    }

    fn layer_forward(&self, layer: &BertLayer, x: &Tensor, layout: &Layout) -> Result<Tensor> {
        let (n, h) = x.dims2()?;
        let heads = self.config.num_attention_heads;
        let d = self.config.head_dim();
        let scale = 1.0 / (d as f64).sqrt();
        let qkv = layer.qkv.forward(x)?;
        let attended = match layout {
            Layout::Padded { batch, width, bias } => {
                let qkv = qkv.reshape((*batch, *width, 3, heads, d))?;
                let part = |t: usize| -> Result<Tensor> {
                    Ok(qkv
                        .narrow(2, t, 1)?
                        .squeeze(2)?
                        .transpose(1, 2)?
                        .contiguous()?)
                };
                let (q, k, v) = (part(0)?, part(1)?, part(2)?);
                let attended = attention::attend(&q, &k, &v, scale, Some(bias))?;
                attended.transpose(1, 2)?.reshape((n, h))?
            }
            Layout::Packed { cu_seqlens, alibi } => {
                // Token-major (n, heads, d) views of the fused projection.
                let qkv = qkv.reshape((n, 3, heads, d))?;
                let part = |t: usize| -> Result<Tensor> {
                    Ok(qkv.narrow(1, t, 1)?.squeeze(1)?.contiguous()?)
                };
                let (q, k, v) = (part(0)?, part(1)?, part(2)?);
                if self.device.is_cpu() {
                    attention::attend_packed(&q, &k, &v, cu_seqlens, scale, Some(alibi))?
                } else {
                    attention::attend_packed_gathered(&q, &k, &v, cu_seqlens, scale, Some(alibi))?
                }
            }
        };
        let x = layer
            .attn_norm
            .forward(&(layer.attn_out.forward(&attended)? + x)?)?;
        let gated = layer.gated.forward(&x)?;
        let i = self.config.intermediate_size;
        let act = activation::gelu_erf(&gated.narrow(1, 0, i)?)?;
        let y = (act * gated.narrow(1, i, i)?)?;
        let y = layer.wo.forward(&y)?;
        Ok(layer.mlp_norm.forward(&(y + x)?)?)
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
}
