//! Rotary position embedding as ESM-2 applies it: half-rotation ("NeoX") style over the whole
//! head dimension, base 10000, positions counted from 0 at `<cls>` in every sequence.

use candle_core::{DType, Device, Tensor};

use crate::error::Result;

/// Frequencies of one head dimension; `cos_sin` turns positions into the tables `rope` needs.
#[derive(Debug, Clone)]
pub struct Rotary {
    inv_freq: Vec<f32>,
}

impl Rotary {
    /// Frequencies `1 / 10000^(2i / head_dim)` for i in 0..head_dim/2, as fair-esm computes them
    /// in f32.
    pub fn new(head_dim: usize) -> Self {
        let inv_freq = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0f32 / 10000f32.powf(i as f32 / head_dim as f32))
            .collect();
        Rotary { inv_freq }
    }

    /// `(cos, sin)` of shape `(positions.len(), head_dim / 2)`, computed in f32 (as fair-esm does
    /// for an f32 model, and as the fixed packed path does for f16) and cast to `dtype`.
    pub fn cos_sin(
        &self,
        positions: &[u32],
        dtype: DType,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut angles = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            let t = p as f32;
            angles.extend(self.inv_freq.iter().map(|f| t * f));
        }
        let angles = Tensor::from_vec(angles, (positions.len(), half), device)?;
        let cos = angles.cos()?.to_dtype(dtype)?;
        let sin = angles.sin()?.to_dtype(dtype)?;
        Ok((cos, sin))
    }
}

/// Applies the rotation to `x` of shape `(batch, heads, tokens, head_dim)` with tables of shape
/// `(tokens, head_dim / 2)`.
pub fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)?)
}

/// As [`apply`], for token-major `x` of shape `(batch, tokens, heads, head_dim)`: the layout a
/// linear layer's output already has, so no transpose is needed.
pub fn apply_token_major(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::rotary_emb::rope_thd(&x.contiguous()?, cos, sin)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rotate_half_formula() {
        let dev = Device::Cpu;
        let rot = Rotary::new(4);
        let x = Tensor::new(&[[[[1f32, 2., 3., 4.], [0.5, -1., 2., 0.]]]], &dev).unwrap();
        let (cos, sin) = rot.cos_sin(&[0, 3], DType::F32, &dev).unwrap();
        let got = apply(&x, &cos, &sin)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // x*cos + rotate_half(x)*sin with rotate_half([a,b,c,d]) = [-c,-d,a,b].
        let f = [1.0f32, 1.0 / 100f32];
        let mut want = vec![1., 2., 3., 4.];
        let (x1, p) = ([0.5f32, -1., 2., 0.], 3.0f32);
        let c = [(p * f[0]).cos(), (p * f[1]).cos()];
        let s = [(p * f[0]).sin(), (p * f[1]).sin()];
        want.extend([
            x1[0] * c[0] - x1[2] * s[0],
            x1[1] * c[1] - x1[3] * s[1],
            x1[2] * c[0] + x1[0] * s[0],
            x1[3] * c[1] + x1[1] * s[1],
        ]);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }
}
