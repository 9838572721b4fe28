//! Fingerprints that tie checkpoints to the input and the model they were computed from.

use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use crate::error::{EngineError, Result};
pub use crate::file_hash::HashCache;

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

/// Fingerprint of a model directory (or single model file): the name, size and whole-content
/// hash of the config, tokenizer and weights files, so an edit anywhere in any of them is a
/// different model. Content hashes come from `cache` when the same version of a file was hashed
/// before (see [`HashCache`]); the first hash of an 11 GB ESM-2 reads it once, at disk speed.
pub fn model_fingerprint(path: &Path, cache: &HashCache) -> Result<String> {
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
        let len = std::fs::metadata(&file)
            .map_err(|e| EngineError::file(&file, "cannot stat", e))?
            .len();
        hasher.update(&len.to_le_bytes());
        hasher.update(cache.hash(&file)?.as_bytes());
    }
    Ok(hex(hasher.digest128()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weights_file_edited_in_the_middle_is_another_model() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join("config.json"), b"{}").unwrap();
        let weights = model.join("model.safetensors");
        let mut bytes: Vec<u8> = (0..(6u32 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&weights, &bytes).unwrap();
        let cache = HashCache::in_dir(dir.path().join("cache"));
        let before = model_fingerprint(&model, &cache).unwrap();
        assert_eq!(before, model_fingerprint(&model, &cache).unwrap());
        // 3 MiB in: outside the first and last MiB, same size.
        bytes[3 << 20] ^= 0x40;
        std::fs::write(&weights, &bytes).unwrap();
        let after = model_fingerprint(&model, &cache).unwrap();
        assert_ne!(before, after);
        assert_eq!(
            after,
            model_fingerprint(&model, &HashCache::none()).unwrap()
        );
        // Files that are not the model's do not count.
        std::fs::write(model.join("README.md"), b"notes").unwrap();
        assert_eq!(after, model_fingerprint(&model, &cache).unwrap());
    }
}
