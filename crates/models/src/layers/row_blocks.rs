//! Row-wise work on token rows in blocks, so that the widest activations of a layer (the
//! feed-forward's `(tokens, 4 x hidden)`) are held for one block of rows at a time, not for the
//! whole batch: a batch's memory beyond the weights stops growing with the token budget.
//!
//! Each row of a feed-forward depends on that row alone, and the CPU's matrix products give a
//! row the same bits whatever rows are beside it once a layer is [`ROW_INDEPENDENT_WIDTH`]
//! wide (blocks are never under 3 rows, the shortest sequence), so blocking changes no bit.
//!
//! [`ROW_INDEPENDENT_WIDTH`]: crate::batch::ROW_INDEPENDENT_WIDTH

use candle_core::Tensor;

use crate::error::Result;

/// Rows a block holds at most: 1024 tokens of ESM-2 3B's feed-forward are 42 MB in f32.
pub const BLOCK_ROWS: usize = 1024;

/// `f` applied to the rows of `x` (`(n, width)`), `BLOCK_ROWS` rows or fewer at a time, the
/// results stacked in order. The blocks are of near-equal size, so none is a small remainder.
pub fn map_rows(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let n = x.dim(0)?;
    if n <= BLOCK_ROWS {
        return f(x);
    }
    let mut outs = Vec::with_capacity(n.div_ceil(BLOCK_ROWS));
    for (start, len) in blocks(n) {
        outs.push(f(&x.narrow(0, start, len)?)?);
    }
    Ok(Tensor::cat(&outs, 0)?)
}

/// `(start, len)` of near-equal blocks of at most [`BLOCK_ROWS`] covering `0..n`.
fn blocks(n: usize) -> Vec<(usize, usize)> {
    let count = n.div_ceil(BLOCK_ROWS).max(1);
    let (base, extra) = (n / count, n % count);
    let mut start = 0;
    (0..count)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let block = (start, len);
            start += len;
            block
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn blocks_cover_the_rows_in_near_equal_parts() {
        for n in [1, 3, BLOCK_ROWS, BLOCK_ROWS + 1, 3 * BLOCK_ROWS + 2, 10_000] {
            let b = blocks(n);
            assert_eq!(b.iter().map(|&(_, l)| l).sum::<usize>(), n);
            assert!(b.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            assert!(b.iter().all(|&(_, l)| l <= BLOCK_ROWS));
            let (lo, hi) = (b.iter().map(|x| x.1).min(), b.iter().map(|x| x.1).max());
            assert!(hi.unwrap() - lo.unwrap() <= 1, "{n}: {b:?}");
        }
    }

    #[test]
    fn mapping_in_blocks_equals_mapping_whole() {
        let n = 2 * BLOCK_ROWS + 7;
        let data: Vec<f32> = (0..n * 3).map(|i| (i as f32 * 0.1).sin()).collect();
        let x = Tensor::from_vec(data, (n, 3), &Device::Cpu).unwrap();
        let f = |t: &Tensor| -> Result<Tensor> { Ok(((t * 2.0)?.exp()? + 1.0)?) };
        let whole = f(&x).unwrap().to_vec2::<f32>().unwrap();
        let blocked = map_rows(&x, f).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(whole, blocked);
    }
}
