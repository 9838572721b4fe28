//! Scaled dot-product attention, padded or packed, with the softmax in f32 as fair-esm forces it.

use candle_core::{DType, Device, Tensor};

use super::cpu_attention;
use crate::error::Result;

/// How the token rows of one forward pass are laid out, as the attention of every layer sees
/// them.
pub enum TokenLayout<'a> {
    /// `(batch, width)` rows, padding after each sequence; `bias` (f32) broadcasts to
    /// `(batch, heads, width, width)` and masks the padding keys (plus ALiBi, for DNABERT-S).
    Padded {
        /// Sequences.
        batch: usize,
        /// Row width: the longest sequence.
        width: usize,
        /// Additive attention bias.
        bias: Tensor,
    },
    /// Sequences back to back with no padding; `cu_seqlens` marks their bounds and `bias`, when
    /// given, is an f32 `(heads, longest, longest)` position bias (ALiBi).
    Packed {
        /// `[0, l1, l1 + l2, ...]`.
        cu_seqlens: &'a [u32],
        /// Position bias, if the model has one.
        bias: Option<Tensor>,
        /// How the packed sequences attend.
        attention: PackedAttention,
    },
}

/// How the sequences of a packed batch attend, chosen once, when a model is built for its
/// device: the CPU loops over sequences (no padding computed, each row independent of its
/// neighbours), a GPU gathers them into one padded block (a dozen kernel launches per layer
/// instead of a dozen per sequence). Both give the same result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedAttention {
    /// [`attend_packed`].
    PerSequence,
    /// [`attend_packed_gathered`].
    Gathered,
}

impl PackedAttention {
    /// The implementation for `device`.
    pub fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            PackedAttention::PerSequence
        } else {
            PackedAttention::Gathered
        }
    }

    /// Attention over a packed batch, `(total, heads, head_dim)` in, `(total, heads * head_dim)`
    /// out (see [`attend_packed`]).
    pub fn attend(
        self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        cu_seqlens: &[u32],
        scale: f64,
        bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        match self {
            PackedAttention::PerSequence => {
                match cpu_attention::attend_packed(q, k, v, cu_seqlens, scale, bias)? {
                    Some(out) => Ok(out),
                    None => attend_packed(q, k, v, cu_seqlens, scale, bias),
                }
            }
            PackedAttention::Gathered => attend_packed_gathered(q, k, v, cu_seqlens, scale, bias),
        }
    }
}

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
/// `bias`, when given, is an f32 `(heads, longest, longest)` position bias (ALiBi) whose top-left
/// `(heads, len, len)` corner is the bias of a sequence of `len` tokens.
///
/// Each sequence's rows are a contiguous block, viewed as `(heads, len, head_dim)` through
/// strides, so nothing is copied on the way in, and each sequence's result depends on its own
/// tokens only, never on its neighbours in the batch.
pub fn attend_packed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cu_seqlens: &[u32],
    scale: f64,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let (total, heads, d) = q.dims3()?;
    let mut outs = Vec::with_capacity(cu_seqlens.len().saturating_sub(1));
    for w in cu_seqlens.windows(2) {
        let (start, len) = (w[0] as usize, (w[1] - w[0]) as usize);
        let view = |t: &Tensor| -> Result<Tensor> { Ok(t.narrow(0, start, len)?.transpose(0, 1)?) };
        let (qs, ks, vs) = (view(q)?, view(k)?, view(v)?);
        let dtype = qs.dtype();
        let mut scores = qs.matmul(&ks.t()?)?;
        if scale != 1.0 {
            scores = (scores * scale)?;
        }
        let mut scores = scores.to_dtype(DType::F32)?;
        if let Some(bias) = bias {
            scores = scores.broadcast_add(&bias.narrow(1, 0, len)?.narrow(2, 0, len)?)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(dtype)?;
        // (heads, len, d) -> (len, heads, d)
        outs.push(probs.matmul(&vs)?.transpose(0, 1)?);
    }
    Ok(Tensor::cat(&outs, 0)?.reshape((total, heads * d))?)
}

