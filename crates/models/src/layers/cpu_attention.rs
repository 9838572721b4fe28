//! Packed attention on the CPU as one kernel per sequence and head: scores, softmax and the
//! weighted sum of values in one pass, f32 throughout.
//!
//! Why not candle ops: a protein of ~110 residues has heads of 16-64 dimensions, so each
//! sequence's attention is a dozen tiny tensor ops (two matmuls of head-sized shapes, a scalar
//! `expf` softmax, transposes, a concatenation). Measured on the 2-core build machine, that was
//! a quarter of an ESM-2 forward pass at 8M, 35M and 150M while being 3-6 % of its arithmetic.
//! Here each (sequence, head) is one task on the rayon pool: the keys are transposed once into a
//! cache-resident block, four queries at a time are scored against it with independent
//! accumulators, the softmax uses a polynomial `exp` the compiler can vectorise, and the values
//! are summed into registers. `pulp` compiles the kernel for AVX-512, AVX2+FMA or plain x86-64
//! and picks one at run time, as `gemm` does for the matmuls.
//!
//! Each sequence's result depends on its own tokens only, and the arithmetic is the same
//! whatever batch the sequence is in: the rows stay bit-identical to the sequence run alone.

use candle_core::{DType, Layout, Storage, Tensor};
use pulp::Simd;
use rayon::prelude::*;

use crate::error::Result;

/// Queries scored together: they share every load of the transposed keys.
const QUERIES: usize = 4;
/// Keys scored per step, per query (two AVX-512 registers; eight independent accumulators with
/// [`QUERIES`]).
const KEYS: usize = 32;

/// `softmax(q kᵀ * scale + bias) v` over a packed batch, as
/// [`attend_packed`](super::attention::attend_packed) defines it: `q, k, v` are
/// `(total, heads, head_dim)` token rows, `cu_seqlens` marks the sequences, `bias` is an f32
/// `(heads, longest, longest)` position bias. `None` when this kernel does not cover the case
/// (not f32, not on the CPU, or a head size other than 16, 24, 32, 64 or 128); the caller then
/// uses the general path.
pub fn attend_packed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cu_seqlens: &[u32],
    scale: f64,
    bias: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let (_, _, d) = q.dims3()?;
    let covered = q.device().is_cpu()
        && [q, k, v].iter().all(|t| t.dtype() == DType::F32)
        && bias.is_none_or(|b| b.dtype() == DType::F32);
    if !covered {
        return Ok(None);
    }
    Ok(match d {
        16 => Some(attend_with::<16>(q, k, v, cu_seqlens, scale, bias)?),
        24 => Some(attend_with::<24>(q, k, v, cu_seqlens, scale, bias)?),
        32 => Some(attend_with::<32>(q, k, v, cu_seqlens, scale, bias)?),
        64 => Some(attend_with::<64>(q, k, v, cu_seqlens, scale, bias)?),
        128 => Some(attend_with::<128>(q, k, v, cu_seqlens, scale, bias)?),
        _ => None,
    })
}

/// The token rows of a contiguous f32 CPU tensor.
fn rows<'a>(storage: &'a Storage, layout: &Layout) -> Result<&'a [f32]> {
    let Storage::Cpu(cpu) = storage else {
        return Err(candle_core::Error::Msg(
            "the CPU attention kernel was given a tensor on another device".into(),
        )
        .into());
    };
    let all = cpu.as_slice::<f32>()?;
    let Some((start, end)) = layout.contiguous_offsets() else {
        return Err(candle_core::Error::Msg(
            "the CPU attention kernel was given a strided tensor".into(),
        )
        .into());
    };
    Ok(&all[start..end])
}

