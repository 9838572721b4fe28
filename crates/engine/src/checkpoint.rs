//! Checkpoint files: HDF5, one per batch boundary, written atomically, validated on resume.
//!
//! Layout: `<checkpoints>/worker_<rank>/batch_<NNNNN>.h5` (one folder per model worker; folders
//! named `shard_<rank>` by earlier versions are read too) with datasets `ids` (UTF-8 strings),
//! `indices` (u64: each item's position in the input, so the final output can be put back in
//! input order without re-reading the input), `item_hashes` (u64: each item's content hash, so
//! a resume can tell that the input still holds that item there) and the rows (f32
//! `[n, width]`: `embeddings` for `embed`, `scores` for `predict`), and attributes `batch_idx`,
//! `num_sequences`, `timestamp` (UTC ISO 8601), `trigger_reason`, `model`, `model_fingerprint`,
//! `input_fingerprint` (of the items this file holds), `dtype`, `packing_enabled`,
//! `gpu_memory_allocated_bytes`, `gpu_memory_peak_bytes`, and `content_checksum` (XXH3-128 of
//! the ids, indices, hashes and row bytes and of the `batch_idx`, `model_fingerprint` and
//! `input_fingerprint` attributes), so that a garbled file is caught even where HDF5 would read
//! it, and a flipped byte in a fingerprint is damage, not "another model". A file holds only items computed since the previous checkpoint, never
//! earlier ones, sorted by input position.

use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use xxhash_rust::xxh3::Xxh3;

use crate::error::{EngineError, Result};
use crate::h5_file::{id_string, AtomicH5};

/// Why a checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `--checkpoint-every-seqs` sequences since the last one.
    Sequences,
    /// `--checkpoint-every-secs` seconds since the last one.
    Time,
    /// The end of the input.
    Final,
    /// SIGINT or SIGTERM.
    Signal,
}

impl Trigger {
    /// The `trigger_reason` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Sequences => "sequences",
            Trigger::Time => "time",
            Trigger::Final => "final",
            Trigger::Signal => "signal",
        }
    }
}

/// Attributes of a checkpoint (and of the final output).
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Batch number within the shard.
    pub batch_idx: u64,
    /// Why it was written.
    pub trigger: Trigger,
    /// `esm2` or `dnabert`.
    pub model: String,
    /// See [`crate::fingerprint::model_fingerprint`].
    pub model_fingerprint: String,
    /// See [`crate::fingerprint::InputFingerprint`].
    pub input_fingerprint: String,
    /// Compute precision as [`virnucpro_models::Precision::dtype_name`] writes it (`float32`,
    /// `float16`, `bfloat16`).
    pub dtype: String,
    /// Whether batches were packed (no padding).
    pub packing_enabled: bool,
    /// Name of the dataset holding the rows (`embeddings`, `scores`).
    pub output: String,
    /// Device memory in use when written (0 on CPU).
    pub gpu_memory_allocated_bytes: u64,
    /// Peak device memory of the worker (0 on CPU).
    pub gpu_memory_peak_bytes: u64,
}

/// Finished items: ids, input positions, content hashes and rows of `width` floats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Item ids.
    pub ids: Vec<String>,
    /// Position of each item in the input.
    pub indices: Vec<u64>,
    /// Content hash of each item ([`crate::model::Item::content_hash`]).
    pub hashes: Vec<u64>,
    /// `ids.len() * width` floats, row-major: embeddings, or a prediction's scores.
    pub values: Vec<f32>,
}

impl Rows {
    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// XXH3-128 of the ids, indices, hashes and row bytes, as hex.
    pub fn checksum(&self) -> String {
        let mut h = Xxh3::new();
        for id in &self.ids {
            h.update(&(id.len() as u64).to_le_bytes());
            h.update(id.as_bytes());
        }
        for i in &self.indices {
            h.update(&i.to_le_bytes());
        }
        for i in &self.hashes {
            h.update(&i.to_le_bytes());
        }
        for v in &self.values {
            h.update(&v.to_le_bytes());
        }
        format!("{:032x}", h.digest128())
    }

