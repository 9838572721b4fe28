//! A k-way merge: items from many sources, each sorted by key, taken in key order.
//!
//! The checkpoint merge (checkpoints, each sorted by input position, back into input order) and
//! the consensus (sorted runs of chunk ids, spilled to disk, into one sorted stream) are both
//! this. The merge holds one key per source in a heap; equal keys come from the lower-numbered
//! source first, so the order is the same on every run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A source of items sorted by key, read one at a time.
pub trait SortedSource {
    /// What the items are ordered by.
    type Key: Ord;
    /// What reading the source can fail with.
    type Error;
    /// The key of the next item, without taking the item; `None` at the end.
    fn head_key(&mut self) -> Result<Option<Self::Key>, Self::Error>;
}

/// The sources being merged and the heap of their next keys.
pub struct KWayMerge<S: SortedSource> {
    sources: Vec<S>,
    heap: BinaryHeap<Reverse<(S::Key, usize)>>,
}

impl<S: SortedSource> Default for KWayMerge<S> {
    fn default() -> Self {
        KWayMerge {
            sources: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }
}

impl<S: SortedSource> KWayMerge<S> {
    /// Starts a merge over `sources`, reading each one's first key.
    pub fn new(sources: Vec<S>) -> Result<Self, S::Error> {
        let mut merge = Self::default();
        for source in sources {
            merge.add(source)?;
        }
        Ok(merge)
    }

    /// Adds a source, reading its first key; it comes after those added before it when keys
    /// tie. Returns the source for the caller to act on (to close a file until its items are
    /// due, say, so that a merge over many files holds few open).
    pub fn add(&mut self, mut source: S) -> Result<&mut S, S::Error> {
        let i = self.sources.len();
        if let Some(key) = source.head_key()? {
            self.heap.push(Reverse((key, i)));
        }
        self.sources.push(source);
        Ok(&mut self.sources[i])
    }

    /// The sources, in the order given (to close or inspect them between items).
    pub fn sources(&self) -> &[S] {
        &self.sources
    }

    /// Takes the item that comes next: `take` gets its key and its source, and must take that
    /// one item from the source; then the source's next key joins the heap. `None` when every
    /// source is spent.
    pub fn next<T, E: From<S::Error>>(
        &mut self,
        take: impl FnOnce(&S::Key, &mut S) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        let Some(Reverse((key, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let source = &mut self.sources[i];
        let item = take(&key, source)?;
        if let Some(next) = source.head_key()? {
            self.heap.push(Reverse((next, i)));
        }
        Ok(Some(item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct List(Vec<(u32, char)>);

    impl SortedSource for List {
        type Key = u32;
        type Error = String;
        fn head_key(&mut self) -> Result<Option<u32>, String> {
            Ok(self.0.first().map(|&(k, _)| k))
        }
    }

    #[test]
    fn items_come_in_key_order_and_ties_by_source() {
        let lists = vec![
            List(vec![(1, 'a'), (4, 'b'), (4, 'c')]),
            List(vec![]),
            List(vec![(0, 'd'), (4, 'e'), (9, 'f')]),
        ];
        let mut merge = KWayMerge::new(lists).unwrap();
        let mut got = Vec::new();
        while let Some(item) = merge
            .next(|&key, list: &mut List| -> Result<_, String> {
                let (k, c) = list.0.remove(0);
                assert_eq!(k, key);
                Ok(c)
            })
            .unwrap()
        {
            got.push(item);
        }
        assert_eq!(got.iter().collect::<String>(), "dabcef");
        assert!(merge.sources().iter().all(|l| l.0.is_empty()));
    }

    #[test]
    fn a_failing_take_stops_the_merge_with_its_error() {
        let mut merge = KWayMerge::new(vec![List(vec![(1, 'a')])]).unwrap();
        let err = merge
            .next(|_, _: &mut List| -> Result<(), String> { Err("bad row".into()) })
            .unwrap_err();
        assert_eq!(err, "bad row");
    }
}
