//! ALiBi attention bias as MosaicBERT (DNABERT-2, DNABERT-S) builds it: `-slope_h * |i - j|`.

use candle_core::{Device, Tensor};

use crate::error::Result;

/// Per-head slopes (MosaicBERT `_get_alibi_head_slopes`): for a power of two n, the geometric
/// series starting at `2^(-8/n)`; otherwise the slopes of the nearest lower power of two followed
/// by every other slope of twice that many heads.
pub fn slopes(heads: usize) -> Vec<f32> {
    fn power_of_two(n: usize) -> Vec<f64> {
        let start = 2f64.powf(-(2f64.powf(-((n as f64).log2() - 3.0))));
        (0..n).map(|i| start * start.powi(i as i32)).collect()
    }
    if heads == 0 {
        return Vec::new();
    }
    let lower = 1usize << (usize::BITS - 1 - heads.leading_zeros());
    let mut out = power_of_two(lower);
    if lower < heads {
        out.extend(
            power_of_two(2 * lower)
                .into_iter()
                .step_by(2)
                .take(heads - lower),
        );
    }
    out.into_iter().map(|s| s as f32).collect()
}

/// The bias `(heads, len, len)` in f32: entry `[h, i, j] = -slope_h * |i - j|`.
pub fn bias(slopes: &[f32], len: usize, device: &Device) -> Result<Tensor> {
    let mut data = Vec::with_capacity(slopes.len() * len * len);
    for &slope in slopes {
        for i in 0..len {
            data.extend((0..len).map(|j| -slope * (i as f32 - j as f32).abs()));
        }
    }
    Ok(Tensor::from_vec(data, (slopes.len(), len, len), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_heads_match_mosaicbert() {
        let want = [
            0.5,
            0.25,
            0.125,
            0.0625,
            0.03125,
            0.015625,
            0.0078125,
            0.00390625,
            std::f32::consts::FRAC_1_SQRT_2,
            0.35355339,
            0.1767767,
            0.08838835,
        ];
        for (g, w) in slopes(12).iter().zip(want) {
            assert!((g - w).abs() < 1e-6);
        }
        assert_eq!(slopes(4), [0.25, 0.0625, 0.015625, 0.00390625]);
    }
}
