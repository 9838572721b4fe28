//! HDF5 files written whole or not at all, and ids as HDF5 strings: the one place the engine
//! (checkpoints, `embed`'s output) and the prediction flow (`embeddings.h5`) write HDF5.
//!
//! A file is built under a temporary name in its final directory. [`AtomicH5::flush`] writes
//! HDF5's caches out while the caller's dataset handles are still open, so a full disk is an
//! error there (a handle closed first would write its cache in a drop, where the error is lost
//! and the file left with holes). [`AtomicH5::commit`] closes the file, syncs it, lets the
//! caller verify the complete file, then renames it into place and syncs the directory. Plain
//! text outputs use [`virnucpro_seq::AtomicFile`], whose sync-and-rename this builds on.

use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use tempfile::NamedTempFile;

use crate::error::{EngineError, Result};

/// An HDF5 file being written under a temporary name until [`AtomicH5::commit`]; dropped
/// without a commit, it leaves nothing behind.
pub struct AtomicH5 {
    path: PathBuf,
    temp: NamedTempFile,
    file: hdf5::File,
}

impl AtomicH5 {
    /// Starts `path` (its directory is created if needed).
    pub fn create(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(|e| EngineError::file(dir, "cannot create", e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = virnucpro_seq::output::temp_file_in(dir, &format!(".{name}."))
            .map_err(|e| EngineError::file(dir, "cannot create a temporary file in", e))?;
        let file = hdf5::File::create(temp.path())
            .map_err(|e| EngineError::file(path, "cannot create", e))?;
        Ok(AtomicH5 {
            path: path.to_path_buf(),
            temp,
            file,
        })
    }

    /// The open file, to create datasets and attributes in.
    pub fn file(&self) -> &hdf5::File {
        &self.file
    }

    /// The final path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes HDF5's caches out now, while the caller's dataset handles are open, so that a
    /// full disk is reported here. Call it before dropping the handles and committing.
    pub fn flush(&self) -> Result<()> {
        self.file
            .flush()
            .map_err(|e| EngineError::file(&self.path, "cannot write", e))
    }

    /// Flushes and closes the file, syncs it, runs `verify` on the complete temporary file,
    /// and only then renames it to its final name and syncs the directory. Every dataset
    /// handle must have been dropped.
    pub fn commit(self, verify: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let AtomicH5 { path, temp, file } = self;
        file.flush()
            .map_err(|e| EngineError::file(&path, "cannot write", e))?;
        file.close()
            .map_err(|e| EngineError::file(&path, "cannot close", e))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| EngineError::file(&path, "cannot sync", e))?;
        verify(temp.path())?;
        virnucpro_seq::output::persist_synced(temp, &path)?;
        Ok(())
    }
}

/// `id` as an HDF5 string. An id HDF5 cannot store (one holding a NUL byte; the FASTA reader
/// refuses those, so this guards other callers) is an error naming it, never a blank.
pub fn id_string(id: &str, path: &Path) -> Result<VarLenUnicode> {
    id.parse().map_err(|_| {
        EngineError::file(
            path,
            "cannot store an id",
            format!("'{}' holds a NUL byte", id.escape_debug()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_only_when_committed_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.h5");
        let h5 = AtomicH5::create(&path).unwrap();
        h5.file()
            .new_dataset_builder()
            .with_data(&[1u32, 2, 3])
            .create("x")
            .unwrap();
        h5.flush().unwrap();
        assert!(!path.exists());
        h5.commit(|_| Ok(())).unwrap();
        let back: Vec<u32> = hdf5::File::open(&path)
            .unwrap()
            .dataset("x")
            .unwrap()
            .read_raw()
            .unwrap();
        assert_eq!(back, [1, 2, 3]);
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );

        // A failed verification leaves nothing under the final name, nor a temporary file.
        let refused = dir.path().join("refused.h5");
        let h5 = AtomicH5::create(&refused).unwrap();
        let err = h5
            .commit(|_| Err(EngineError::Integrity("checked and found wrong".into())))
            .unwrap_err();
        assert!(err.to_string().contains("found wrong"));
        assert!(!refused.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_id_with_a_nul_byte_is_an_error_not_a_blank() {
        let path = Path::new("x.h5");
        assert_eq!(id_string("seq_1", path).unwrap().as_str(), "seq_1");
        let err = id_string("a\0b", path).unwrap_err().to_string();
        assert!(err.contains("NUL") && err.contains("x.h5"), "{err}");
    }
}
