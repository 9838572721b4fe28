//! Every checkpoint's rows, merged back into input order, a slice of each file at a time.
//!
//! Each checkpoint is sorted by input position, so a k-way merge over them gives the rows in
//! input order while holding one slice per file, whatever the size of the input. The merge
//! checks that every position from 0 on appears, and once: a row found twice with the same id
//! and values (a checkpoint copied under another name) is used once and counted; two different
//! rows for one position are an error.
//!
//! A checkpoint is opened only when the merge reaches its first row and is closed at its last,
//! so the files open at once are those whose rows interleave (about one per worker), not all of
//! them: an open HDF5 file costs about a megabyte, and a million frames make a hundred
//! checkpoints.

use std::path::Path;

use crate::checkpoint::{self, Cursor};
use crate::error::{EngineError, Result};
use crate::kway::{KWayMerge, SortedSource};

impl SortedSource for Cursor {
    type Key = u64;
    type Error = EngineError;
    fn head_key(&mut self) -> Result<Option<u64>> {
        self.peek()
    }
}

/// The rows of all checkpoints under a directory, in input order.
pub struct InOrder {
    merge: KWayMerge<Cursor>,
    /// The position the next new row must have.
    next: u64,
    id: String,
    values: Vec<f32>,
    /// Rows found twice, identical, and used once.
    pub duplicates: u64,
}

impl InOrder {
    /// Finds every checkpoint under `checkpoints` (rows of `width` floats) and where each
    /// starts, leaving them closed until their rows are due.
    pub fn open(checkpoints: &Path, width: usize) -> Result<Self> {
        let mut merge = KWayMerge::default();
        for path in checkpoint::list(checkpoints)? {
            // Opened for its first position, then closed until its rows are due.
            merge.add(Cursor::open(&path, width)?)?.close();
        }
        Ok(InOrder {
            merge,
            next: 0,
            id: String::new(),
            values: Vec::with_capacity(width),
            duplicates: 0,
        })
    }

    /// Gives the next row (id, values) to `row`; false when every row has been given.
    pub fn next_row<E: From<EngineError>>(
        &mut self,
        row: impl FnOnce(&str, &[f32]) -> std::result::Result<(), E>,
    ) -> std::result::Result<bool, E> {
        loop {
            let (next, id, values) = (self.next, &mut self.id, &mut self.values);
            let taken = self
                .merge
                .next(|&index, cursor: &mut Cursor| -> Result<bool> {
                    if cursor.peek()? != Some(index) {
                        return Err(EngineError::file(
                            cursor.path(),
                            "checkpoint became unreadable",
                            "its rows changed while the results were written",
                        ));
                    }
                    let (row_id, _, row_values) = cursor.take();
                    if index == next {
                        *id = row_id;
                        values.clear();
                        values.extend_from_slice(row_values);
                        Ok(true)
                    } else if index + 1 == next {
                        // The position just given, again (rows come out sorted by position).
                        if row_id != *id || row_values != values.as_slice() {
                            return Err(EngineError::Integrity(format!(
                                "{} holds another result for '{id}' (input position {index}) than \
                             an earlier checkpoint; rerun with --force-restart",
                                cursor.path().display(),
                            )));
                        }
                        Ok(false)
                    } else {
                        Err(EngineError::Integrity(format!(
                            "input positions {next}..{index} are in no checkpoint under {}; rerun \
                         to compute them",
                            cursor.path().parent().unwrap_or(Path::new(".")).display()
                        )))
                    }
                });
            match taken.map_err(E::from)? {
                None => return Ok(false),
                Some(true) => {
                    self.next += 1;
                    row(&self.id, &self.values)?;
                    return Ok(true);
                }
                Some(false) => self.duplicates += 1,
            }
        }
    }

    /// Checkpoint files open now.
    pub fn open_files(&self) -> usize {
        self.merge.sources().iter().filter(|c| c.is_open()).count()
    }

    /// Rows given so far.
    pub fn rows(&self) -> u64 {
        self.next
    }

    /// Checks that exactly `total` rows were given.
    pub fn finish(&self, total: u64) -> Result<()> {
        if self.next != total {
            return Err(EngineError::Integrity(format!(
                "{} of {total} items are in no checkpoint; rerun to compute them",
                total.saturating_sub(self.next)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Metadata, Rows, Trigger};

    fn write(dir: &Path, rank: usize, batch: u64, indices: &[u64]) {
        let mut rows = Rows::default();
        for &i in indices {
            rows.ids.push(format!("f{i}"));
            rows.indices.push(i);
            rows.hashes.push(i);
            rows.values.extend_from_slice(&[i as f32, 1.0]);
        }
        let meta = Metadata {
            batch_idx: batch,
            trigger: Trigger::Sequences,
            model: "m".into(),
            model_fingerprint: "m".into(),
            input_fingerprint: "i".into(),
            dtype: "f32".into(),
            packing_enabled: true,
            output: "scores".into(),
            gpu_memory_allocated_bytes: 0,
            gpu_memory_peak_bytes: 0,
        };
        checkpoint::write(&checkpoint::path(dir, rank, batch), &rows, 2, &meta).unwrap();
    }

    #[test]
    fn many_checkpoints_merge_in_order_with_few_files_open() {
        let dir = tempfile::tempdir().unwrap();
        // Two workers taking batches of 50 in turn; each checkpoint holds 4 of its batches,
        // so a worker's checkpoint interleaves with the other's: 40 checkpoints in all.
        let (batch, per_checkpoint) = (50u64, 4u64);
        for rank in 0..2u64 {
            for c in 0..20u64 {
                let indices: Vec<u64> = (0..per_checkpoint)
                    .flat_map(|b| {
                        let start = ((c * per_checkpoint + b) * 2 + rank) * batch;
                        start..start + batch
                    })
                    .collect();
                write(dir.path(), rank as usize, c, &indices);
            }
        }
        let total = 2 * 20 * per_checkpoint * batch;
        let mut rows = InOrder::open(dir.path(), 2).unwrap();
        assert_eq!(rows.open_files(), 0);
        let (mut n, mut most) = (0u64, 0);
        while rows
            .next_row(|id, values| -> Result<()> {
                assert_eq!(id, format!("f{n}"));
                assert_eq!(values, [n as f32, 1.0]);
                Ok(())
            })
            .unwrap()
        {
            n += 1;
            most = most.max(rows.open_files());
        }
        rows.finish(total).unwrap();
        assert_eq!(n, total);
        assert!(most <= 2, "{most} checkpoints open at once");
        assert_eq!(rows.open_files(), 0);
    }

    #[test]
    fn a_gap_between_checkpoints_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 0, 0, &[0, 1, 2]);
        write(dir.path(), 0, 1, &[4, 5]);
        let mut rows = InOrder::open(dir.path(), 2).unwrap();
        let mut given = 0;
        let err = loop {
            match rows.next_row(|_, _| -> Result<()> { Ok(()) }) {
                Ok(true) => given += 1,
                Ok(false) => panic!("a gap went unnoticed"),
                Err(e) => break e.to_string(),
            }
        };
        assert_eq!(given, 3);
        assert!(err.contains("3..4"), "{err}");
    }
}
