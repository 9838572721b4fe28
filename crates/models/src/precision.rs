//! Devices and numeric precision.

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

    /// The default for a device: f32 on CPU, f16 on a GPU.
    pub fn default_for(device: &Device) -> Self {
        if device.is_cpu() {
            Precision::F32
        } else {
            Precision::F16
        }
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

/// Parses one device: `cpu`, `cuda` (GPU 0) or `cuda:N`.
pub fn parse_device(spec: &str) -> Result<Device> {
    // `cuda` alone means GPU 0 here: opening every GPU for one would create a context on each.
    let spec = if spec.trim().eq_ignore_ascii_case("cuda") {
        "cuda:0"
    } else {
        spec
    };
    Ok(parse_devices(spec)?.swap_remove(0))
}

/// Parses a device list: `cpu`; `cuda` (every visible GPU); `cuda:N`; or `cuda:0,2` (a subset).
/// Each GPU is opened, so a device that is not there is an error here, not later.
pub fn parse_devices(spec: &str) -> Result<Vec<Device>> {
    let spec = spec.trim().to_ascii_lowercase();
    if spec == "cpu" {
        return Ok(vec![Device::Cpu]);
    }
    let unknown = || {
        ModelError::Input(format!(
            "unknown device '{spec}'; use cpu, cuda (every GPU), cuda:N or cuda:N,M,..."
        ))
    };
    let ordinals: Option<Vec<usize>> = match spec.strip_prefix("cuda") {
        Some("") => None,
        Some(rest) => {
            let list = rest.strip_prefix(':').ok_or_else(unknown)?;
            let mut ordinals = Vec::new();
            for n in list.split(',') {
                let n: usize = n.trim().parse().map_err(|_| unknown())?;
                if ordinals.contains(&n) {
                    return Err(ModelError::Input(format!(
                        "device '{spec}' names cuda:{n} twice"
                    )));
                }
                ordinals.push(n);
            }
            Some(ordinals)
        }
        None => return Err(unknown()),
    };
    if !candle_core::utils::cuda_is_available() {
        return Err(ModelError::Input(format!(
            "device '{spec}' asked for, but this build of virnucpro has no CUDA support \
             (rebuild with --features cuda) or no GPU is visible"
        )));
    }
    match ordinals {
        Some(ordinals) => ordinals
            .into_iter()
            .map(|n| {
                Device::new_cuda(n).map_err(|e| {
                    ModelError::Input(format!(
                        "cannot open cuda:{n} ({e}); see `virnucpro utils list-devices`"
                    ))
                })
            })
            .collect(),
        None => {
            let all: Vec<Device> = (0..).map_while(|n| Device::new_cuda(n).ok()).collect();
            if all.is_empty() {
                return Err(ModelError::Input(
                    "device 'cuda' asked for, but no GPU could be opened (driver? \
                     CUDA_VISIBLE_DEVICES?)"
                        .to_string(),
                ));
            }
            Ok(all)
        }
    }
}

/// Device memory in use and in all, in bytes, as the driver reports it (every process on the
/// device counts); `None` on the CPU.
pub fn device_memory(device: &Device) -> Option<(u64, u64)> {
    #[cfg(feature = "cuda")]
    if let Ok(cuda) = device.as_cuda_device() {
        if let Ok((free, total)) = cuda.cuda_stream().context().mem_get_info() {
            return Some(((total - free) as u64, total as u64));
        }
    }
    let _ = device;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_precisions_and_devices() {
        assert_eq!("FP16".parse::<Precision>().unwrap(), Precision::F16);
        assert!("fp8".parse::<Precision>().is_err());
        assert!(parse_device("cpu").unwrap().is_cpu());
        assert!(parse_device("tpu").is_err());
        assert!(parse_device("cuda:x").is_err());
        assert_eq!(parse_devices("cpu").unwrap().len(), 1);
        assert!(parse_devices("cuda:0,0").is_err());
        assert!(parse_devices("cuda:0,").is_err());
        assert_eq!(Precision::default_for(&Device::Cpu), Precision::F32);
        assert_eq!(device_memory(&Device::Cpu), None);
    }
}
