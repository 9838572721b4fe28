//! Numeric precision: what the weights and activations are computed in.

use candle_core::{DType, Device};

use crate::error::{ModelError, Result};

/// Precision of the weights and activations. Pooling and the returned embeddings are always f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats: the reference precision, the default on CPU.
    F32,
    /// IEEE half precision: what ESM-2 was trained in; the default on GPUs.
    F16,
    /// bfloat16.
    BF16,
}

impl Precision {
    /// The candle dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
            Precision::BF16 => DType::BF16,
        }
    }

    /// The name users type and see: `fp32`, `fp16`, `bf16` (also its [`Display`](std::fmt::Display)).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "fp32",
            Precision::F16 => "fp16",
            Precision::BF16 => "bf16",
        }
    }

    /// The element type's full name, as checkpoints record it and PyTorch spells it:
    /// `float32`, `float16`, `bfloat16`.
    pub fn dtype_name(self) -> &'static str {
        match self {
            Precision::F32 => "float32",
            Precision::F16 => "float16",
            Precision::BF16 => "bfloat16",
        }
    }

    /// The default for a device: f32 on CPU, f16 on a GPU.
    pub fn default_for(device: &Device) -> Self {
        if device.is_cpu() {
            Precision::F32
        } else {
            Precision::F16
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => Ok(Precision::F32),
            "fp16" | "f16" | "float16" | "half" => Ok(Precision::F16),
            "bf16" | "bfloat16" => Ok(Precision::BF16),
            other => Err(ModelError::Input(format!(
                "unknown precision '{other}'; use fp32, fp16 or bf16"
            ))),
        }
    }
}

/// What `--precision` takes: `auto` (the device's default) or a precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrecisionChoice {
    /// fp32 on the CPU, fp16 on a GPU ([`Precision::default_for`]).
    #[default]
    Auto,
    /// This precision on any device.
    Fixed(Precision),
}

impl PrecisionChoice {
    /// The precision to run in on `device`.
    pub fn resolve(self, device: &Device) -> Precision {
        match self {
            PrecisionChoice::Auto => Precision::default_for(device),
            PrecisionChoice::Fixed(p) => p,
        }
    }
}

impl std::fmt::Display for PrecisionChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrecisionChoice::Auto => f.write_str("auto"),
            PrecisionChoice::Fixed(p) => p.fmt(f),
        }
    }
}

impl std::str::FromStr for PrecisionChoice {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        if s.trim().eq_ignore_ascii_case("auto") {
            Ok(PrecisionChoice::Auto)
        } else {
            s.trim().parse().map(PrecisionChoice::Fixed).map_err(|_| {
                ModelError::Input(format!(
                    "unknown precision '{s}'; use auto, fp32, fp16 or bf16"
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_precisions() {
        assert_eq!("FP16".parse::<Precision>().unwrap(), Precision::F16);
        assert!("fp8".parse::<Precision>().is_err());
        assert_eq!(Precision::default_for(&Device::Cpu), Precision::F32);
        for p in [Precision::F32, Precision::F16, Precision::BF16] {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
            assert_eq!(p.dtype_name().parse::<Precision>().unwrap(), p);
            let choice = PrecisionChoice::Fixed(p);
            assert_eq!(
                choice.to_string().parse::<PrecisionChoice>().unwrap(),
                choice
            );
        }
        assert_eq!(Precision::BF16.to_string(), "bf16");
        assert_eq!(Precision::F16.dtype_name(), "float16");
        let auto: PrecisionChoice = "AUTO".parse().unwrap();
        assert_eq!(auto.resolve(&Device::Cpu), Precision::F32);
        assert!("fp8".parse::<PrecisionChoice>().is_err());
    }
}
