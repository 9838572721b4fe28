//! Splitting one input into N parts for N machines, and recording which part a run did.
//!
//! Shard `I/N` takes a contiguous run of input records chosen so that every shard holds about
//! the same number of bases (the work of chunking and embedding grows with bases, not records).
//! The split is a pure function of the record lengths, so every machine computes the same one
//! without talking to the others; because the parts are contiguous, `virnucpro merge` restores
//! the input order by concatenating them.

use serde::{Deserialize, Serialize};

/// Which part of the input a run processes: the `index`-th (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: usize,
    /// How many parts in all.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `I/N` with 1 <= I <= N.
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || format!("'{s}': a shard is I/N with 1 <= I <= N, for example 2/8");
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let index: usize = i.trim().parse().map_err(|_| usage())?;
        let count: usize = n.trim().parse().map_err(|_| usage())?;
        if index == 0 || count == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The records a shard run processed, kept in its `run.json` for `merge` to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// 1-based shard number.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
    /// First record (0-based position among the non-empty records of the input).
    pub start: u64,
    /// One past the last record.
    pub end: u64,
    /// Non-empty records in the whole input.
    pub total: u64,
}

/// The contiguous record range of `shard` given every record's length: record `r` goes to the
/// shard its middle base falls in when the input's bases are cut into `count` equal parts.
pub fn plan(lengths: &[u32], shard: Shard) -> ShardRecord {
    let total_bases: u64 = lengths.iter().map(|&l| l as u64).sum();
    let n = shard.count as u128;
    let part_of = |before: u64, len: u64, r: usize| -> usize {
        if total_bases == 0 {
            // No bases at all: split by record count.
            return (r as u128 * n / lengths.len().max(1) as u128) as usize;
        }
        let middle = 2 * before as u128 + len as u128; // twice the middle, to stay integral
        ((middle * n) / (2 * total_bases as u128)).min(n - 1) as usize
    };
    let mut start = None;
    let mut end = lengths.len() as u64;
    let mut before = 0u64;
    for (r, &len) in lengths.iter().enumerate() {
        let part = part_of(before, len as u64, r);
        if part + 1 >= shard.index && start.is_none() {
            start = Some(r as u64);
        }
        if part + 1 > shard.index {
            end = r as u64;
            break;
        }
        before += len as u64;
    }
    let start = start.unwrap_or(lengths.len() as u64).min(end);
    ShardRecord {
        index: shard.index,
        count: shard.count,
        start,
        end,
        total: lengths.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(lengths: &[u32], count: usize) -> Vec<(u64, u64)> {
        (1..=count)
            .map(|index| {
                let r = plan(lengths, Shard { index, count });
                (r.start, r.end)
            })
            .collect()
    }

    #[test]
    fn parses_i_of_n() {
        assert_eq!(
            "2/8".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 8 }
        );
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/3/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_tile_the_input_in_order() {
        let lengths: Vec<u32> = (0..1000).map(|i| 300 + (i * 7919 % 2700) as u32).collect();
        for count in [1, 2, 3, 7, 16] {
            let r = ranges(&lengths, count);
            assert_eq!(r[0].0, 0);
            assert_eq!(r[count - 1].1, 1000);
            for w in r.windows(2) {
                assert_eq!(w[0].1, w[1].0, "contiguous");
            }
        }
    }

    #[test]
    fn shards_balance_bases_not_records() {
        // One huge record then many small ones: the huge one is a shard by itself.
        let mut lengths = vec![100_000u32];
        lengths.extend(std::iter::repeat_n(1000, 100));
        assert_eq!(ranges(&lengths, 2), [(0, 1), (1, 101)]);
        // Even lengths: even counts.
        assert_eq!(ranges(&[500; 9], 3), [(0, 3), (3, 6), (6, 9)]);
    }

    #[test]
    fn more_shards_than_records_leaves_some_empty() {
        let r = ranges(&[400, 400], 4);
        assert_eq!(r.iter().map(|(s, e)| e - s).sum::<u64>(), 2);
        assert_eq!(r[0].0, 0);
        assert_eq!(r[3].1, 2);
        assert_eq!(ranges(&[], 3), [(0, 0), (0, 0), (0, 0)]);
    }
}