/// [`attend_packed`] for heads of `D` dimensions.
fn attend_with<const D: usize>(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cu_seqlens: &[u32],
    scale: f64,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let (total, heads, _) = q.dims3()?;
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let bias = bias.map(|b| b.contiguous()).transpose()?;
    let (qs, ql) = q.storage_and_layout();
    let (ks, kl) = k.storage_and_layout();
    let (vs, vl) = v.storage_and_layout();
    let tokens = Tokens {
        q: rows(&qs, ql)?,
        k: rows(&ks, kl)?,
        v: rows(&vs, vl)?,
        row: heads * D,
    };
    let longest = match &bias {
        Some(b) => {
            let (bias_heads, rows, cols) = b.dims3()?;
            let needed = cu_seqlens
                .windows(2)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or(0);
            if bias_heads != heads || rows != cols || rows < needed as usize {
                return Err(candle_core::Error::Msg(format!(
                    "position bias of shape ({bias_heads}, {rows}, {cols}) does not cover \
                     {heads} heads and sequences of {needed} tokens"
                ))
                .into());
            }
            rows
        }
        None => 0,
    };
    let bias_guard = bias.as_ref().map(|b| b.storage_and_layout());
    let bias = match &bias_guard {
        Some((storage, layout)) => Some(PositionBias {
            values: rows(storage, layout)?,
            longest,
        }),
        None => None,
    };
    let scale = scale as f32;
    let tasks: Vec<(usize, usize)> = (0..cu_seqlens.len().saturating_sub(1))
        .flat_map(|s| (0..heads).map(move |h| (s, h)))
        .collect();
    let results: Vec<Vec<f32>> = tasks
        .par_iter()
        .map(|&(s, h)| {
            let (start, end) = (cu_seqlens[s] as usize, cu_seqlens[s + 1] as usize);
            let head = Head {
                start,
                len: end - start,
                index: h,
                scale,
            };
            pulp::Arch::new().dispatch(HeadTask::<D> {
                tokens: &tokens,
                bias: bias.as_ref(),
                head,
            })
        })
        .collect();
    let mut out = vec![0f32; total * heads * D];
    for (&(s, h), result) in tasks.iter().zip(&results) {
        let start = cu_seqlens[s] as usize;
        for (i, values) in result.chunks_exact(D).enumerate() {
            out[(start + i) * heads * D + h * D..][..D].copy_from_slice(values);
        }
    }
    Ok(Tensor::from_vec(out, (total, heads * D), q.device())?)
}

/// The packed `(total, heads, D)` rows of queries, keys and values.
struct Tokens<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    /// Floats per token row: `heads * D`.
    row: usize,
}

/// An f32 `(heads, longest, longest)` position bias.
struct PositionBias<'a> {
    values: &'a [f32],
    longest: usize,
}

/// One head of one sequence.
struct Head {
    start: usize,
    len: usize,
    index: usize,
    scale: f32,
}

/// One head's attention as a `pulp` operation: compiled once per instruction set, with
/// everything below inlined into it.
struct HeadTask<'a, const D: usize> {
    tokens: &'a Tokens<'a>,
    bias: Option<&'a PositionBias<'a>>,
    head: Head,
}

impl<const D: usize> pulp::WithSimd for HeadTask<'_, D> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Vec<f32> {
        attend_head::<S, D>(simd, self.tokens, self.bias, &self.head)
    }
}

