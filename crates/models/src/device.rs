//! Compute devices: how a user names them (`--device`), opening them, and their memory.

use candle_core::Device;

use crate::error::{ModelError, Result};

/// What `--device` takes, parsed once: `auto`, `cpu`, `cuda` (every visible GPU), `cuda:N`, or a
/// subset `cuda:0,2`. Parsing checks the form only; [`DeviceSpec::open`] finds whether the GPUs
/// are there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// Every GPU when there is one, else the CPU (the choice is the caller's: see
    /// [`DeviceSpec::open`]).
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// Every visible GPU.
    EveryGpu,
    /// These GPUs, by ordinal, each once.
    Gpus(Vec<usize>),
}

impl DeviceSpec {
    /// Opens the devices named. `Auto` opens every GPU, and fails as `cuda` does when there is
    /// none: a caller that falls back to the CPU says so where its user sees it.
    pub fn open(&self) -> Result<Vec<Device>> {
        let ordinals = match self {
            DeviceSpec::Cpu => return Ok(vec![Device::Cpu]),
            DeviceSpec::Auto | DeviceSpec::EveryGpu => None,
            DeviceSpec::Gpus(ordinals) => Some(ordinals),
        };
        if let Some(ordinals) = ordinals {
            if let Some((_, n)) = ordinals
                .iter()
                .enumerate()
                .find(|(i, n)| ordinals[..*i].contains(n))
            {
                return Err(ModelError::Input(format!(
                    "device '{self}' names cuda:{n} twice"
                )));
            }
        }
        if !candle_core::utils::cuda_is_available() {
            return Err(ModelError::Input(format!(
                "device '{self}' asked for, but this build of virnucpro has no CUDA support \
                 (rebuild with --features cuda) or no GPU is visible"
            )));
        }
        match ordinals {
            Some(ordinals) => ordinals
                .iter()
                .map(|&n| {
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

    /// Opens one device: the CPU, or the first GPU named (`cuda` alone is GPU 0 here: opening
    /// every GPU for one would create a context on each).
    pub fn open_one(&self) -> Result<Device> {
        match self {
            DeviceSpec::Auto | DeviceSpec::EveryGpu => DeviceSpec::Gpus(vec![0]).open_one(),
            DeviceSpec::Gpus(ordinals) => DeviceSpec::Gpus(ordinals[..1].to_vec())
                .open()
                .map(|mut d| d.swap_remove(0)),
            DeviceSpec::Cpu => Ok(Device::Cpu),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::EveryGpu => f.write_str("cuda"),
            DeviceSpec::Gpus(ordinals) => {
                let list: Vec<String> = ordinals.iter().map(usize::to_string).collect();
                write!(f, "cuda:{}", list.join(","))
            }
        }
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        let spec = s.trim().to_ascii_lowercase();
        let unknown = || {
            ModelError::Input(format!(
                "'{s}': use auto, cpu, cuda (every GPU), cuda:N or cuda:N,M,..."
            ))
        };
        match spec.as_str() {
            "auto" => return Ok(DeviceSpec::Auto),
            "cpu" => return Ok(DeviceSpec::Cpu),
            "cuda" => return Ok(DeviceSpec::EveryGpu),
            _ => {}
        }
        let list = spec.strip_prefix("cuda:").ok_or_else(unknown)?;
        let ordinals = list
            .split(',')
            .map(|n| n.trim().parse().map_err(|_| unknown()))
            .collect::<Result<Vec<usize>>>()?;
        Ok(DeviceSpec::Gpus(ordinals))
    }
}

/// How a user names a device: `cpu`, `cuda:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".to_string(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
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
    fn device_specs_parse_print_and_open() {
        for (text, spec) in [
            ("auto", DeviceSpec::Auto),
            ("CPU", DeviceSpec::Cpu),
            ("cuda", DeviceSpec::EveryGpu),
            ("cuda:1", DeviceSpec::Gpus(vec![1])),
            ("cuda:0, 2", DeviceSpec::Gpus(vec![0, 2])),
        ] {
            let parsed: DeviceSpec = text.parse().unwrap();
            assert_eq!(parsed, spec, "{text}");
            assert_eq!(parsed.to_string().parse::<DeviceSpec>().unwrap(), spec);
        }
        for bad in ["tpu", "cuda:x", "cuda:0,", "gpu", ""] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad}");
        }
        let twice: DeviceSpec = "cuda:1,1".parse().unwrap();
        let err = twice.open().unwrap_err().to_string();
        assert!(err.contains("names cuda:1 twice"), "{err}");
        assert!(DeviceSpec::Cpu.open_one().unwrap().is_cpu());
        assert_eq!(DeviceSpec::Cpu.open().unwrap().len(), 1);
        assert_eq!(device_name(&Device::Cpu), "cpu");
        assert_eq!(device_memory(&Device::Cpu), None);
    }
}
