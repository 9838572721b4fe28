//! Output files that appear whole or not at all.
//!
//! Data goes to a temporary file beside the target; `commit` flushes it, syncs it to disk, renames
//! it over the target and syncs the directory, so a crash never leaves a half-written output under
//! the real name. Dropping an uncommitted file removes the temporary.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::SeqError;

/// A file being written under a temporary name until [`AtomicFile::commit`].
pub struct AtomicFile {
    path: PathBuf,
    writer: BufWriter<NamedTempFile>,
}

impl AtomicFile {
    /// Starts writing `path`; the temporary lives in the same directory, so the rename is atomic.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, SeqError> {
        let path = path.as_ref().to_path_buf();
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if path.is_dir() {
            return Err(SeqError::io(
                &path,
                "cannot write",
                std::io::Error::other("it is a directory; give a file name"),
            ));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = temp_file_in(&dir, &format!(".{name}."))
            .map_err(|e| SeqError::io(&path, "cannot create", e))?;
        Ok(AtomicFile {
            path,
            writer: BufWriter::with_capacity(1 << 20, temp),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), SeqError> {
        self.writer
            .write_all(bytes)
            .map_err(|e| SeqError::io(&self.path, "cannot write", e))
    }

    /// Flushes, syncs and renames the file to its final name, then syncs the directory.
    pub fn commit(self) -> Result<PathBuf, SeqError> {
        let path = self.path;
        let temp = self
            .writer
            .into_inner()
            .map_err(|e| SeqError::io(&path, "cannot write", e.into_error()))?;
        persist_synced(temp, &path)?;
        Ok(path)
    }
}

/// Finishes a temporary file written by other means (an HDF5 library, say): syncs it, renames
/// it to `path` and syncs the directory, so `path` appears whole or not at all.
pub fn persist_synced(temp: NamedTempFile, path: &Path) -> Result<(), SeqError> {
    temp.as_file()
        .sync_all()
        .map_err(|e| SeqError::io(path, "cannot sync", e))?;
    temp.persist(path)
        .map_err(|e| SeqError::io(path, "cannot rename into place", e.error))?;
    sync_parent_dir(path)
}

/// A temporary file in `dir` (named `<prefix>XXXXXX.tmp`) for an output to be renamed into
/// place. Temporary files are private (0600) by default; outputs get the usual mode instead
/// (0666 less the umask).
pub fn temp_file_in(dir: &Path, prefix: &str) -> std::io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Syncs the directory holding `path`, so that a rename in it survives a power loss.
pub fn sync_parent_dir(path: &Path) -> Result<(), SeqError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Directories can be opened read-only and fsynced on Unix; elsewhere this is best effort.
    match std::fs::File::open(dir) {
        Ok(handle) => match handle.sync_all() {
            Ok(()) => Ok(()),
            Err(e) if cfg!(unix) => Err(SeqError::io(dir, "cannot sync directory", e)),
            Err(_) => Ok(()),
        },
        Err(e) if cfg!(unix) => Err(SeqError::io(dir, "cannot open directory", e)),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.fa");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b">a\nACGT\n").unwrap();
        assert!(!target.exists());
        file.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b">a\nACGT\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_ne!(mode & 0o044, 0, "outputs are readable by others, not 0600");
        }
    }

    #[test]
    fn dropped_files_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.fa");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"partial").unwrap();
        drop(file);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let err = AtomicFile::create("/nonexistent-dir-virnucpro/x.fa")
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("/nonexistent-dir-virnucpro/x.fa"),
            "{err}"
        );
    }
}