/// The attention output `(len, D)` of one head of one sequence.
#[inline(always)]
fn attend_head<S: Simd, const D: usize>(
    simd: S,
    tokens: &Tokens,
    bias: Option<&PositionBias>,
    head: &Head,
) -> Vec<f32> {
    let len = head.len;
    let padded = len.next_multiple_of(KEYS);
    // Value rows padded to whole vectors.
    let width = D.next_multiple_of(S::F32_LANES);
    let at = |t: usize| (head.start + t) * tokens.row + head.index * D;
    // Keys transposed, (D, padded), and values, (len, width), zero past the data.
    let mut keys = vec![0f32; D * padded];
    let mut values = vec![0f32; len * width];
    for j in 0..len {
        for (c, &x) in tokens.k[at(j)..][..D].iter().enumerate() {
            keys[c * padded + j] = x;
        }
        values[j * width..][..D].copy_from_slice(&tokens.v[at(j)..][..D]);
    }
    let mut out = vec![0f32; len * D];
    let mut probs = vec![0f32; QUERIES * padded];
    let mut sums = vec![0f32; QUERIES * width];
    for first in (0..len).step_by(QUERIES) {
        let count = QUERIES.min(len - first);
        let mut query = [[0f32; D]; QUERIES];
        for (r, row) in query.iter_mut().enumerate().take(count) {
            row.copy_from_slice(&tokens.q[at(first + r)..][..D]);
        }
        score::<S, D>(simd, &query, &keys, padded, &mut probs);
        let mut totals = [1f32; QUERIES];
        for (r, total) in totals.iter_mut().enumerate().take(count) {
            let scores = &mut probs[r * padded..][..len];
            let bias =
                bias.map(|b| &b.values[(head.index * b.longest + first + r) * b.longest..][..len]);
            *total = softmax_in_place(simd, scores, head.scale, bias);
        }
        // Rows past the sequence weigh nothing.
        for r in count..QUERIES {
            probs[r * padded..][..len].fill(0.0);
        }
        weigh_values(simd, &probs, padded, &values, width, len, &mut sums);
        for (r, total) in totals.iter().enumerate().take(count) {
            for (o, &x) in out[(first + r) * D..][..D]
                .iter_mut()
                .zip(&sums[r * width..])
            {
                *o = x / total;
            }
        }
    }
    out
}

