//! One DNABERT-S (MosaicBERT) layer: fused-QKV self-attention under an ALiBi bias, then the
//! post-LayerNorm residual, a gated-GELU feed-forward (GELU on the first half, times the second)
//! and the second post-LayerNorm residual.

use candle_core::{Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

use super::DnabertConfig;
use crate::error::Result;
use crate::layers::attention::{self, TokenLayout};
use crate::layers::{activation, row_blocks};

/// The weights of one layer, named as in `BertModel`'s state dict (`encoder.layer.N`).
pub(super) struct BertLayer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    gated: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
    heads: usize,
    head_dim: usize,
    intermediate: usize,
    /// Rows the feed-forward runs at a time (all on a GPU).
    ffn_rows: Option<usize>,
    span: tracing::Span,
}

impl BertLayer {
    /// Layer `index`, from `vb` rooted at `encoder.layer.{index}`.
    pub(super) fn load(vb: VarBuilder, config: &DnabertConfig, index: usize) -> Result<Self> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let eps = config.layer_norm_eps;
        Ok(BertLayer {
            qkv: candle_nn::linear(h, 3 * h, vb.pp("attention.self.Wqkv"))?,
            attn_out: candle_nn::linear(h, h, vb.pp("attention.output.dense"))?,
            attn_norm: candle_nn::layer_norm(h, eps, vb.pp("attention.output.LayerNorm"))?,
            gated: candle_nn::linear_no_bias(h, 2 * i, vb.pp("mlp.gated_layers"))?,
            wo: candle_nn::linear(i, h, vb.pp("mlp.wo"))?,
            mlp_norm: candle_nn::layer_norm(h, eps, vb.pp("mlp.layernorm"))?,
            heads: config.num_attention_heads,
            head_dim: config.head_dim(),
            intermediate: i,
            ffn_rows: row_blocks::for_device(vb.device(), 2 * i),
            span: tracing::trace_span!("dnabert_layer", index),
        })
    }

    /// The layer over token rows `(n, hidden)`.
    pub(super) fn forward(&self, x: &Tensor, layout: &TokenLayout) -> Result<Tensor> {
        let _entered = self.span.enter();
        let (n, h) = x.dims2()?;
        let (heads, d) = (self.heads, self.head_dim);
        let scale = 1.0 / (d as f64).sqrt();
        let qkv = self.qkv.forward(x)?;
        let attended = match layout {
            TokenLayout::Padded { batch, width, bias } => {
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
            TokenLayout::Packed {
                cu_seqlens,
                bias,
                attention,
            } => {
                // Token-major (n, heads, d) views of the fused projection.
                let qkv = qkv.reshape((n, 3, heads, d))?;
                let part = |t: usize| -> Result<Tensor> {
                    Ok(qkv.narrow(1, t, 1)?.squeeze(1)?.contiguous()?)
                };
                let (q, k, v) = (part(0)?, part(1)?, part(2)?);
                attention.attend(&q, &k, &v, cu_seqlens, scale, bias.as_ref())?
            }
        };
        let x = self
            .attn_norm
            .forward(&(self.attn_out.forward(&attended)? + x)?)?;
        // The gated feed-forward's (tokens, 2 x intermediate) activations, a block of rows at
        // a time.
        let i = self.intermediate;
        let y = row_blocks::map_rows(&x, self.ffn_rows, |rows| {
            let gated = self.gated.forward(rows)?;
            let act = activation::gelu_erf(&gated.narrow(1, 0, i)?)?;
            Ok(self.wo.forward(&(act * gated.narrow(1, i, i)?)?)?)
        })?;
        Ok(self.mlp_norm.forward(&(y + x)?)?)
    }
}
