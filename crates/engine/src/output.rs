//! The final output: every checkpoint's rows put back in input order in one HDF5 file.

use std::path::Path;

use hdf5::types::VarLenUnicode;

use crate::checkpoint::{self, Metadata};
use crate::error::{EngineError, Result};
use crate::h5_file::{id_string, AtomicH5};

/// One row's share of [`merge`]'s check: a hash of its position, id and values. Rows are
/// summed (wrapping), so the order they are written in does not matter.
fn row_hash<'a>(index: usize, id: &str, values: impl IntoIterator<Item = &'a f32>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&(index as u64).to_le_bytes());
    h.update(&(id.len() as u64).to_le_bytes());
    h.update(id.as_bytes());
    for v in values {
        h.update(&v.to_le_bytes());
    }
    h.digest()
}

/// Reads a written output back, a slice at a time, and checks it holds `total` rows of `dim`
/// floats whose [`row_hash`]es sum to `want`: a write that failed unnoticed (a full disk can
/// leave zero-filled holes) is caught here, before anything it was made from is deleted.
fn verify(path: &Path, total: usize, dim: usize, want: u64) -> Result<()> {
    let bad = |e: String| EngineError::file(path, "the output failed its check after writing", e);
    let file = hdf5::File::open(path).map_err(|e| bad(e.to_string()))?;
    let ids = file.dataset("ids").map_err(|e| bad(e.to_string()))?;
    let rows = file.dataset("embeddings").map_err(|e| bad(e.to_string()))?;
    if ids.shape() != [total] || rows.shape() != [total, dim] {
        return Err(bad(format!(
            "it holds {:?} ids and {:?} floats, expected [{total}] and [{total}, {dim}]",
            ids.shape(),
            rows.shape()
        )));
    }
    let mut sum = 0u64;
    let mut start = 0;
    while start < total {
        let end = (start + 1024).min(total);
        let names: ndarray::Array1<VarLenUnicode> = ids
            .read_slice_1d(start..end)
            .map_err(|e| bad(e.to_string()))?;
        let values: ndarray::Array2<f32> = rows
            .read_slice_2d(ndarray::s![start..end, ..])
            .map_err(|e| bad(e.to_string()))?;
        for (i, (name, row)) in names.iter().zip(values.outer_iter()).enumerate() {
            sum = sum.wrapping_add(row_hash(start + i, name.as_str(), row.iter()));
        }
        start = end;
    }
    if sum != want {
        return Err(bad(
            "what was read back differs from what was written (a full disk or a failing \
             device?); the checkpoints are kept: free space and rerun the same command"
                .to_string(),
        ));
    }
    Ok(())
}

/// Writes `output` (`ids`, `embeddings` `[total, dim]`, the attributes of `meta`) from the
/// checkpoints under `checkpoints`, atomically. Fails, writing nothing, unless every input
/// position from 0 to `total` appears exactly once, and unless the file, synced and read back,
/// holds exactly what was written.
pub fn merge(
    checkpoints: &Path,
    output: &Path,
    dim: usize,
    total: u64,
    meta: &Metadata,
) -> Result<()> {
    let total = total as usize;
    let mut ids: Vec<Option<String>> = vec![None; total];
    let h5 = |e: hdf5::Error| EngineError::file(output, "cannot write", e);
    let out = AtomicH5::create(output)?;
    {
        let file = out.file();
        let builder = file.new_dataset::<f32>();
        let builder = if total > 0 {
            builder.chunk((total.min(1024), dim.max(1)))
        } else {
            builder
        };
        let embeddings = builder
            .shape((total, dim))
            .create("embeddings")
            .map_err(h5)?;
        let mut checkpoints_read = 0u64;
        let mut checksum = 0u64;
        for path in checkpoint::list(checkpoints)? {
            let loaded = checkpoint::read(&path, dim).map_err(|reason| {
                EngineError::file(&path, "checkpoint became unreadable", reason)
            })?;
            checkpoints_read += 1;
            // Write runs of consecutive input positions as one slab.
            let rows = &loaded.rows;
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_by_key(|&r| rows.indices[r]);
            let mut r = 0;
            while r < order.len() {
                let start = rows.indices[order[r]] as usize;
                let mut end = r + 1;
                while end < order.len() && rows.indices[order[end]] as usize == start + (end - r) {
                    end += 1;
                }
                let mut slab = Vec::with_capacity((end - r) * dim);
                for &row in &order[r..end] {
                    let index = rows.indices[row] as usize;
                    let slot = ids.get_mut(index).ok_or_else(|| {
                        EngineError::Integrity(format!(
                            "{}: sequence number {index} is beyond the input",
                            path.display()
                        ))
                    })?;
                    if slot.is_some() {
                        return Err(EngineError::Integrity(format!(
                            "sequence '{}' appears in more than one checkpoint (second in {})",
                            rows.ids[row],
                            path.display()
                        )));
                    }
                    *slot = Some(rows.ids[row].clone());
                    let values = &rows.values[row * dim..(row + 1) * dim];
                    checksum = checksum.wrapping_add(row_hash(index, &rows.ids[row], values));
                    slab.extend_from_slice(values);
                }
                let view = ndarray::ArrayView2::from_shape((end - r, dim), &slab)
                    .map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
                embeddings
                    .write_slice(view, ndarray::s![start..start + (end - r), ..])
                    .map_err(h5)?;
                r = end;
            }
        }
        let missing = ids.iter().filter(|s| s.is_none()).count();
        if missing > 0 {
            return Err(EngineError::Integrity(format!(
                "{missing} of {total} sequences are in no checkpoint under {}; rerun to compute them",
                checkpoints.display()
            )));
        }
        let names = ids
            .into_iter()
            .map(|s| id_string(&s.unwrap_or_default(), output))
            .collect::<Result<Vec<VarLenUnicode>>>()?;
        file.new_dataset_builder()
            .with_data(names.as_slice())
            .create("ids")
            .map_err(h5)?;
        let meta = Metadata {
            batch_idx: checkpoints_read,
            ..meta.clone()
        };
        checkpoint::write_attributes(file, &meta, total as u64).map_err(h5)?;
        // While `embeddings` is open, so a full disk is reported (see `h5_file`).
        out.flush()?;
        drop(embeddings);
        out.commit(|written| verify(written, total, dim, checksum))?;
    }
    Ok(())
}

/// An embeddings file read back: ids and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Sequence ids, in input order.
    pub ids: Vec<String>,
    /// Row width.
    pub dim: usize,
    /// `ids.len() * dim` floats.
    pub values: Vec<f32>,
}

impl Embeddings {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

/// Reads an output written by [`merge`].
pub fn read(path: &Path) -> Result<Embeddings> {
    let h5 = |e: hdf5::Error| EngineError::file(path, "cannot read", e);
    let file = hdf5::File::open(path).map_err(h5)?;
    let ids: Vec<VarLenUnicode> = file.dataset("ids").and_then(|d| d.read_raw()).map_err(h5)?;
    let ds = file.dataset("embeddings").map_err(h5)?;
    let shape = ds.shape();
    let values: Vec<f32> = ds.read_raw().map_err(h5)?;
    Ok(Embeddings {
        ids: ids.iter().map(|s| s.as_str().to_string()).collect(),
        dim: shape.get(1).copied().unwrap_or(0),
        values,
    })
}