/// Dot products of [`QUERIES`] queries with every key (`keys` transposed, `(D, padded)`):
/// `probs[r * padded + j]`. Two vectors of keys at a time, so eight independent accumulators.
#[inline(always)]
fn score<S: Simd, const D: usize>(
    simd: S,
    query: &[[f32; D]; QUERIES],
    keys: &[f32],
    padded: usize,
    probs: &mut [f32],
) {
    let per_row = padded / S::F32_LANES;
    let keys = S::as_simd_f32s(keys).0;
    let probs = S::as_mut_simd_f32s(probs).0;
    let zero = simd.splat_f32s(0.0);
    for block in (0..per_row).step_by(2) {
        let mut acc = [[zero; 2]; QUERIES];
        for c in 0..D {
            let (k0, k1) = (keys[c * per_row + block], keys[c * per_row + block + 1]);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = simd.splat_f32s(query[r][c]);
                acc[0] = simd.mul_add_f32s(x, k0, acc[0]);
                acc[1] = simd.mul_add_f32s(x, k1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            probs[r * per_row + block] = acc[0];
            probs[r * per_row + block + 1] = acc[1];
        }
    }
}

/// `sums[r * width + c] = Σⱼ probs[r * padded + j] · values[j * width + c]` for the
/// [`QUERIES`] rows, up to four vectors of channels at a time (sixteen accumulators).
#[inline(always)]
fn weigh_values<S: Simd>(
    simd: S,
    probs: &[f32],
    padded: usize,
    values: &[f32],
    width: usize,
    len: usize,
    sums: &mut [f32],
) {
    let per_row = width / S::F32_LANES;
    let values = S::as_simd_f32s(values).0;
    let sums = S::as_mut_simd_f32s(sums).0;
    let zero = simd.splat_f32s(0.0);
    for first in (0..per_row).step_by(4) {
        let count = 4.min(per_row - first);
        let mut acc = [[zero; 4]; QUERIES];
        for j in 0..len {
            let row = &values[j * per_row + first..][..count];
            for (r, acc) in acc.iter_mut().enumerate() {
                let p = simd.splat_f32s(probs[r * padded + j]);
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a = simd.mul_add_f32s(p, v, *a);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            sums[r * per_row + first..][..count].copy_from_slice(&acc[..count]);
        }
    }
}

/// `scores * scale + bias` turned into `exp(x - max)` in place; returns their sum.
#[inline(always)]
fn softmax_in_place<S: Simd>(simd: S, scores: &mut [f32], scale: f32, bias: Option<&[f32]>) -> f32 {
    match bias {
        Some(bias) => {
            for (x, &b) in scores.iter_mut().zip(bias) {
                *x = *x * scale + b;
            }
        }
        None if scale != 1.0 => scores.iter_mut().for_each(|x| *x *= scale),
        None => {}
    }
    let (vectors, rest) = S::as_simd_f32s(scores);
    let mut top = simd.splat_f32s(f32::NEG_INFINITY);
    for &v in vectors {
        top = simd.max_f32s(top, v);
    }
    let max = rest
        .iter()
        .fold(simd.reduce_max_f32s(top), |m, &x| if x > m { x } else { m });
    for x in scores.iter_mut() {
        *x = exp(*x - max);
    }
    let (vectors, rest) = S::as_simd_f32s(scores);
    let mut total = simd.splat_f32s(0.0);
    for &v in vectors {
        total = simd.add_f32s(total, v);
    }
    rest.iter().fold(simd.reduce_sum_f32s(total), |s, &x| s + x)
}

/// `eˣ` in f32 to about one unit in the last place (Cephes' `expf`: `2ⁿ · e^r` with
/// `|r| ≤ ln 2 / 2` and a degree-5 polynomial), written with no branch or library call so a loop
/// over it vectorises; libm's `expf` is a scalar call per element. `-∞` and anything below the
/// smallest normal result give 0, NaN stays NaN.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOWEST: f32 = -87.3;
    const HIGHEST: f32 = 88.3;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    // Adding and removing 1.5 · 2²³ rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(LOWEST, HIGHEST);
    let n = (clamped * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = n.mul_add(-LN2_LOW, n.mul_add(-LN2_HIGH, clamped));
    let mut p = 1.987_569_2e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = p.mul_add(r * r, r) + 1.0;
    let power = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let e = y * power;
    if x < LOWEST {
        0.0
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::attention;
    use candle_core::Device;

    #[test]
    fn exp_is_within_two_ulps_of_libm_and_handles_the_edges() {
        let mut worst = 0u32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp(x), x.exp());
            worst = worst.max(ours.to_bits().abs_diff(libm.to_bits()));
            x += 0.0137;
        }
        assert!(worst <= 2, "{worst} ulps");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    fn packed(lengths: &[usize], heads: usize, d: usize, seed: f32) -> (Vec<u32>, Tensor) {
        let mut cu = vec![0u32];
        for &l in lengths {
            cu.push(cu.last().unwrap() + l as u32);
        }
        let total = *cu.last().unwrap() as usize;
        let data: Vec<f32> = (0..total * heads * d)
            .map(|i| (i as f32 * 0.37 + seed).sin() * 2.0)
            .collect();
        (
            cu,
            Tensor::from_vec(data, (total, heads, d), &Device::Cpu).unwrap(),
        )
    }

    #[test]
    fn the_kernel_agrees_with_the_tensor_ops_for_every_head_size_it_covers() {
        // Lengths around the 4-query and 32-key steps, and a single token.
        let lengths = [1usize, 3, 4, 5, 31, 32, 33, 70];
        for d in [16, 24, 32, 64, 128] {
            let heads = 3;
            let (cu, q) = packed(&lengths, heads, d, 0.1);
            let (_, k) = packed(&lengths, heads, d, 1.3);
            let (_, v) = packed(&lengths, heads, d, 2.7);
            let alibi = crate::layers::alibi::bias(&[0.5, 0.25, 0.125], 70, &Device::Cpu).unwrap();
            for bias in [None, Some(&alibi)] {
                let reference = attention::attend_packed(&q, &k, &v, &cu, 0.3, bias).unwrap();
                let ours = attend_packed(&q, &k, &v, &cu, 0.3, bias)
                    .unwrap()
                    .expect("covered");
                let diff = (reference - ours)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(diff < 1e-5, "d={d} bias={}: {diff}", bias.is_some());
            }
        }
    }

    #[test]
    fn a_sequence_gets_the_same_bits_alone_and_among_others() {
        let (heads, d) = (2, 32);
        let (cu, q) = packed(&[7, 40, 19], heads, d, 0.4);
        let (_, k) = packed(&[7, 40, 19], heads, d, 1.1);
        let (_, v) = packed(&[7, 40, 19], heads, d, 2.2);
        let together = attend_packed(&q, &k, &v, &cu, 1.0, None).unwrap().unwrap();
        let alone = |t: &Tensor| t.narrow(0, 7, 40).unwrap();
        let single = attend_packed(&alone(&q), &alone(&k), &alone(&v), &[0, 40], 1.0, None)
            .unwrap()
            .unwrap();
        let a: Vec<f32> = together
            .narrow(0, 7, 40)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let b: Vec<f32> = single.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b);
    }

    /// One head through `simd`, as `attend_with` runs it.
    fn one_head<S: Simd>(simd: S, q: &Tensor, k: &Tensor, v: &Tensor, len: usize) -> Vec<f32> {
        let (q, k, v): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            q.flatten_all().unwrap().to_vec1().unwrap(),
            k.flatten_all().unwrap().to_vec1().unwrap(),
            v.flatten_all().unwrap().to_vec1().unwrap(),
        );
        let tokens = Tokens {
            q: &q,
            k: &k,
            v: &v,
            row: 2 * 24,
        };
        let head = Head {
            start: 0,
            len,
            index: 1,
            scale: 0.7,
        };
        simd.vectorize(HeadTask::<24> {
            tokens: &tokens,
            bias: None,
            head,
        })
    }

    #[test]
    fn every_instruction_set_of_this_machine_agrees_with_plain_code() {
        // The kernel as compiled for no vector unit at all is the reference here; a head size of
        // 24 is not a whole number of AVX-512 vectors, which the value rows pad.
        let len = 45;
        let (_, q) = packed(&[len], 2, 24, 0.2);
        let (_, k) = packed(&[len], 2, 24, 0.9);
        let (_, v) = packed(&[len], 2, 24, 1.7);
        let plain = one_head(pulp::Scalar::new(), &q, &k, &v, len);
        let close = |other: Vec<f32>| {
            let worst = plain
                .iter()
                .zip(&other)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{worst}");
        };
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(simd) = pulp::x86::V3::try_new() {
                close(one_head(simd, &q, &k, &v, len));
            }
            #[cfg(feature = "avx512")]
            if let Some(simd) = pulp::x86::V4::try_new() {
                close(one_head(simd, &q, &k, &v, len));
            }
        }
    }

    #[test]
    fn a_position_bias_too_small_for_the_batch_is_an_error_not_a_panic() {
        let (cu, q) = packed(&[9], 2, 16, 0.0);
        let small = crate::layers::alibi::bias(&[0.5, 0.25], 8, &Device::Cpu).unwrap();
        assert!(attend_packed(&q, &q, &q, &cu, 1.0, Some(&small)).is_err());
        let enough = crate::layers::alibi::bias(&[0.5, 0.25], 9, &Device::Cpu).unwrap();
        assert!(attend_packed(&q, &q, &q, &cu, 1.0, Some(&enough)).is_ok());
    }

    #[test]
    fn other_head_sizes_and_dtypes_are_left_to_the_general_path() {
        let (cu, q) = packed(&[5], 2, 20, 0.0);
        assert!(attend_packed(&q, &q, &q, &cu, 1.0, None).unwrap().is_none());
        let (cu, q) = packed(&[5], 2, 16, 0.0);
        let half = q.to_dtype(DType::BF16).unwrap();
        assert!(attend_packed(&half, &half, &half, &cu, 1.0, None)
            .unwrap()
            .is_none());
    }
}