    /// What `content_checksum` holds: [`Rows::checksum`] and the attributes that say what the
    /// rows are of.
    pub fn content_checksum(&self, batch_idx: u64, model: &str, input: &str) -> String {
        let mut h = Xxh3::new();
        h.update(self.checksum().as_bytes());
        h.update(&batch_idx.to_le_bytes());
        for s in [model, input] {
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        format!("{:032x}", h.digest128())
    }

    /// Fingerprint of the items these rows are of (their positions and content hashes).
    pub fn input_fingerprint(&self) -> String {
        let mut h = Xxh3::new();
        for (i, hash) in self.indices.iter().zip(&self.hashes) {
            h.update(&i.to_le_bytes());
            h.update(&hash.to_le_bytes());
        }
        format!("{:032x}", h.digest128())
    }

    /// Appends `other`.
    pub fn append(&mut self, other: Rows) {
        self.ids.extend(other.ids);
        self.indices.extend(other.indices);
        self.hashes.extend(other.hashes);
        self.values.extend(other.values);
    }

    /// Sorts the rows by input position (rows are `width` floats).
    pub fn sort_by_index(&mut self, width: usize) {
        if self.indices.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&r| self.indices[r]);
        let mut sorted = Rows::default();
        for r in order {
            sorted.ids.push(std::mem::take(&mut self.ids[r]));
            sorted.indices.push(self.indices[r]);
            sorted.hashes.push(self.hashes[r]);
            sorted
                .values
                .extend_from_slice(&self.values[r * width..(r + 1) * width]);
        }
        *self = sorted;
    }
}

/// The folder of worker `rank`'s checkpoints is `worker_<rank>`.
const WORKER_FOLDER: &str = "worker_";

/// What versions before 0.1 named the folder (when "shard" meant a worker, before `--shard`):
/// still read, so their runs resume.
const OLD_WORKER_FOLDER: &str = "shard_";

/// The path of checkpoint `batch_idx` of worker `rank`.
pub fn path(checkpoints: &Path, rank: usize, batch_idx: u64) -> PathBuf {
    checkpoints
        .join(format!("{WORKER_FOLDER}{rank}"))
        .join(format!("batch_{batch_idx:05}.h5"))
}

/// The worker rank of a checkpoint folder's name (`worker_<rank>`, or the older `shard_<rank>`).
fn folder_rank(name: &str) -> Option<usize> {
    name.strip_prefix(WORKER_FOLDER)
        .or_else(|| name.strip_prefix(OLD_WORKER_FOLDER))?
        .parse()
        .ok()
}

/// The worker rank a checkpoint path belongs to (its `worker_<rank>` folder).
pub fn rank_of(path: &Path) -> Option<usize> {
    folder_rank(path.parent()?.file_name()?.to_str()?)
}

fn h5err<'a>(path: &'a Path, action: &'static str) -> impl Fn(hdf5::Error) -> EngineError + 'a {
    move |e| EngineError::file(path, action, e)
}

/// An attribute string this crate makes (hex fingerprints and checksums, model and dtype
/// names), none of which can hold a NUL byte. Ids go through [`id_string`] instead.
fn unicode(s: &str) -> VarLenUnicode {
    s.parse().unwrap_or_default()
}

/// Writes `rows` with `meta` to `path` atomically ([`AtomicH5`]: a temporary file in the same
/// directory, fsync, rename, fsync of the directory).
pub fn write(path: &Path, rows: &Rows, dim: usize, meta: &Metadata) -> Result<()> {
    if rows.values.len() != rows.len() * dim
        || rows.indices.len() != rows.len()
        || rows.hashes.len() != rows.len()
    {
        return Err(EngineError::InvalidRequest(format!(
            "refusing to write {}: {} ids, {} indices, {} hashes, {} floats for width {dim}",
            path.display(),
            rows.len(),
            rows.indices.len(),
            rows.hashes.len(),
            rows.values.len()
        )));
    }
    let ids = rows
        .ids
        .iter()
        .map(|id| id_string(id, path))
        .collect::<Result<Vec<VarLenUnicode>>>()?;
    let out = AtomicH5::create(path)?;
    write_contents(out.file(), &ids, rows, dim, meta).map_err(h5err(path, "cannot write"))?;
    // No dataset handle outlives `write_contents`, so the commit's flush and close report
    // every error.
    out.commit(|_| Ok(()))
}

