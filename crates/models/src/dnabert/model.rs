//! The DNABERT-S forward pass as MosaicBERT's `BertModel` computes `model(ids)[0]`
//! (spec: models.md section 2.4): LayerNorm of word + token-type-0 embeddings (no position
//! embeddings), then post-LayerNorm layers with fused-QKV attention under an ALiBi bias and a
//! gated-GELU feed-forward (GELU on the first half). Padded batches mask padding keys with
//! -10000, as the original does.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use super::DnabertConfig;
use crate::batch::PaddedBatch;
use crate::error::{ModelError, Result};
use crate::layers::{activation, alibi, attention, weights, weights::Weights};
use crate::pooling;
use crate::precision::Precision;

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
        Ok(Dnabert {
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

    /// Last hidden states `(batch, width, hidden)` in the model's dtype; rows past a sequence's
    /// length are padding and meaningless.
    pub fn forward_padded(&self, batch: &PaddedBatch) -> Result<Tensor> {
        let (b, w) = (batch.len(), batch.width);
        let h = self.config.hidden_size;
        let ids = Tensor::from_slice(&batch.token_ids, b * w, &self.device)?;
        let x = self.word.forward(&ids)?.broadcast_add(&self.token_type0)?;
        let mut x = self.embed_norm.forward(&x)?;
        // ALiBi (heads, w, w) plus the key mask (b, 1, 1, w), both f32 as in the original.
        let bias = alibi::bias(&self.slopes, w, &self.device)?
            .unsqueeze(0)?
            .broadcast_add(&attention::key_padding_bias(
                &batch.lengths,
                w,
                -10000.0,
                &self.device,
            )?)?;
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, b, w, &bias)?;
        }
        Ok(x.reshape((b, w, h))?)
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

    fn layer_forward(
        &self,
        layer: &BertLayer,
        x: &Tensor,
        b: usize,
        w: usize,
        bias: &Tensor,
    ) -> Result<Tensor> {
        let (n, h) = x.dims2()?;
        let heads = self.config.num_attention_heads;
        let d = self.config.head_dim();
        let qkv = layer.qkv.forward(x)?.reshape((b, w, 3, heads, d))?;
        let part = |t: usize| -> Result<Tensor> {
            Ok(qkv
                .narrow(2, t, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let attended = attention::attend(&q, &k, &v, 1.0 / (d as f64).sqrt(), Some(bias))?;
        let attended = attended.transpose(1, 2)?.reshape((n, h))?;
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
