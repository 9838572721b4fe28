//! `embeddings.h5` (with `--save-embeddings`): `ids`, `dnabert` `[n, 768]` and `esm2`
//! `[n, 2560]` (float32), written a slab at a time as the rows come, under a temporary name
//! until it is complete ([`AtomicH5`]); and read back a slab at a time.

use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use virnucpro_engine::h5_file::{id_string, AtomicH5};

use crate::error::{PredictError, Result};

/// Rows buffered before a slab is written.
const SLAB_ROWS: usize = 1024;

/// An `embeddings.h5` being written, row by row, in order.
pub struct EmbeddingsWriter {
    path: PathBuf,
    out: AtomicH5,
    datasets: [hdf5::Dataset; 3],
    dims: [usize; 2],
    total: usize,
    written: usize,
    ids: Vec<VarLenUnicode>,
    rows: [Vec<f32>; 2],
}

impl EmbeddingsWriter {
    /// Starts `path` for `total` rows of DNABERT-S (`dnabert_dim`) and ESM-2 (`esm_dim`) floats.
    pub fn create(path: &Path, total: usize, dnabert_dim: usize, esm_dim: usize) -> Result<Self> {
        let h5 = |e: hdf5::Error| PredictError::file(path, e);
        let out = AtomicH5::create(path)?;
        let file = out.file();
        let ids = {
            let b = file.new_dataset::<VarLenUnicode>();
            let b = if total > 0 {
                b.chunk(total.min(SLAB_ROWS))
            } else {
                b
            };
            b.shape(total).create("ids").map_err(h5)?
        };
        let matrix = |name: &str, dim: usize| -> Result<hdf5::Dataset> {
            let b = file.new_dataset::<f32>();
            let b = if total > 0 {
                b.chunk((total.min(SLAB_ROWS), dim.max(1)))
            } else {
                b
            };
            b.shape((total, dim)).create(name).map_err(h5)
        };
        let datasets = [
            ids,
            matrix("dnabert", dnabert_dim)?,
            matrix("esm2", esm_dim)?,
        ];
        Ok(EmbeddingsWriter {
            path: path.to_path_buf(),
            out,
            datasets,
            dims: [dnabert_dim, esm_dim],
            total,
            written: 0,
            ids: Vec::with_capacity(SLAB_ROWS),
            rows: [Vec::new(), Vec::new()],
        })
    }

    /// Adds the next row.
    pub fn push(&mut self, id: &str, dnabert: &[f32], esm: &[f32]) -> Result<()> {
        let id = id_string(id, &self.path)?;
        if dnabert.len() != self.dims[0] || esm.len() != self.dims[1] {
            return Err(PredictError::file(
                &self.path,
                "an embedding of the wrong width",
            ));
        }
        self.ids.push(id);
        self.rows[0].extend_from_slice(dnabert);
        self.rows[1].extend_from_slice(esm);
        if self.ids.len() >= SLAB_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let n = self.ids.len();
        if n == 0 {
            return Ok(());
        }
        let (a, b) = (self.written, self.written + n);
        if b > self.total {
            return Err(PredictError::file(
                &self.path,
                format!("more than the {} rows announced", self.total),
            ));
        }
        let h5 = |e: hdf5::Error| PredictError::file(&self.path, e);
        self.datasets[0]
            .write_slice(ndarray::ArrayView1::from(&self.ids[..]), ndarray::s![a..b])
            .map_err(h5)?;
        for (k, dim) in self.dims.into_iter().enumerate() {
            let view = ndarray::ArrayView2::from_shape((n, dim), &self.rows[k])
                .map_err(|e| PredictError::file(&self.path, e))?;
            self.datasets[k + 1]
                .write_slice(view, ndarray::s![a..b, ..])
                .map_err(h5)?;
            self.rows[k].clear();
        }
        self.ids.clear();
        self.written = b;
        Ok(())
    }

