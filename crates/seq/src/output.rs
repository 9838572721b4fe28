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

/// Fails now, naming `path`, if an [`AtomicFile`] could not be created there later (a missing
/// or read-only directory, a directory of that name), so that a long run does not end in that
/// error after writing everything else. Leaves nothing behind.
pub fn check_writable(path: &Path) -> Result<(), SeqError> {
    AtomicFile::create(path).map(drop)
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

/// Random characters in a temporary's name (`.NAME.XXXXXX.tmp`).
const TEMP_RANDOM_CHARS: usize = 6;
/// Suffix of every temporary this module names.
const TEMP_SUFFIX: &str = ".tmp";

/// A temporary file in `dir` (named `<prefix>XXXXXX.tmp`) for an output to be renamed into
/// place. Temporary files are private (0600) by default; outputs get the usual mode instead
/// (0666 less the umask).
pub fn temp_file_in(dir: &Path, prefix: &str) -> std::io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(prefix)
        .rand_bytes(TEMP_RANDOM_CHARS)
        .suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Whether `file_name` is a temporary [`AtomicFile`] names for an output called `output` (any
/// output when `None`): `.OUTPUT.XXXXXX.tmp`, six letters or digits.
pub fn is_orphaned_temp(file_name: &str, output: Option<&str>) -> bool {
    let Some(inner) = file_name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
    else {
        return false;
    };
    let Some((name, random)) = inner.rsplit_once('.') else {
        return false;
    };
    !name.is_empty()
        && output.is_none_or(|o| o == name)
        && random.len() == TEMP_RANDOM_CHARS
        && random.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Removes from `dir` the temporaries of outputs that a killed run left (see
/// [`is_orphaned_temp`]; only those of `output` when given), and returns what it removed.
///
/// Call it only while holding the lock on the directory (or on what writes `output`): a
/// running writer's temporary looks the same. A missing directory has nothing to remove.
pub fn remove_orphaned_temps(dir: &Path, output: Option<&str>) -> Result<Vec<PathBuf>, SeqError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SeqError::io(dir, "cannot list", e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SeqError::io(dir, "cannot list", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_orphaned_temp(name, output) {
            continue;
        }
        let path = entry.path();
        // Only plain files: a directory or a link of that name is not ours to follow.
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            _ => continue,
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SeqError::io(&path, "cannot remove a leftover temporary", e)),
        }
    }
    if !removed.is_empty() {
        sync_parent_dir(&dir.join("."))?;
    }
    removed.sort();
    Ok(removed)
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
    fn orphaned_temps_are_recognised_by_the_naming_scheme_only() {
        assert!(is_orphaned_temp(".prediction_results.txt.a1B2c3.tmp", None));
        assert!(is_orphaned_temp(".run.json.ZZZZZZ.tmp", Some("run.json")));
        assert!(!is_orphaned_temp(
            ".run.json.ZZZZZZ.tmp",
            Some("summary.json")
        ));
        for other in [
            "prediction_results.txt",
            ".prediction_results.txt.tmp",
            ".x.abc.tmp",
            ".x.abcdefg.tmp",
            ".x.ab-cd_.tmp",
            "..abcdef.tmp",
            ".virnucpro.lock",
            "x.abcdef.tmp",
        ] {
            assert!(!is_orphaned_temp(other, None), "{other}");
        }
    }

    #[test]
    fn a_killed_writers_temporaries_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = AtomicFile::create(dir.path().join("out.fa")).unwrap();
        file.write_all(b"partial").unwrap();
        let temp = file.writer.get_ref().path().to_path_buf();
        // A kill -9 runs no destructor: the temporary stays behind.
        std::mem::forget(file);
        std::fs::write(dir.path().join("out.fa"), b"kept").unwrap();
        std::fs::write(dir.path().join(".notes.tmp"), b"kept").unwrap();
        std::fs::create_dir(dir.path().join(".sub.abcdef.tmp")).unwrap();
        assert_eq!(
            remove_orphaned_temps(dir.path(), Some("other.fa")).unwrap(),
            Vec::<PathBuf>::new()
        );
        assert_eq!(remove_orphaned_temps(dir.path(), None).unwrap(), vec![temp]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".notes.tmp", ".sub.abcdef.tmp", "out.fa"]);
        assert!(remove_orphaned_temps(&dir.path().join("absent"), None)
            .unwrap()
            .is_empty());
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