fn write_contents(
    file: &hdf5::File,
    ids: &[VarLenUnicode],
    rows: &Rows,
    dim: usize,
    meta: &Metadata,
) -> hdf5::Result<()> {
    file.new_dataset_builder().with_data(ids).create("ids")?;
    file.new_dataset_builder()
        .with_data(rows.indices.as_slice())
        .create("indices")?;
    file.new_dataset_builder()
        .with_data(rows.hashes.as_slice())
        .create("item_hashes")?;
    let view = ndarray::ArrayView2::from_shape((rows.len(), dim), &rows.values)
        .map_err(|e| hdf5::Error::from(e.to_string().as_str()))?;
    file.new_dataset_builder()
        .with_data(view)
        .create(meta.output.as_str())?;
    write_attributes(file, meta, rows.len() as u64)?;
    file.new_attr::<VarLenUnicode>()
        .create("content_checksum")?
        .write_scalar(&unicode(&rows.content_checksum(
            meta.batch_idx,
            &meta.model_fingerprint,
            &meta.input_fingerprint,
        )))
}

/// Writes the attribute set (shared by checkpoints and the final output).
pub fn write_attributes(
    file: &hdf5::File,
    meta: &Metadata,
    num_sequences: u64,
) -> hdf5::Result<()> {
    let u64_attr = |name: &str, v: u64| file.new_attr::<u64>().create(name)?.write_scalar(&v);
    let str_attr = |name: &str, v: &str| {
        file.new_attr::<VarLenUnicode>()
            .create(name)?
            .write_scalar(&unicode(v))
    };
    u64_attr("batch_idx", meta.batch_idx)?;
    u64_attr("num_sequences", num_sequences)?;
    str_attr(
        "timestamp",
        &humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    )?;
    str_attr("trigger_reason", meta.trigger.as_str())?;
    str_attr("model", &meta.model)?;
    str_attr("model_fingerprint", &meta.model_fingerprint)?;
    str_attr("input_fingerprint", &meta.input_fingerprint)?;
    str_attr("dtype", &meta.dtype)?;
    file.new_attr::<bool>()
        .create("packing_enabled")?
        .write_scalar(&meta.packing_enabled)?;
    u64_attr(
        "gpu_memory_allocated_bytes",
        meta.gpu_memory_allocated_bytes,
    )?;
    u64_attr("gpu_memory_peak_bytes", meta.gpu_memory_peak_bytes)?;
    Ok(())
}

/// A checkpoint read back and checked.
#[derive(Debug)]
pub struct Loaded {
    /// Its batch number.
    pub batch_idx: u64,
    /// Its model fingerprint.
    pub model_fingerprint: String,
    /// Its input fingerprint.
    pub input_fingerprint: String,
    /// Its rows.
    pub rows: Rows,
}

/// The datasets that can hold a checkpoint's rows.
const OUTPUTS: [&str; 2] = ["embeddings", "scores"];

