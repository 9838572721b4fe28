//! Row-wise work on token rows in blocks, so that the widest activations of a layer (the
//! feed-forward's `(tokens, 4 x hidden)`) are held for one block of rows at a time, not for the
//! whole batch: a batch's memory beyond the weights stops growing with the token budget. The
//! CPU runs packed batches in groups of the same size ([`crate::batch::Batching`]).
//!
//! Each row of a feed-forward depends on that row alone, and the CPU's matrix products give a
//! row the same bits whatever rows are beside it once a layer is [`ROW_INDEPENDENT_WIDTH`]
//! wide (blocks are never under 3 rows, the shortest sequence), so blocking changes no bit.
//!
//! [`ROW_INDEPENDENT_WIDTH`]: crate::batch::ROW_INDEPENDENT_WIDTH

use candle_core::Tensor;

use crate::error::Result;

/// What one block's widest activation may take (f32): 32 MiB. Each block is split into more
/// operations, which costs time at small widths, so blocks are as large as this allows.
pub const ACTIVATION_BYTES: usize = 32 << 20;

/// Fewest rows a block holds, whatever the width: below this the matrix products lose speed.
pub const MIN_BLOCK_ROWS: usize = 1024;

/// Rows a block holds at most when its widest activation is `width` floats wide: 1024 for
/// ESM-2 3B (feed-forward 10,240), 1,638 for 650M, 3,276 for 150M, 6,553 for 8M.
pub fn block_rows(width: usize) -> usize {
    (ACTIVATION_BYTES / (4 * width.max(1))).max(MIN_BLOCK_ROWS)
}

/// The rows a layer on `device` whose widest activation is `width` wide runs at a time: the
/// CPU's [`block_rows`]; `None` (all at once) on a GPU, where memory is plentiful and the
/// matrix products want every row they can get. Chosen once, when the layer is built.
pub fn for_device(device: &candle_core::Device, width: usize) -> Option<usize> {
    device.is_cpu().then(|| block_rows(width))
}

/// `f` applied to the rows of `x` (`(n, hidden)`), `most` rows or fewer at a time (all at
/// once for `None`), the results stacked in order. The blocks are of near-equal size, so none
/// is a small remainder.
pub fn map_rows(
    x: &Tensor,
    most: Option<usize>,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let n = x.dim(0)?;
    let Some(most) = most.filter(|&most| n > most) else {
        return f(x);
    };
    let mut outs = Vec::with_capacity(n.div_ceil(most));
    for (start, len) in blocks(n, most) {
        outs.push(f(&x.narrow(0, start, len)?)?);
    }
    Ok(Tensor::cat(&outs, 0)?)
}

/// `(start, len)` of near-equal blocks of at most `most` rows covering `0..n`.
fn blocks(n: usize, most: usize) -> Vec<(usize, usize)> {
    let count = n.div_ceil(most).max(1);
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
        let most = 1024;
        for n in [1, 3, most, most + 1, 3 * most + 2, 10_000] {
            let b = blocks(n, most);
            assert_eq!(b.iter().map(|&(_, l)| l).sum::<usize>(), n);
            assert!(b.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            assert!(b.iter().all(|&(_, l)| l <= most));
            let (lo, hi) = (b.iter().map(|x| x.1).min(), b.iter().map(|x| x.1).max());
            assert!(hi.unwrap() - lo.unwrap() <= 1, "{n}: {b:?}");
        }
    }

    #[test]
    fn mapping_in_blocks_equals_mapping_whole() {
        let width = ACTIVATION_BYTES / 4 / MIN_BLOCK_ROWS;
        assert_eq!(block_rows(width), MIN_BLOCK_ROWS);
        assert_eq!(block_rows(width / 4), 4 * MIN_BLOCK_ROWS);
        let n = 2 * MIN_BLOCK_ROWS + 7;
        let data: Vec<f32> = (0..n * 3).map(|i| (i as f32 * 0.1).sin()).collect();
        let x = Tensor::from_vec(data, (n, 3), &Device::Cpu).unwrap();
        let f = |t: &Tensor| -> Result<Tensor> { Ok(((t * 2.0)?.exp()? + 1.0)?) };
        let whole = f(&x).unwrap().to_vec2::<f32>().unwrap();
        let most = for_device(&Device::Cpu, width);
        assert_eq!(most, Some(MIN_BLOCK_ROWS));
        let blocked = map_rows(&x, most, f).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(whole, blocked);
    }
}
