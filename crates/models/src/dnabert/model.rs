//! The DNABERT-S forward pass as MosaicBERT's `BertModel` computes `model(ids)[0]`
//! (spec: models.md section 2.4): LayerNorm of word + token-type-0 embeddings (no position
//! embeddings), then post-LayerNorm layers with fused-QKV attention under an ALiBi bias and a
//! gated-GELU feed-forward (GELU on the first half). Padded batches mask padding keys with
//! -10000, as the original does; packed batches have no padding, and each sequence attends to
//! itself under the ALiBi bias of its own length, so its embedding does not depend on the other
//! sequences of the batch (the engine runs packed batches).

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};

use super::layer::BertLayer;
use super::{DnaTokenizer, DnabertConfig};
use crate::batch::{Batching, PackedBatch, PaddedBatch};
use crate::embedding_model::EmbeddingModel;
use crate::error::Result;
use crate::layers::alibi;
use crate::layers::attention::{self, PackedAttention, TokenLayout};

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
    /// How packed batches run, chosen from the device and the layer widths.
    batching: Batching,
    /// How packed sequences attend on this device.
    attention: PackedAttention,
}

impl EmbeddingModel for Dnabert {
    type Config = DnabertConfig;
    type Tokenizer = DnaTokenizer;
    const DESCRIPTION: &'static str = "DNABERT-S";
    const MARKER_TENSOR: &'static str = "embeddings.word_embeddings.weight";
    const PREFIXES: &'static [&'static str] = &["bert"];

    fn read_config(path: &Path) -> Result<DnabertConfig> {
        DnabertConfig::from_file(path)
    }

    /// `tokenizer.json` beside the weights.
    fn load_tokenizer(dir: &Path) -> Result<DnaTokenizer> {
        DnaTokenizer::from_file(&dir.join("tokenizer.json"))
    }

    /// Builds the model from tensors named as in `BertModel`'s state dict.
    fn from_weights(
        config: DnabertConfig,
        vb: &VarBuilder,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let h = config.hidden_size;
        let emb = vb.pp("embeddings");
        let word = candle_nn::embedding(config.vocab_size, h, emb.pp("word_embeddings"))?;
        let token_type0 = emb
            .get((config.type_vocab_size, h), "token_type_embeddings.weight")?
            .get(0)?;
        let embed_norm = candle_nn::layer_norm(h, config.layer_norm_eps, emb.pp("LayerNorm"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|l| BertLayer::load(vb.pp(format!("encoder.layer.{l}")), &config, l))
            .collect::<Result<Vec<_>>>()?;
        Ok(Dnabert {
            batching: Batching::for_model(
                device,
                h.min(config.intermediate_size),
                2 * config.intermediate_size,
            ),
            attention: PackedAttention::for_device(device),
            slopes: alibi::slopes(config.num_attention_heads),
            config,
            word,
            token_type0,
            embed_norm,
            layers,
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

    /// Rows past a sequence's length are padding and meaningless.
    fn forward_padded(&self, batch: &PaddedBatch) -> Result<Tensor> {
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
        let layout = TokenLayout::Padded {
            batch: b,
            width: w,
            bias,
        };
        for layer in &self.layers {
            x = layer.forward(&x, &layout)?;
        }
        Ok(x.reshape((b, w, h))?)
    }

    fn forward_packed(&self, batch: &PackedBatch) -> Result<Tensor> {
        let mut x = self.embed_tokens(&batch.token_ids)?;
        let layout = TokenLayout::Packed {
            cu_seqlens: &batch.cu_seqlens,
            bias: Some(alibi::bias(&self.slopes, batch.max_seqlen(), &self.device)?),
            attention: self.attention,
        };
        for layer in &self.layers {
            x = layer.forward(&x, &layout)?;
        }
        Ok(x)
    }

    /// VirNucPro's nucleotide embedding is the mean over all tokens, `[CLS]` and `[SEP]`
    /// included.
    fn pooled_rows(start: usize, len: usize) -> (usize, usize) {
        (start, len)
    }
}

impl Dnabert {
    /// The model's hyper-parameters.
    pub fn config(&self) -> &DnabertConfig {
        &self.config
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Word + token-type-0 embeddings under the embedding LayerNorm, `(n, hidden)`.
    fn embed_tokens(&self, token_ids: &[u32]) -> Result<Tensor> {
        let ids = Tensor::from_slice(token_ids, token_ids.len(), &self.device)?;
        let x = self.word.forward(&ids)?.broadcast_add(&self.token_type0)?;
        Ok(self.embed_norm.forward(&x)?)
    }
}
