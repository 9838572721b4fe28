//! Chunking: cutting a sequence into pieces of the model's expected length (300 or 500 bp).
//!
//! This is the original `split_fasta_chunk` rule, quirks included (spec: pipeline.md section 3.1):
//! with `n = ceil(len / size)` chunks, the spare `r = n * size - len` bases become overlaps
//! between neighbouring chunks, distributed from `r / n` (not `r / (n - 1)`). When `r` is large the
//! overlaps do not add up to `r`, so the last chunk is shorter than `size` and ends at the
//! sequence end. A sequence no longer than `size` is one chunk equal to the whole sequence.

use std::ops::Range;

/// The half-open base ranges of the chunks of a sequence of `len` bases, in order.
///
/// `size` must be at least 1. A sequence of length 0 has no chunks (the original crashes on it).
///
/// ```
/// // 1200 bp at 500: three chunks, the last one 402 bp long (the original's rule).
/// let spans: Vec<_> = virnucpro_seq::chunk_spans(1200, 500).collect();
/// assert_eq!(spans, [0..500, 399..899, 798..1200]);
/// ```
pub fn chunk_spans(len: usize, size: usize) -> ChunkSpans {
    assert!(size > 0, "chunk size must be at least 1");
    let count = len.div_ceil(size);
    // Python: r = n*c - L; q = int(r / n); need = r - q*(n-1).
    let spare = count * size - len;
    let (small, wide_count) = match spare.checked_div(count) {
        Some(small) => (small, spare - small * (count - 1)),
        None => (0, 0),
    };
    ChunkSpans {
        len,
        size,
        count,
        small,
        wide_count,
        next: 0,
    }
}

/// Iterator over the chunk ranges of one sequence; see [`chunk_spans`].
#[derive(Debug, Clone)]
pub struct ChunkSpans {
    len: usize,
    size: usize,
    count: usize,
    /// Overlap `q` given to the later moves.
    small: usize,
    /// How many of the first moves are `q + 1` wide (`need` in the original).
    wide_count: usize,
    next: usize,
}

impl ChunkSpans {
    /// How far chunk `index` is moved back from `index * size`: the sum of the moves before it.
    fn shift_before(&self, index: usize) -> usize {
        let wide = index.min(self.wide_count);
        wide * (self.small + 1) + (index - wide) * self.small
    }
}

impl Iterator for ChunkSpans {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.next >= self.count {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let nominal = index * self.size;
        // The original only moves a chunk back when its nominal start is past base 1.
        let start = if nominal > 1 {
            nominal - self.shift_before(index)
        } else {
            nominal
        };
        let end = (start + self.size).min(self.len);
        Some(start..end)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for ChunkSpans {}

/// The id the original gives chunk `number` (1-based) of record `record_id`: `<id>_chunk_<k>`.
pub fn chunk_id(record_id: &str, number: usize) -> String {
    format!("{record_id}_chunk_{number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(len: usize, size: usize) -> Vec<(usize, usize)> {
        chunk_spans(len, size).map(|r| (r.start, r.end)).collect()
    }

    /// The worked coordinates of pipeline.md section 3.1, made by running the original.
    #[test]
    fn matches_the_originals_worked_coordinates() {
        assert_eq!(spans(501, 500), [(0, 500), (250, 501)]);
        assert_eq!(spans(501, 300), [(0, 300), (250, 501)]);
        assert_eq!(spans(600, 500), [(0, 500), (299, 600)]);
        assert_eq!(spans(600, 300), [(0, 300), (300, 600)]);
        assert_eq!(spans(999, 500), [(0, 500), (499, 999)]);
        assert_eq!(
            spans(999, 300),
            [(0, 300), (249, 549), (498, 798), (747, 999)]
        );
        assert_eq!(spans(1000, 500), [(0, 500), (500, 1000)]);
        assert_eq!(spans(1001, 500), [(0, 500), (333, 833), (666, 1001)]);
        assert_eq!(
            spans(1001, 300),
            [(0, 300), (250, 550), (500, 800), (750, 1001)]
        );
        assert_eq!(spans(1200, 500), [(0, 500), (399, 899), (798, 1200)]);
        assert_eq!(spans(1200, 300).len(), 4);
        assert_eq!(
            spans(1501, 500),
            [(0, 500), (375, 875), (750, 1250), (1125, 1501)]
        );
        let s = spans(1501, 300);
        assert_eq!((s.len(), s[5]), (6, (1250, 1501)));
        let s = spans(2600, 500);
        assert_eq!((s.len(), s[1].0, s[5]), (6, 433, (2165, 2600)));
        let s = spans(2600, 300);
        assert_eq!((s.len(), s[1].0, s[8]), (9, 288, (2304, 2600)));
    }

    #[test]
    fn short_sequences_are_one_whole_chunk() {
        assert_eq!(spans(1, 300), [(0, 1)]);
        assert_eq!(spans(300, 300), [(0, 300)]);
        assert!(spans(0, 300).is_empty());
    }

    #[test]
    fn chunk_ids_follow_the_original() {
        assert_eq!(chunk_id("contig7", 3), "contig7_chunk_3");
    }
}
