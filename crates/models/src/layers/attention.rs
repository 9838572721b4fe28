//! Scaled dot-product attention, padded or packed, with the softmax in f32 as fair-esm forces it.

use candle_core::{DType, Tensor};

use crate::error::Result;

/// `softmax(q kᵀ * scale + bias) v` for `q, k, v` of shape `(batch, heads, len, head_dim)`.
/// `bias` broadcasts to `(batch, heads, len, len)` and is added in f32.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let dtype = q.dtype();
    let mut scores = q.contiguous()?.matmul(&k.t()?.contiguous()?)?;
    if scale != 1.0 {
        scores = (scores * scale)?;
    }
    let mut scores = scores.to_dtype(DType::F32)?;
    if let Some(bias) = bias {
        scores = scores.broadcast_add(bias)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(dtype)?;
    Ok(probs.matmul(&v.contiguous()?)?)
}

/// Additive key mask `(batch, 1, 1, len)`: 0 for real tokens, `fill` for padding.
pub fn key_padding_bias(
    lengths: &[usize],
    len: usize,
    fill: f32,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let mut data = Vec::with_capacity(lengths.len() * len);
    for &l in lengths {
        data.extend((0..len).map(|j| if j < l { 0.0 } else { fill }));
    }
    Ok(Tensor::from_vec(data, (lengths.len(), 1, 1, len), device)?)
}

/// Attention over a packed batch in token-major layout: `q, k, v` of shape
/// `(total, heads, head_dim)` hold many sequences back to back (`cu_seqlens` marks their bounds);
/// each sequence attends only to itself. Returns `(total, heads * head_dim)`.
///
/// Each sequence's rows are a contiguous block, viewed as `(heads, len, head_dim)` through
/// strides, so nothing is copied on the way in.
pub fn attend_packed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cu_seqlens: &[usize],
    scale: f64,
) -> Result<Tensor> {
    let (total, heads, d) = q.dims3()?;
    let mut outs = Vec::with_capacity(cu_seqlens.len().saturating_sub(1));
    for w in cu_seqlens.windows(2) {
        let (start, len) = (w[0], w[1] - w[0]);
        let view = |t: &Tensor| -> Result<Tensor> { Ok(t.narrow(0, start, len)?.transpose(0, 1)?) };
        let (qs, ks, vs) = (view(q)?, view(k)?, view(v)?);
        let dtype = qs.dtype();
        let mut scores = qs.matmul(&ks.t()?)?;
        if scale != 1.0 {
            scores = (scores * scale)?;
        }
        let probs =
            candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?.to_dtype(dtype)?;
        // (heads, len, d) -> (len, heads, d)
        outs.push(probs.matmul(&vs)?.transpose(0, 1)?);
    }
    Ok(Tensor::cat(&outs, 0)?.reshape((total, heads * d))?)
}
