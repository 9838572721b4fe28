//! One ESM-2 transformer layer as fair-esm computes it: pre-LayerNorm rotary self-attention
//! (query scaled before the rotation), then a pre-LayerNorm erf-GELU feed-forward, each added to
//! the residual stream.

use candle_core::{Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

use super::Esm2Config;
use crate::error::Result;
use crate::layers::attention::{self, TokenLayout};
use crate::layers::{activation, rotary, row_blocks};

/// The weights of one layer, named as in the hub checkpoints (`encoder.layer.N`).
pub(super) struct EsmLayer {
    attn_norm: LayerNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    ffn_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
    head_dim: usize,
    /// Rows the feed-forward runs at a time (all on a GPU).
    ffn_rows: Option<usize>,
    span: tracing::Span,
}

impl EsmLayer {
    /// Layer `index`, from `vb` rooted at `encoder.layer.{index}`.
    pub(super) fn load(vb: VarBuilder, config: &Esm2Config, index: usize) -> Result<Self> {
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let attn = vb.pp("attention");
        Ok(EsmLayer {
            attn_norm: candle_nn::layer_norm(h, eps, attn.pp("LayerNorm"))?,
            query: candle_nn::linear(h, h, attn.pp("self.query"))?,
            key: candle_nn::linear(h, h, attn.pp("self.key"))?,
            value: candle_nn::linear(h, h, attn.pp("self.value"))?,
            out: candle_nn::linear(h, h, attn.pp("output.dense"))?,
            ffn_norm: candle_nn::layer_norm(h, eps, vb.pp("LayerNorm"))?,
            fc1: candle_nn::linear(h, config.intermediate_size, vb.pp("intermediate.dense"))?,
            fc2: candle_nn::linear(config.intermediate_size, h, vb.pp("output.dense"))?,
            heads: config.num_attention_heads,
            head_dim: config.head_dim(),
            ffn_rows: row_blocks::for_device(vb.device(), config.intermediate_size),
            span: tracing::trace_span!("esm2_layer", index),
        })
    }

    /// The layer over token rows `(n, hidden)`; `cos`/`sin` are the rotary tables of each row's
    /// position.
    pub(super) fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        layout: &TokenLayout,
    ) -> Result<Tensor> {
        let _entered = self.span.enter();
        let (n, h) = x.dims2()?;
        let (heads, d) = (self.heads, self.head_dim);
        let scale = (d as f64).powf(-0.5);
        let normed = self.attn_norm.forward(x)?;
        let q = (self.query.forward(&normed)? * scale)?;
        let k = self.key.forward(&normed)?;
        let v = self.value.forward(&normed)?;
        let attended = match layout {
            TokenLayout::Padded { batch, width, bias } => {
                // (batch, width, heads, d) -> (batch, heads, width, d)
                let split = |t: Tensor| -> Result<Tensor> {
                    Ok(t.reshape((*batch, *width, heads, d))?
                        .transpose(1, 2)?
                        .contiguous()?)
                };
                let q = rotary::apply(&split(q)?, cos, sin)?;
                let k = rotary::apply(&split(k)?, cos, sin)?;
                let out = attention::attend(&q, &k, &split(v)?, 1.0, Some(bias))?;
                out.transpose(1, 2)?.reshape((n, h))?
            }
            TokenLayout::Packed {
                cu_seqlens,
                bias,
                attention,
            } => {
                // Token-major all the way: (n, heads, d) views of the projections.
                let rotate = |t: Tensor| -> Result<Tensor> {
                    Ok(
                        rotary::apply_token_major(&t.reshape((1, n, heads, d))?, cos, sin)?
                            .squeeze(0)?,
                    )
                };
                let (q, k) = (rotate(q)?, rotate(k)?);
                let v = v.reshape((n, heads, d))?;
                attention.attend(&q, &k, &v, cu_seqlens, 1.0, bias.as_ref())?
            }
        };
        let x = (x + self.out.forward(&attended)?)?;
        // The feed-forward's (tokens, 4 x hidden) activations, a block of rows at a time.
        let ffn = row_blocks::map_rows(&x, self.ffn_rows, |rows| {
            let normed = self.ffn_norm.forward(rows)?;
            Ok(self
                .fc2
                .forward(&activation::gelu_erf(&self.fc1.forward(&normed)?)?)?)
        })?;
        Ok((x + ffn)?)
    }
}