/// What makes a checkpoint unusable: a torn or damaged file, found by [`read`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// Not an HDF5 file (torn while written, or overwritten).
    #[error("cannot open as HDF5 ({0})")]
    NotHdf5(String),
    /// An attribute or dataset is missing or unreadable.
    #[error("{part}: {reason}")]
    Unreadable {
        /// `attribute NAME`, `dataset NAME` or `rows`.
        part: String,
        /// The HDF5 library's reason.
        reason: String,
    },
    /// Neither rows dataset is there.
    #[error("no rows dataset ({})", OUTPUTS.join(" or "))]
    NoRows,
    /// The rows are not `ids x width`.
    #[error("rows have shape {found:?}, expected [{ids}, {width}]")]
    Shape {
        /// The rows dataset's shape.
        found: Vec<usize>,
        /// Ids in the file.
        ids: usize,
        /// Floats a row should hold.
        width: usize,
    },
    /// Ids, positions and hashes disagree in number.
    #[error("{ids} ids but {indices} indices and {hashes} hashes")]
    Counts {
        /// Ids.
        ids: usize,
        /// Input positions.
        indices: usize,
        /// Item hashes.
        hashes: usize,
    },
    /// A row holds NaN or infinity.
    #[error("rows hold NaN or infinity")]
    NotFinite,
    /// The content checksum does not match the content.
    #[error("content checksum mismatch: the file was altered or damaged")]
    Checksum,
}

/// The rows dataset of an open checkpoint.
fn values_dataset(file: &hdf5::File) -> std::result::Result<hdf5::Dataset, Damage> {
    OUTPUTS
        .iter()
        .find_map(|name| file.dataset(name).ok())
        .ok_or(Damage::NoRows)
}

/// Reads a checkpoint and checks it: every dataset present, as many ids as indices as hashes
/// as rows, rows of `dim` floats, no NaN or infinity, the content checksum. [`Damage`] marks a
/// torn or corrupt file.
pub fn read(path: &Path, dim: usize) -> std::result::Result<Loaded, Damage> {
    let file = hdf5::File::open(path).map_err(|e| Damage::NotHdf5(e.to_string()))?;
    let unreadable = |part: &str, e: hdf5::Error| Damage::Unreadable {
        part: part.to_string(),
        reason: e.to_string(),
    };
    let attr_str = |name: &str| -> std::result::Result<String, Damage> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|v| v.as_str().to_string())
            .map_err(|e| unreadable(&format!("attribute {name}"), e))
    };
    let batch_idx = file
        .attr("batch_idx")
        .and_then(|a| a.read_scalar::<u64>())
        .map_err(|e| unreadable("attribute batch_idx", e))?;
    let model_fingerprint = attr_str("model_fingerprint")?;
    let input_fingerprint = attr_str("input_fingerprint")?;
    let ids: Vec<VarLenUnicode> = file
        .dataset("ids")
        .and_then(|d| d.read_raw())
        .map_err(|e| unreadable("dataset ids", e))?;
    let indices: Vec<u64> = file
        .dataset("indices")
        .and_then(|d| d.read_raw())
        .map_err(|e| unreadable("dataset indices", e))?;
    let hashes: Vec<u64> = file
        .dataset("item_hashes")
        .and_then(|d| d.read_raw())
        .map_err(|e| unreadable("dataset item_hashes", e))?;
    let emb = values_dataset(&file)?;
    let shape = emb.shape();
    if shape != [ids.len(), dim] {
        return Err(Damage::Shape {
            found: shape,
            ids: ids.len(),
            width: dim,
        });
    }
    if indices.len() != ids.len() || hashes.len() != ids.len() {
        return Err(Damage::Counts {
            ids: ids.len(),
            indices: indices.len(),
            hashes: hashes.len(),
        });
    }
    let values: Vec<f32> = emb.read_raw().map_err(|e| unreadable("rows", e))?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Damage::NotFinite);
    }
    let rows = Rows {
        ids: ids.iter().map(|s| s.as_str().to_string()).collect(),
        indices,
        hashes,
        values,
    };
    if attr_str("content_checksum")?
        != rows.content_checksum(batch_idx, &model_fingerprint, &input_fingerprint)
    {
        return Err(Damage::Checksum);
    }
    Ok(Loaded {
        batch_idx,
        model_fingerprint,
        input_fingerprint,
        rows,
    })
}

