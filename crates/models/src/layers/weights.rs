//! Finding and opening the weights of a model directory.
//!
//! `model.safetensors` is memory-mapped (tensors are copied once, to the device and dtype asked
//! for; nothing else holds a second copy); `pytorch_model.bin` (a torch zip archive of a state
//! dict, what the DNABERT-S hub repository ships) is read through candle's pickle reader after
//! its tensor table has been checked against the archive, so a corrupt file cannot trigger a huge
//! allocation. Key prefixes (`bert.`, `esm.`) are detected from the names.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::error::{ModelError, Result};

/// Opened weights: a `VarBuilder` rooted at the detected prefix, and the file for messages.
pub struct Weights {
    /// Tensors by name, below the detected prefix.
    pub vb: VarBuilder<'static>,
    /// The weights file.
    pub path: PathBuf,
    names: HashSet<String>,
    prefix: String,
}

impl Weights {
    /// Opens `model.safetensors` (preferred) or `pytorch_model.bin` in `dir`. `probe` is a tensor
    /// name the model needs; the prefix in `prefixes` under which it is found becomes the root.
    pub fn open(
        dir: &Path,
        dtype: DType,
        device: &Device,
        probe: &str,
        prefixes: &[&str],
    ) -> Result<Self> {
        let safetensors = dir.join("model.safetensors");
        let pth = dir.join("pytorch_model.bin");
        let (path, names, vb) = if safetensors.is_file() {
            let names = safetensors_names(&safetensors)?;
            // SAFETY: the file is mapped read-only; a concurrent writer could change the bytes
            // under us, which is the usual contract of memory-mapped model files.
            let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&safetensors], dtype, device) }
                .map_err(|e| ModelError::weights(&safetensors, e.to_string()))?;
            (safetensors, names, vb)
        } else if pth.is_file() {
            let names = check_pth(&pth)?;
            let vb = VarBuilder::from_pth(&pth, dtype, device)
                .map_err(|e| ModelError::weights(&pth, e.to_string()))?;
            (pth, names, vb)
        } else {
            return Err(ModelError::MissingFile {
                dir: dir.to_path_buf(),
                what: "weights",
                expected: "model.safetensors or pytorch_model.bin".into(),
            });
        };
        let prefix = prefixes
            .iter()
            .chain(std::iter::once(&""))
            .find(|p| names.contains(&join(p, probe)))
            .ok_or_else(|| {
                ModelError::weights(
                    &path,
                    format!(
                        "no tensor '{probe}' (with or without the prefixes {prefixes:?}); \
                         is this the right model directory?"
                    ),
                )
            })?
            .to_string();
        let vb = if prefix.is_empty() {
            vb
        } else {
            vb.pp(prefix.as_str())
        };
        Ok(Weights {
            vb,
            path,
            names,
            prefix,
        })
    }

    /// Whether a tensor (below the prefix) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(&join(&self.prefix, name))
    }

    /// Wraps a candle error raised while reading tensors into one that names the file.
    pub fn error(&self, e: candle_core::Error) -> ModelError {
        ModelError::weights(&self.path, e.to_string())
    }
}

/// A `VarBuilder` that creates every weight asked of it with random values, once, on `device`
/// (the model shares it: no second copy is held). For benchmarks in the published shapes.
pub fn random(dtype: DType, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_varmap(&candle_nn::VarMap::new(), dtype, device)
}

/// `dir/config.json`, or an error saying that `dir` is not a `model` directory.
pub fn config_path(dir: &Path, model: &str) -> Result<PathBuf> {
    let path = dir.join("config.json");
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::MissingFile {
            dir: dir.to_path_buf(),
            what: "config.json",
            expected: format!("the config.json of {model}"),
        })
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Names in a safetensors file, after the header has been validated.
fn safetensors_names(path: &Path) -> Result<HashSet<String>> {
    let file = std::fs::File::open(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: read-only mapping of a model file, see above.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let tensors = safetensors::SafeTensors::deserialize(&mmap).map_err(|e| {
        ModelError::weights(
            path,
            format!("not a valid safetensors file ({e}); is it truncated?"),
        )
    })?;
    Ok(tensors.names().into_iter().map(str::to_string).collect())
}

/// Checks a torch zip archive's tensor table against its data entries and returns the names.
fn check_pth(path: &Path) -> Result<HashSet<String>> {
    let infos = candle_core::pickle::read_pth_tensor_info(path, false, None)
        .map_err(|e| ModelError::weights(path, format!("not a readable PyTorch archive ({e})")))?;
    if infos.is_empty() {
        return Err(ModelError::weights(
            path,
            "holds no tensors: expected a state dict (torch.save(model.state_dict()))",
        ));
    }
    let file = std::fs::File::open(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| ModelError::weights(path, format!("not a zip archive ({e})")))?;
    for info in &infos {
        let entry = zip.by_name(&info.path).map_err(|e| {
            ModelError::weights(
                path,
                format!("tensor '{}': data entry missing ({e})", info.name),
            )
        })?;
        let needed = info.layout.start_offset() as u64
            + (info.layout.shape().elem_count() * info.dtype.size_in_bytes()) as u64;
        if needed > entry.size() {
            return Err(ModelError::weights(
                path,
                format!(
                    "tensor '{}' needs {needed} bytes but its data holds {}; the file is corrupt",
                    info.name,
                    entry.size()
                ),
            ));
        }
    }
    Ok(infos.into_iter().map(|i| i.name).collect())
}

/// Reads one tensor of a torch zip archive (checked against the entry size, contiguous only).
pub fn read_pth_tensor(
    zip: &mut zip::ZipArchive<std::io::BufReader<std::fs::File>>,
    info: &candle_core::pickle::TensorInfo,
    path: &Path,
) -> Result<Tensor> {
    use std::io::Read;
    let mut entry = zip.by_name(&info.path).map_err(|e| {
        ModelError::weights(
            path,
            format!("tensor '{}': data entry missing ({e})", info.name),
        )
    })?;
    let start = info.layout.start_offset();
    let bytes = info.layout.shape().elem_count() * info.dtype.size_in_bytes();
    if (start + bytes) as u64 > entry.size() {
        return Err(ModelError::weights(
            path,
            format!(
                "tensor '{}' is larger than its data; the file is corrupt",
                info.name
            ),
        ));
    }
    if !info.layout.is_contiguous() {
        return Err(ModelError::weights(
            path,
            format!(
                "tensor '{}' is not contiguous; save it with .contiguous()",
                info.name
            ),
        ));
    }
    let mut data = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut data)
        .map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let tensor = Tensor::from_raw_buffer(
        &data[start..start + bytes],
        info.dtype,
        info.layout.dims(),
        &Device::Cpu,
    )?;
    Ok(tensor)
}
