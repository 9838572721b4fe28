//! Fingerprints that tie checkpoints to the input and the model they were computed from.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use crate::error::{EngineError, Result};

/// Hex of a 128-bit hash.
fn hex(hash: u128) -> String {
    format!("{hash:032x}")
}

/// Streams (id, sequence) pairs into a fingerprint of the input's content (not its path, so a
/// moved file still resumes and an edited one does not).
#[derive(Default)]
pub struct InputFingerprint {
    hasher: Xxh3,
}

impl InputFingerprint {
    /// Starts an empty fingerprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one record.
    pub fn add(&mut self, id: &str, seq: &[u8]) {
        self.hasher.update(&(id.len() as u64).to_le_bytes());
        self.hasher.update(id.as_bytes());
        self.hasher.update(&(seq.len() as u64).to_le_bytes());
        self.hasher.update(seq);
    }

    /// The fingerprint as hex.
    pub fn finish(&self) -> String {
        hex(self.hasher.digest128())
    }
}

/// Fingerprint of a model directory (or single model file): the config and tokenizer bytes,
/// and each weights file's size with its first and last MiB. Hashing every byte of an 11 GB
/// checkpoint would take longer than a small run; a different model differs in these.
pub fn model_fingerprint(path: &Path) -> Result<String> {
    let mut hasher = Xxh3::new();
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| EngineError::file(path, "cannot list", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    matches!(
                        n,
                        "config.json"
                            | "tokenizer.json"
                            | "model.safetensors"
                            | "pytorch_model.bin"
                    )
                })
            })
            .collect();
        names.sort();
        names
    } else {
        vec![path.to_path_buf()]
    };
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        hasher.update(name.as_bytes());
        let mut f =
            std::fs::File::open(&file).map_err(|e| EngineError::file(&file, "cannot open", e))?;
        let len = f
            .metadata()
            .map_err(|e| EngineError::file(&file, "cannot stat", e))?
            .len();
        hasher.update(&len.to_le_bytes());
        const MIB: u64 = 1 << 20;
        let mut buf = Vec::new();
        if len <= 2 * MIB {
            f.read_to_end(&mut buf)
                .map_err(|e| EngineError::file(&file, "cannot read", e))?;
            hasher.update(&buf);
        } else {
            buf.resize(MIB as usize, 0);
            f.read_exact(&mut buf)
                .map_err(|e| EngineError::file(&file, "cannot read", e))?;
            hasher.update(&buf);
            f.seek(SeekFrom::End(-(MIB as i64)))
                .and_then(|_| f.read_exact(&mut buf))
                .map_err(|e| EngineError::file(&file, "cannot read", e))?;
            hasher.update(&buf);
        }
    }
    Ok(hex(hasher.digest128()))
}
