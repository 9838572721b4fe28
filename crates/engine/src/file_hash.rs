//! Whole-content hashes of model files, remembered across runs.
//!
//! A model file edited in place between a stop and a resume must be noticed wherever the edit
//! is, so the fingerprint covers every byte. Reading an 11 GB ESM-2 checkpoint takes seconds to
//! minutes, so each file's hash is cached under a key of its device, inode, size, modification
//! and status-change times (nanoseconds): a write to the file changes its ctime, which no tool
//! can set back, so a cached hash is never reused for changed content. One small file per entry,
//! written to a temporary name and renamed, so concurrent runs can share the cache; a cache that
//! cannot be read or written only costs the time of hashing again.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{xxh3_128, Xxh3};

use crate::error::{EngineError, Result};

/// Where file hashes are remembered (or nowhere).
#[derive(Debug, Clone, Default)]
pub struct HashCache {
    dir: Option<PathBuf>,
}

/// What identifies one version of a file without reading it.
fn version_key(path: &Path, meta: &std::fs::Metadata) -> u128 {
    let mut key = Vec::with_capacity(64 + path.as_os_str().len());
    for v in [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ] {
        key.extend_from_slice(&v.to_le_bytes());
    }
    key.extend_from_slice(path.as_os_str().as_encoded_bytes());
    xxh3_128(&key)
}

impl HashCache {
    /// A cache in `dir` (created when first written).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        HashCache {
            dir: Some(dir.into()),
        }
    }

    /// No cache: every file is read in full each time.
    pub fn none() -> Self {
        HashCache { dir: None }
    }

    /// The xxh3-128 of `file`'s whole content, as hex: from the cache when this version of the
    /// file was hashed before.
    pub fn hash(&self, file: &Path) -> Result<String> {
        let meta =
            std::fs::metadata(file).map_err(|e| EngineError::file(file, "cannot stat", e))?;
        let canonical = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        let entry = self
            .dir
            .as_ref()
            .map(|d| d.join(format!("{:032x}", version_key(&canonical, &meta))));
        if let Some(entry) = &entry {
            if let Ok(text) = std::fs::read_to_string(entry) {
                if let Some(hash) = text.trim().strip_prefix("xxh3-128 ") {
                    if hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Ok(hash.to_string());
                    }
                }
            }
        }
        let hash = hash_content(file)?;
        let after =
            std::fs::metadata(file).map_err(|e| EngineError::file(file, "cannot stat", e))?;
        if version_key(&canonical, &after) != version_key(&canonical, &meta) {
            return Err(EngineError::file(
                file,
                "cannot fingerprint",
                "the file changed while it was being read; wait until it is fully written \
                 (a download or copy still running?) and rerun",
            ));
        }
        if let Some(entry) = &entry {
            if let Err(e) = remember(entry, &hash) {
                tracing::debug!("could not cache the hash of {}: {e}", file.display());
            }
        }
        Ok(hash)
    }
}

/// Reads the whole file through xxh3-128.
fn hash_content(file: &Path) -> Result<String> {
    let mut f = std::fs::File::open(file).map_err(|e| EngineError::file(file, "cannot open", e))?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 8 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(EngineError::file(file, "cannot read", e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

/// Writes one cache entry under a temporary name, then renames it into place.
fn remember(entry: &Path, hash: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = entry.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    writeln!(temp, "xxh3-128 {hash}")?;
    temp.as_file().sync_all()?;
    temp.persist(entry).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_anywhere_changes_the_hash_and_the_cache_never_hides_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::in_dir(dir.path().join("cache"));
        let file = dir.path().join("weights.bin");
        let mut data = vec![7u8; 5 << 20];
        std::fs::write(&file, &data).unwrap();
        let first = cache.hash(&file).unwrap();
        assert_eq!(first, HashCache::none().hash(&file).unwrap());
        // Remembered: one entry.
        assert_eq!(
            std::fs::read_dir(dir.path().join("cache")).unwrap().count(),
            1
        );
        assert_eq!(cache.hash(&file).unwrap(), first);
        // One byte in the middle, same size, rewritten in place.
        data[(5 << 20) / 2] ^= 1;
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
            f.seek(SeekFrom::Start(((5 << 20) / 2) as u64)).unwrap();
            f.write_all(&data[(5 << 20) / 2..(5 << 20) / 2 + 1])
                .unwrap();
        }
        let second = cache.hash(&file).unwrap();
        assert_ne!(second, first);
        assert_eq!(second, HashCache::none().hash(&file).unwrap());
    }

    #[test]
    fn an_unwritable_cache_only_costs_time() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not_a_dir");
        std::fs::write(&blocker, b"").unwrap();
        let file = dir.path().join("w");
        std::fs::write(&file, b"abc").unwrap();
        let cache = HashCache::in_dir(blocker.join("cache"));
        assert_eq!(
            cache.hash(&file).unwrap(),
            HashCache::none().hash(&file).unwrap()
        );
        assert!(cache.hash(&dir.path().join("missing")).is_err());
    }
}
