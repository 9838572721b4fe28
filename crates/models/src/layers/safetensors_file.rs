//! A `model.safetensors` read one tensor at a time.
//!
//! Mapping the whole file and copying tensors out of it (candle's `MmapedSafetensors`) keeps
//! every page of the mapping resident while the copies are made: the process then holds the
//! weights twice at its peak (ESM-2 3B: 21 GB for 11 GB of weights). Here only the header is
//! read through a mapping, which is dropped at once; each tensor is then read from its offset:
//! an f32 tensor straight into its own storage, 1 MiB at a time; any other dtype into a buffer of
//! its own size, converted to the dtype and device asked for, and the buffer freed. At the peak
//! the process holds the weights plus at most one tensor in flight.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use safetensors::Dtype;

use crate::error::{ModelError, Result};

/// Bytes read from the file at a time when a tensor is converted on the way in (1 MiB, a
/// multiple of every element size).
const READ_CHUNK: usize = 1 << 20;

/// Where one tensor lies in the file.
#[derive(Debug, Clone)]
struct Entry {
    dtype: DType,
    shape: Vec<usize>,
    /// Byte offset in the file.
    offset: u64,
    /// Bytes.
    len: usize,
}

/// The tensor table of a safetensors file and the open file, for reads by name. A
/// [`SimpleBackend`], so a `VarBuilder` can read the weights as the model asks for them.
pub struct SafetensorsFile {
    path: PathBuf,
    file: Mutex<File>,
    tensors: HashMap<String, Entry>,
}

impl SafetensorsFile {
    /// Opens `path` and reads its header (checked against the file's size, so a truncated file
    /// is an error here, before any tensor is read).
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // The header is parsed from a read-only mapping, which `read_metadata` needs to check
        // the offsets against the file's length; it touches only the header's pages and is
        // unmapped before any tensor is read.
        // SAFETY: a read-only mapping of a model file; a concurrent writer could change the
        // bytes under us, the usual contract of model files.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let (header_len, metadata) =
            safetensors::SafeTensors::read_metadata(&mmap).map_err(|e| {
                ModelError::weights(
                    path,
                    format!("not a valid safetensors file ({e}); is it truncated?"),
                )
            })?;
        drop(mmap);
        let data_start = 8 + header_len as u64;
        let mut tensors = HashMap::new();
        for (name, info) in metadata.tensors() {
            let dtype = candle_dtype(info.dtype).ok_or_else(|| {
                ModelError::weights(
                    path,
                    format!(
                        "tensor '{name}' is stored as {:?}, which cannot be loaded",
                        info.dtype
                    ),
                )
            })?;
            let (begin, end) = info.data_offsets;
            tensors.insert(
                name,
                Entry {
                    dtype,
                    shape: info.shape.clone(),
                    offset: data_start + begin as u64,
                    len: end - begin,
                },
            );
        }
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            tensors,
        })
    }

    /// The names of the tensors in the file.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Reads tensor `name` onto `device`, in the dtype it is stored in.
    fn read(&self, name: &str, device: &Device) -> candle_core::Result<Tensor> {
        use std::io::{Read, Seek, SeekFrom};
        let entry = self.tensors.get(name).ok_or_else(|| {
            candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            }
            .bt()
        })?;
        let mut file = self
            .file
            .lock()
            .map_err(|_| candle_core::Error::Msg("weights file lock poisoned".into()))?;
        let cannot_read = |e: std::io::Error| {
            candle_core::Error::Msg(format!(
                "{}: cannot read tensor '{name}': {e}",
                self.path.display()
            ))
        };
        file.seek(SeekFrom::Start(entry.offset))
            .map_err(cannot_read)?;
        if entry.dtype == DType::F32 {
            // Straight into the tensor's own storage, a chunk at a time: no second copy of the
            // tensor is ever held, not even for a moment.
            let mut values: Vec<f32> = Vec::with_capacity(entry.len / 4);
            let mut chunk = vec![0u8; READ_CHUNK.min(entry.len)];
            let mut left = entry.len;
            while left > 0 {
                let part = &mut chunk[..READ_CHUNK.min(left)];
                file.read_exact(part).map_err(cannot_read)?;
                values.extend(
                    part.chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
                left -= part.len();
            }
            return Tensor::from_vec(values, entry.shape.as_slice(), device);
        }
        let mut bytes = vec![0u8; entry.len];
        file.read_exact(&mut bytes).map_err(cannot_read)?;
        Tensor::from_raw_buffer(&bytes, entry.dtype, &entry.shape, device)
    }
}

impl SimpleBackend for SafetensorsFile {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Some(entry) = self.tensors.get(name) {
            if entry.shape.as_slice() != shape.dims() {
                return Err(candle_core::Error::UnexpectedShape {
                    msg: format!("shape mismatch for {name}"),
                    expected: shape,
                    got: entry.shape.clone().into(),
                }
                .bt());
            }
        }
        self.read(name, device)?.to_dtype(dtype)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.read(name, device)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// The candle dtype of a stored dtype, where candle has one.
fn candle_dtype(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::U8 => DType::U8,
        Dtype::U32 => DType::U32,
        Dtype::I16 => DType::I16,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, tensors: &[(&str, Tensor)]) {
        let map: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect();
        candle_core::safetensors::save(&map, path).unwrap();
    }

    #[test]
    fn tensors_read_back_equal_in_any_dtype_and_shapes_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let a = Tensor::arange(0f32, 12., &Device::Cpu)
            .unwrap()
            .reshape((3, 4))
            .unwrap();
        let b = Tensor::new(&[1.5f32, -2.25], &Device::Cpu).unwrap();
        write(&path, &[("a.weight", a.clone()), ("b", b.clone())]);
        let file = SafetensorsFile::open(&path).unwrap();
        let mut names: Vec<&str> = file.names().collect();
        names.sort();
        assert_eq!(names, ["a.weight", "b"]);
        let vb = candle_nn::VarBuilder::from_backend(Box::new(file), DType::F32, Device::Cpu);
        let got = vb.get((3, 4), "a.weight").unwrap();
        assert_eq!(got.to_vec2::<f32>().unwrap(), a.to_vec2::<f32>().unwrap());
        let half = vb.to_dtype(DType::F16).get(2, "b").unwrap();
        assert_eq!(half.dtype(), DType::F16);
        assert_eq!(
            half.to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap(),
            [1.5, -2.25]
        );
        assert!(vb.get((4, 3), "a.weight").is_err(), "wrong shape accepted");
        assert!(vb.get(2, "missing").is_err());
    }

    #[test]
    fn a_truncated_file_is_refused_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let a = Tensor::zeros((64, 64), DType::F32, &Device::Cpu).unwrap();
        write(&path, &[("a", a)]);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 100).unwrap();
        let err = SafetensorsFile::open(&path)
            .err()
            .expect("truncated file opened");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
