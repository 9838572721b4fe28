//! Finding and opening the weights of a model directory.
//!
//! `model.safetensors` is read one tensor at a time ([`SafetensorsFile`]): each is copied once,
//! to the device and dtype asked for, and nothing holds a second copy of the weights, not even
//! the page cache's pages mapped into the process; `pytorch_model.bin` (a torch zip archive of a state
//! dict, what the DNABERT-S hub repository ships) is read through candle's pickle reader after
//! its tensor table has been checked against the archive, so a corrupt file cannot trigger a huge
//! allocation. Key prefixes (`bert.`, `esm.`) are detected from the names.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::safetensors_file::SafetensorsFile;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::error::{ModelError, Result};

/// Opened weights: a `VarBuilder` rooted at the detected prefix, and the file for messages.
pub struct Weights {
    /// Tensors by name, below the detected prefix.
    pub vb: VarBuilder<'static>,
    /// The weights file.
    pub path: PathBuf,
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
            let file = SafetensorsFile::open(&safetensors)?;
            let names = file.names().map(str::to_string).collect::<HashSet<_>>();
            let vb = VarBuilder::from_backend(Box::new(file), dtype, device.clone());
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
        let prefix: &str = prefixes
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
            })?;
        let vb = if prefix.is_empty() { vb } else { vb.pp(prefix) };
        Ok(Weights { vb, path })
    }

    /// Wraps a candle error raised while reading tensors into one that names the file.
    pub fn error(&self, e: candle_core::Error) -> ModelError {
        ModelError::weights(&self.path, e.to_string())
    }
}

/// A `VarBuilder` that creates every weight asked of it with random values (candle's default
/// initialisation of each layer), on `device`. For benchmarks in the published shapes.
///
/// The weights are plain tensors, as loaded weights are, not trainable `Var`s (what
/// `VarBuilder::from_varmap` gives): every result computed from a `Var` keeps its inputs for
/// back-propagation, so a forward pass would hold all its activations, every layer's, until
/// its output is dropped (ESM-2 150M at 4,096 tokens: 7 GB and a third of its time in page
/// faults), and a benchmark would measure that instead of inference.
pub fn random(dtype: DType, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_backend(Box::new(RandomWeights), dtype, device.clone())
}

/// Creates each tensor asked of it from the layer's initialisation, detached.
struct RandomWeights;

impl candle_nn::var_builder::SimpleBackend for RandomWeights {
    fn get(
        &self,
        shape: candle_core::Shape,
        _: &str,
        init: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        Ok(init.var(shape, dtype, device)?.as_detached_tensor())
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random weights need the shape of '{name}'")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
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

/// Tensors by name and shape, in the order a model reads them.
pub type TensorLayout = Vec<(String, Vec<usize>)>;

/// The tensors, by name and shape, that `build` asks its `VarBuilder` for, without holding any
/// of them: each request is answered with a zero broadcast to the shape asked (no memory per
/// element). Used to write model files of a chosen shape in the layout the loaders read.
pub fn layout<T>(build: impl FnOnce(&VarBuilder<'static>) -> Result<T>) -> Result<TensorLayout> {
    let recorder = Recorder::default();
    let seen = recorder.seen.clone();
    let vb = VarBuilder::from_backend(Box::new(recorder), DType::F32, Device::Cpu);
    build(&vb)?;
    let seen = seen
        .lock()
        .map_err(|_| ModelError::Input("layout lock poisoned".into()))?;
    Ok(seen.clone())
}

/// A `VarBuilder` backend that notes each tensor asked for and answers with a broadcast zero.
#[derive(Default)]
struct Recorder {
    seen: std::sync::Arc<std::sync::Mutex<TensorLayout>>,
}

impl candle_nn::var_builder::SimpleBackend for Recorder {
    fn get(
        &self,
        shape: candle_core::Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Ok(mut seen) = self.seen.lock() {
            if !seen.iter().any(|(n, _)| n == name) {
                seen.push((name.to_string(), shape.dims().to_vec()));
            }
        }
        Tensor::zeros((), dtype, device)?.broadcast_as(shape)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("the layout of '{name}' cannot be recorded without its shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_lists_every_tensor_a_model_reads_once() {
        let layout = layout(|vb| {
            candle_nn::linear(3, 2, vb.pp("a"))?;
            candle_nn::layer_norm(2, 1e-5, vb.pp("b"))?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            layout,
            [
                ("a.weight".to_string(), vec![2, 3]),
                ("a.bias".to_string(), vec![2]),
                ("b.weight".to_string(), vec![2]),
                ("b.bias".to_string(), vec![2]),
            ]
        );
    }
}