/// Checkpoint files under `checkpoints` (every worker's folder), sorted by folder then batch.
pub fn list(checkpoints: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(folders) = std::fs::read_dir(checkpoints) else {
        return Ok(out);
    };
    for folder in folders.flatten() {
        let folder = folder.path();
        let is_worker_folder = folder.is_dir()
            && folder
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(folder_rank)
                .is_some();
        if !is_worker_folder {
            continue;
        }
        for entry in std::fs::read_dir(&folder)
            .map_err(|e| EngineError::file(&folder, "cannot list", e))?
            .flatten()
        {
            let p = entry.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("batch_") && name.ends_with(".h5") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes the temporaries of checkpoints (and of the merged output written beside them) that a
/// killed run left in `checkpoints` and its worker folders; returns what it removed. Call it
/// only while holding the lock on `checkpoints`.
pub fn remove_orphaned_temps(checkpoints: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = virnucpro_seq::output::remove_orphaned_temps(checkpoints, None)?;
    let Ok(folders) = std::fs::read_dir(checkpoints) else {
        return Ok(removed);
    };
    for folder in folders.flatten() {
        let name = folder.file_name();
        if name.to_str().and_then(folder_rank).is_some() && folder.path().is_dir() {
            removed.extend(virnucpro_seq::output::remove_orphaned_temps(
                &folder.path(),
                None,
            )?);
        }
    }
    Ok(removed)
}

/// Reads a checkpoint's rows a slice at a time, in the order they are stored (input order):
/// what the in-order merge of many checkpoints holds of each is one slice. A cursor can be
/// closed and reopens itself when read again, and closes itself at its end: an open HDF5 file
/// costs about a megabyte, so a merge over thousands of checkpoints keeps open only those it is
/// reading.
pub struct Cursor {
    path: PathBuf,
    file: Option<OpenCheckpoint>,
    width: usize,
    len: usize,
    /// Rows read so far.
    next: usize,
    slice: Rows,
    /// Position in `slice`.
    at: usize,
}

/// The datasets of an open checkpoint.
struct OpenCheckpoint {
    ids: hdf5::Dataset,
    indices: hdf5::Dataset,
    values: hdf5::Dataset,
}

/// Rows a [`Cursor`] reads at a time.
const SLICE_ROWS: usize = 1024;

impl OpenCheckpoint {
    /// Opens `path`, checks its rows are `width` wide, and gives its number of rows.
    fn open(path: &Path, width: usize) -> Result<(Self, usize)> {
        let bad = |e: String| EngineError::file(path, "checkpoint became unreadable", e);
        let file = hdf5::File::open(path).map_err(|e| bad(e.to_string()))?;
        let ds = |name: &str| file.dataset(name).map_err(|e| bad(format!("{name}: {e}")));
        let ids = ds("ids")?;
        let indices = ds("indices")?;
        let values = values_dataset(&file).map_err(|e| bad(e.to_string()))?;
        let len = ids.shape().first().copied().unwrap_or(0);
        if values.shape() != [len, width] || indices.shape() != [len] {
            return Err(bad(format!(
                "rows have shape {:?} and positions {:?}, expected [{len}, {width}] and [{len}]",
                values.shape(),
                indices.shape()
            )));
        }
        Ok((
            OpenCheckpoint {
                ids,
                indices,
                values,
            },
            len,
        ))
    }
}

impl Cursor {
    /// Opens the checkpoint `path` (already checked by [`read`]) for rows of `width` floats.
    pub fn open(path: &Path, width: usize) -> Result<Self> {
        let (file, len) = OpenCheckpoint::open(path, width)?;
        Ok(Cursor {
            path: path.to_path_buf(),
            file: Some(file),
            width,
            len,
            next: 0,
            slice: Rows::default(),
            at: 0,
        })
    }

    /// Closes the file and forgets the slice read, keeping the place: the next
    /// [`Cursor::peek`] reopens it there.
    pub fn close(&mut self) {
        self.next -= self.slice.len() - self.at;
        self.file = None;
        self.slice = Rows::default();
        self.at = 0;
    }

    /// Whether the file is open now.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// The checkpoint read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The input position of the next row, reading the next slice when needed (and reopening
    /// a closed file); `None` at the end, where the file is closed.
    pub fn peek(&mut self) -> Result<Option<u64>> {
        if self.at >= self.slice.len() {
            if self.next >= self.len {
                self.file = None;
                self.slice = Rows::default();
                self.at = 0;
                return Ok(None);
            }
            if self.file.is_none() {
                let (file, len) = OpenCheckpoint::open(&self.path, self.width)?;
                if len != self.len {
                    return Err(EngineError::file(
                        &self.path,
                        "checkpoint became unreadable",
                        format!("it held {} rows and now holds {len}", self.len),
                    ));
                }
                self.file = Some(file);
            }
            let file = self.file.as_ref().expect("opened above");
            let end = (self.next + SLICE_ROWS).min(self.len);
            let range = self.next..end;
            let bad = |e: hdf5::Error| EngineError::file(&self.path, "cannot read", e);
            let ids: ndarray::Array1<VarLenUnicode> =
                file.ids.read_slice_1d(range.clone()).map_err(bad)?;
            let indices: ndarray::Array1<u64> =
                file.indices.read_slice_1d(range.clone()).map_err(bad)?;
            let values: ndarray::Array2<f32> = file
                .values
                .read_slice_2d(ndarray::s![range, ..])
                .map_err(bad)?;
            self.slice = Rows {
                ids: ids.iter().map(|s| s.as_str().to_string()).collect(),
                indices: indices.to_vec(),
                hashes: Vec::new(),
                values: values.iter().copied().collect(),
            };
            self.next = end;
            self.at = 0;
        }
        Ok(Some(self.slice.indices[self.at]))
    }

    /// Takes the next row (after [`Cursor::peek`] said there is one): id, position, values.
    pub fn take(&mut self) -> (String, u64, &[f32]) {
        let r = self.at;
        self.at += 1;
        (
            std::mem::take(&mut self.slice.ids[r]),
            self.slice.indices[r],
            &self.slice.values[r * self.width..(r + 1) * self.width],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_folders_old_and_new_are_listed_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["worker_0", "shard_3", "scratch", "worker_x"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
            std::fs::write(dir.path().join(folder).join("batch_00000.h5"), b"").unwrap();
        }
        let found = list(dir.path()).unwrap();
        let ranks: Vec<Option<usize>> = found.iter().map(|p| rank_of(p)).collect();
        assert_eq!(ranks, [Some(3), Some(0)]);
        assert_eq!(path(dir.path(), 0, 0), found[1]);
    }

    #[test]
    fn a_flipped_byte_in_a_fingerprint_attribute_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch_00000.h5");
        let rows = Rows {
            ids: vec!["a".into(), "b".into()],
            indices: vec![0, 1],
            hashes: vec![7, 9],
            values: vec![0.25, 0.75, 0.5, 0.5],
        };
        let meta = Metadata {
            batch_idx: 0,
            trigger: Trigger::Final,
            model: "m".into(),
            model_fingerprint: "0123456789abcdef".into(),
            input_fingerprint: "fedcba9876543210".into(),
            dtype: "f32".into(),
            packing_enabled: true,
            output: "scores".into(),
            gpu_memory_allocated_bytes: 0,
            gpu_memory_peak_bytes: 0,
        };
        write(&path, &rows, 2, &meta).unwrap();
        assert_eq!(read(&path, 2).unwrap().rows, rows);
        {
            let file = hdf5::File::open_rw(&path).unwrap();
            file.attr("model_fingerprint")
                .unwrap()
                .write_scalar(&unicode("0123456789abcdeg"))
                .unwrap();
        }
        let reason = read(&path, 2).unwrap_err();
        assert_eq!(reason, Damage::Checksum, "{reason}");
    }
}
