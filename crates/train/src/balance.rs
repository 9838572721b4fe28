//! How many host frames each group gives, and which: seeded, in one pass, in bounded memory.
//!
//! The original balances in files of 10,000 frames: every full viral file, then for each of the
//! seven host groups `ceil(n_viral_files / 7)` files drawn at random, then as many host files as
//! viral ones drawn from those (partial files dropped). Here the unit is the frame, with the same
//! proportions and no remainder dropped: the host total equals the viral total, shared as evenly
//! as the groups allow (a group with fewer frames gives all of them and the others make up the
//! rest), and within a group every frame is equally likely to be drawn.

use virnucpro_seq::synthetic::SplitMix64;

/// Frames to take from each group (`available[g]` frames in group `g`) so that they add up to
/// `total` (or to everything, when there is less), as evenly as the groups allow; the
/// remainder of an uneven share goes to the first groups.
pub fn quotas(available: &[u64], total: u64) -> Vec<u64> {
    let mut quota = vec![0u64; available.len()];
    let mut left = total.min(available.iter().sum());
    loop {
        let open: Vec<usize> = (0..available.len())
            .filter(|&g| quota[g] < available[g])
            .collect();
        if left == 0 || open.is_empty() {
            return quota;
        }
        let share = left / open.len() as u64;
        if share == 0 {
            for &g in open.iter().take(left as usize) {
                quota[g] += 1;
            }
            return quota;
        }
        for &g in &open {
            let take = share.min(available[g] - quota[g]);
            quota[g] += take;
            left -= take;
        }
    }
}

/// Draws `k` of `n` items met one at a time, each equally likely to be drawn (selection
/// sampling: item `i` is taken with probability (k - taken) / (n - i)); holds two counters.
pub struct Draw {
    rng: SplitMix64,
    left: u64,
    wanted: u64,
}

impl Draw {
    /// `k` of the `n` items to come, with the random stream of `seed`.
    pub fn new(k: u64, n: u64, seed: u64) -> Self {
        Draw {
            rng: SplitMix64(seed),
            left: n,
            wanted: k.min(n),
        }
    }

    /// Whether the next item is drawn.
    pub fn take_next(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        let take = self.rng.below(self.left) < self.wanted;
        self.left -= 1;
        if take {
            self.wanted -= 1;
        }
        take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_share_evenly_and_a_short_group_gives_all() {
        assert_eq!(quotas(&[100, 100, 100], 90), [30, 30, 30]);
        assert_eq!(quotas(&[5, 100, 100], 90), [5, 43, 42]);
        assert_eq!(quotas(&[5, 6, 7], 90), [5, 6, 7]);
        assert_eq!(quotas(&[10, 10], 3), [2, 1]);
        assert_eq!(quotas(&[], 3), Vec::<u64>::new());
    }

    #[test]
    fn a_draw_takes_exactly_k_and_depends_only_on_the_seed() {
        let picks = |seed| -> Vec<bool> {
            let mut d = Draw::new(7, 50, seed);
            (0..50).map(|_| d.take_next()).collect()
        };
        assert_eq!(picks(1).iter().filter(|&&t| t).count(), 7);
        assert_eq!(picks(1), picks(1));
        assert_ne!(picks(1), picks(2));
        let mut all = Draw::new(80, 50, 3);
        assert!((0..50).all(|_| all.take_next()));
    }
}