    /// Writes what is buffered, checks every announced row came, and moves the file into place.
    pub fn commit(mut self) -> Result<()> {
        self.flush()?;
        if self.written != self.total {
            return Err(PredictError::file(
                &self.path,
                format!("{} of {} rows written", self.written, self.total),
            ));
        }
        // While the datasets are open, so a full disk is reported (see `h5_file`).
        self.out.flush()?;
        let EmbeddingsWriter { out, datasets, .. } = self;
        drop(datasets);
        out.commit(|_| Ok(()))?;
        Ok(())
    }
}

/// One row of `embeddings.h5`: its id, DNABERT-S and ESM-2 embeddings.
pub type EmbeddingRow<'a> = (&'a str, &'a [f32], &'a [f32]);

/// An `embeddings.h5` read back a slab of rows at a time (`merge` of shards).
pub struct EmbeddingsReader {
    path: PathBuf,
    datasets: [hdf5::Dataset; 3],
    rows: usize,
    dims: (usize, usize),
    /// Where the slab held starts, and the next row to give.
    slab_start: usize,
    next: usize,
    ids: Vec<String>,
    values: [Vec<f32>; 2],
    _file: hdf5::File,
}

impl EmbeddingsReader {
    /// Opens `path` and checks its three datasets agree on the number of rows.
    pub fn open(path: &Path) -> Result<Self> {
        let h5 = |e: hdf5::Error| PredictError::file(path, format!("cannot read: {e}"));
        let file = hdf5::File::open(path).map_err(h5)?;
        let ids = file.dataset("ids").map_err(h5)?;
        let dnabert = file.dataset("dnabert").map_err(h5)?;
        let esm = file.dataset("esm2").map_err(h5)?;
        let rows = ids.shape().first().copied().unwrap_or(0);
        let width = |d: &hdf5::Dataset, name: &str| -> Result<usize> {
            match d.shape()[..] {
                [n, dim] if n == rows => Ok(dim),
                ref shape => Err(PredictError::file(
                    path,
                    format!("dataset {name} has shape {shape:?}, expected [{rows}, dim]"),
                )),
            }
        };
        let dims = (width(&dnabert, "dnabert")?, width(&esm, "esm2")?);
        Ok(EmbeddingsReader {
            path: path.to_path_buf(),
            datasets: [ids, dnabert, esm],
            rows,
            dims,
            slab_start: 0,
            next: 0,
            ids: Vec::new(),
            values: [Vec::new(), Vec::new()],
            _file: file,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The DNABERT-S and ESM-2 widths.
    pub fn dims(&self) -> (usize, usize) {
        self.dims
    }

    /// The next row (id, DNABERT-S, ESM-2); `None` after the last.
    pub fn next_row(&mut self) -> Result<Option<EmbeddingRow<'_>>> {
        if self.next >= self.rows {
            return Ok(None);
        }
        if self.next >= self.slab_start + self.ids.len() {
            self.read_slab()?;
        }
        let i = self.next - self.slab_start;
        self.next += 1;
        let (d, e) = self.dims;
        Ok(Some((
            &self.ids[i],
            &self.values[0][i * d..(i + 1) * d],
            &self.values[1][i * e..(i + 1) * e],
        )))
    }

    /// Reads the slab of rows that starts at `next`.
    fn read_slab(&mut self) -> Result<()> {
        let h5 = |e: hdf5::Error| PredictError::file(&self.path, format!("cannot read: {e}"));
        let (a, b) = (self.next, (self.next + SLAB_ROWS).min(self.rows));
        let ids: ndarray::Array1<VarLenUnicode> =
            self.datasets[0].read_slice_1d(a..b).map_err(h5)?;
        self.ids.clear();
        self.ids.extend(ids.iter().map(|s| s.as_str().to_string()));
        for k in 0..2 {
            let slab: ndarray::Array2<f32> = self.datasets[k + 1]
                .read_slice_2d(ndarray::s![a..b, ..])
                .map_err(h5)?;
            self.values[k].clear();
            self.values[k].extend(slab.iter().copied());
        }
        self.slab_start = a;
        Ok(())
    }
}
