//! Every checkpoint's rows, merged back into input order, a slice of each file at a time.
//!
//! Each checkpoint is sorted by input position, so a k-way merge over them gives the rows in
//! input order while holding one slice per file, whatever the size of the input. The merge
//! checks that every position from 0 on appears, and once: a row found twice with the same id
//! and values (a checkpoint copied under another name) is used once and counted; two different
//! rows for one position are an error.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use crate::checkpoint::{self, Cursor};
use crate::error::{EngineError, Result};

/// The rows of all checkpoints under a directory, in input order.
pub struct InOrder {
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    /// The position the next new row must have.
    next: u64,
    id: String,
    values: Vec<f32>,
    /// Rows found twice, identical, and used once.
    pub duplicates: u64,
}

impl InOrder {
    /// Opens every checkpoint under `checkpoints` (rows of `width` floats).
    pub fn open(checkpoints: &Path, width: usize) -> Result<Self> {
        let mut cursors = Vec::new();
        let mut heap = BinaryHeap::new();
        for path in checkpoint::list(checkpoints)? {
            let mut cursor = Cursor::open(&path, width)?;
            if let Some(index) = cursor.peek()? {
                heap.push(Reverse((index, cursors.len())));
            }
            cursors.push(cursor);
        }
        Ok(InOrder {
            cursors,
            heap,
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
            let Some(Reverse((index, c))) = self.heap.pop() else {
                return Ok(false);
            };
            let cursor = &mut self.cursors[c];
            let (id, _, values) = cursor.take();
            let fresh = if index == self.next {
                self.id = id;
                self.values.clear();
                self.values.extend_from_slice(values);
                self.next += 1;
                true
            } else if index + 1 == self.next {
                // The position just given, again (rows come out sorted by position).
                if id != self.id || values != self.values.as_slice() {
                    return Err(E::from(EngineError::Integrity(format!(
                        "{} holds another result for '{}' (input position {index}) than an \
                         earlier checkpoint; rerun with --force-restart",
                        cursor.path().display(),
                        self.id
                    ))));
                }
                self.duplicates += 1;
                false
            } else {
                return Err(E::from(EngineError::Integrity(format!(
                    "input positions {}..{index} are in no checkpoint under {}; rerun to compute \
                     them",
                    self.next,
                    cursor.path().parent().unwrap_or(Path::new(".")).display()
                ))));
            };
            if let Some(next) = cursor.peek().map_err(E::from)? {
                self.heap.push(Reverse((next, c)));
            }
            if fresh {
                row(&self.id, &self.values)?;
                return Ok(true);
            }
        }
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
