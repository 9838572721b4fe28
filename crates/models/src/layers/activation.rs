//! GELU with the exact erf form (`x/2 * (1 + erf(x/sqrt 2))`), as fair-esm and MosaicBERT use it.
//!
//! candle's CPU `gelu_erf` calls a scalar libm `erf` per element, which took a sixth of an ESM-2
//! forward pass on CPU. Here f32 on CPU uses the rational erf approximation of Eigen/XLA
//! (clamped to [-4, 4], odd/even polynomials, max abs error ~1e-7, under f32 noise for this
//! use), written branch-free so the compiler vectorises it (for the widest vectors the CPU has,
//! through `pulp`), over threads. Other dtypes and devices use candle's own kernel.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::Result;

/// `gelu_erf(x)`, fast on CPU f32.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        Ok(x.contiguous()?.apply_op1_no_bwd(&GeluErf)?)
    } else {
        Ok(x.gelu_erf()?)
    }
}

/// erf(x) for f32 (rational approximation, see the module doc).
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    // Plain multiply-adds, not `mul_add`: without FMA in the target features that becomes a
    // libm call per term instead of vector code.
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.9546e-3;
    p = x2 * p + -1.609_603_3e-2;
    let p = x * p;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    p / q
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-fast"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("gelu-erf-fast takes f32");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("gelu-erf-fast takes a contiguous tensor");
        };
        let src = &data[start..end];
        let mut dst = vec![0f32; src.len()];
        dst.par_chunks_mut(1 << 14)
            .zip(src.par_chunks(1 << 14))
            .for_each(|(dst, src)| pulp::Arch::new().dispatch(GeluBlock { src, dst }));
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

/// GELU over one block of values, as a `pulp` operation: compiled once per instruction set
/// (AVX-512, AVX2, plain x86-64) and picked at run time, so the loop uses the widest vectors the
/// CPU has. Plain multiply-adds are never fused, so every set gives the same bits.
struct GeluBlock<'a> {
    src: &'a [f32],
    dst: &'a mut [f32],
}

impl pulp::WithSimd for GeluBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (d, &v) in self.dst.iter_mut().zip(self.src) {
            *d = 0.5 * v * (1.0 + erf_f32(v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn erf_is_accurate() {
        let xs: Vec<f64> = (-6000..=6000).map(|i| i as f64 / 1000.0).collect();
        let exact = Tensor::new(xs.as_slice(), &Device::Cpu)
            .unwrap()
            .erf()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let worst = xs
            .iter()
            .zip(&exact)
            .map(|(&x, &e)| (erf_f32(x as f32) as f64 - e).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-7, "max abs error {worst}");
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let src: Vec<f32> = (-3000..3000).map(|i| i as f32 * 0.00173).collect();
        let run = |simd_is_plain: bool| {
            let mut dst = vec![0f32; src.len()];
            let block = GeluBlock {
                src: &src,
                dst: &mut dst,
            };
            if simd_is_plain {
                pulp::Simd::vectorize(pulp::Scalar::new(), block);
            } else {
                pulp::Arch::new().dispatch(block);
            }
            dst.iter().map(|x| x.to_bits()).collect::<Vec<u32>>()
        };
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn gelu_matches_candles_exact_kernel() {
        let x = Tensor::arange(-800f32, 800., &Device::Cpu)
            .unwrap()
            .affine(0.01, 0.0)
            .unwrap();
        let ours = gelu_erf(&x).unwrap().to_vec1::<f32>().unwrap();
        let exact = x.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in ours.iter().zip(&exact) {
            assert!((a - b).abs() < 2e-6, "{a} vs {b}");
        }
    }
}