/// The same result as [`attend_packed`], computed for all sequences at once: the packed rows
/// are gathered into a padded `(sequences, heads, longest, head_dim)` block, attended with a key
/// mask in one batched matmul, and gathered back. On a GPU this is a dozen kernel launches per
/// layer instead of a dozen per sequence (a 16k-token batch holds ~150 proteins); the padding
/// it computes is attention only, under 1 % of an ESM-2 layer's work for proteins of similar
/// length (first-fit packing groups them so). The CPU keeps the per-sequence loop, which
/// computes no padding at all. `bias` is as for [`attend_packed`], `(heads, longest, longest)`
/// at least.
pub fn attend_packed_gathered(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cu_seqlens: &[u32],
    scale: f64,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let (total, heads, d) = q.dims3()?;
    let lengths: Vec<usize> = cu_seqlens
        .windows(2)
        .map(|w| (w[1] - w[0]) as usize)
        .collect();
    let count = lengths.len();
    let longest = lengths.iter().copied().max().unwrap_or(0);
    if count == 0 || longest == 0 {
        return Ok(Tensor::zeros((total, heads * d), q.dtype(), q.device())?);
    }
    // Row of the packed tensor for each padded slot (padding repeats a real row; it is masked).
    let mut gather = Vec::with_capacity(count * longest);
    for (b, &len) in lengths.iter().enumerate() {
        let start = cu_seqlens[b] as usize;
        gather.extend((0..longest).map(|p| (start + p.min(len - 1)) as u32));
    }
    // Padded slot of each packed row, to come back.
    let mut scatter = Vec::with_capacity(total);
    for (b, &len) in lengths.iter().enumerate() {
        scatter.extend((0..len).map(|p| (b * longest + p) as u32));
    }
    let device = q.device();
    let gather = Tensor::from_vec(gather, count * longest, device)?;
    let scatter = Tensor::from_vec(scatter, total, device)?;
    let pad = |t: &Tensor| -> Result<Tensor> {
        Ok(t.index_select(&gather, 0)?
            .reshape((count, longest, heads, d))?
            .transpose(1, 2)?
            .contiguous()?)
    };
    let mut mask = key_padding_bias(&lengths, longest, f32::NEG_INFINITY, device)?;
    if let Some(bias) = bias {
        let position = bias.narrow(1, 0, longest)?.narrow(2, 0, longest)?;
        mask = mask.broadcast_add(&position.unsqueeze(0)?)?;
    }
    let out = attend(&pad(q)?, &pad(k)?, &pad(v)?, scale, Some(&mask))?;
    // (count, heads, longest, d) -> (count * longest, heads * d) -> packed rows.
    let out = out
        .transpose(1, 2)?
        .reshape((count * longest, heads * d))?
        .index_select(&scatter, 0)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn gathered_packed_attention_equals_the_per_sequence_loop() {
        let lengths = [5usize, 1, 9, 3];
        let mut cu = vec![0u32];
        for l in lengths {
            cu.push(cu.last().unwrap() + l as u32);
        }
        let total = cu[lengths.len()] as usize;
        let (heads, d) = (2, 4);
        let make = |seed: f32| {
            let data: Vec<f32> = (0..total * heads * d)
                .map(|i| (i as f32 * 0.37 + seed).sin())
                .collect();
            Tensor::from_vec(data, (total, heads, d), &Device::Cpu).unwrap()
        };
        let (q, k, v) = (make(0.1), make(1.3), make(2.7));
        let alibi = crate::layers::alibi::bias(&[0.5, 0.25], 9, &Device::Cpu).unwrap();
        for bias in [None, Some(&alibi)] {
            let a = attend_packed(&q, &k, &v, &cu, 0.5, bias).unwrap();
            let b = attend_packed_gathered(&q, &k, &v, &cu, 0.5, bias).unwrap();
            assert_eq!(a.dims(), b.dims());
            let diff = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-6, "{diff}");
        }
    }
}
