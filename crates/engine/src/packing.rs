//! Batch planning under a token budget.
//!
//! Packed batches (ESM-2) are filled by first-fit decreasing: sequences sorted by length,
//! longest first, each placed in the first batch that still has room (a real first fit: every
//! open batch is considered, not just the last one). Padded batches (DNABERT-S) are cut from the
//! length-sorted list so that `count * longest` stays within the budget. A sequence longer than
//! the budget gets a batch of its own.

/// One planned batch: positions into the list of items given to the planner.
pub type Plan = Vec<Vec<usize>>;

/// First-fit decreasing of items of `lengths[i]` tokens into batches of at most `budget` tokens.
pub fn first_fit_decreasing(lengths: &[usize], budget: usize) -> Plan {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut room: Vec<usize> = Vec::new();
    for i in order {
        let len = lengths[i];
        match room.iter().position(|&r| r >= len) {
            Some(b) => {
                batches[b].push(i);
                room[b] -= len;
            }
            None => {
                batches.push(vec![i]);
                room.push(budget.saturating_sub(len));
            }
        }
    }
    batches
}

/// Length-sorted padded batches: each holds as many sequences as fit with `count * longest <=
/// budget`.
pub fn padded_batches(lengths: &[usize], budget: usize) -> Plan {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut width = 0;
    for i in order {
        let w = width.max(lengths[i]);
        if !current.is_empty() && (current.len() + 1) * w > budget {
            batches.push(std::mem::take(&mut current));
            width = 0;
        }
        width = width.max(lengths[i]);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Real tokens against token slots, for reporting how much computation is useful.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Efficiency {
    /// Tokens of real sequence.
    pub real_tokens: u64,
    /// Token slots the model computes (real + padding).
    pub computed_slots: u64,
    /// Token capacity of the batches (batches x budget).
    pub capacity: u64,
}

impl Efficiency {
    /// Adds a batch of `lengths` computed padded (`padded`) or packed.
    pub fn add(&mut self, lengths: &[usize], padded: bool, budget: usize) {
        let real: usize = lengths.iter().sum();
        let slots = if padded {
            lengths.len() * lengths.iter().copied().max().unwrap_or(0)
        } else {
            real
        };
        self.real_tokens += real as u64;
        self.computed_slots += slots as u64;
        self.capacity += budget.max(slots) as u64;
    }

    /// Real tokens / computed slots (1.0 when packed: no padding is computed).
    pub fn useful_fraction(&self) -> f64 {
        ratio(self.real_tokens, self.computed_slots)
    }

    /// Real tokens / capacity: how full the batches are.
    pub fn fill(&self) -> f64 {
        ratio(self.real_tokens, self.capacity)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_revisits_earlier_batches() {
        // Next-fit gives [[60], [50, 40], [30, 20]]; first-fit decreasing needs two batches.
        let plan = first_fit_decreasing(&[60, 50, 40, 30, 20], 100);
        assert_eq!(plan.len(), 2, "{plan:?}");
        let mut all: Vec<usize> = plan.concat();
        all.sort();
        assert_eq!(all, [0, 1, 2, 3, 4]);
        for b in &plan {
            assert!(b.iter().map(|&i| [60, 50, 40, 30, 20][i]).sum::<usize>() <= 100);
        }
    }

    #[test]
    fn oversized_items_get_their_own_batch() {
        let plan = first_fit_decreasing(&[500, 10, 10], 100);
        assert_eq!(plan, [vec![0], vec![1, 2]]);
        let plan = padded_batches(&[500, 10, 10], 100);
        assert_eq!(plan, [vec![0], vec![1, 2]]);
    }

    #[test]
    fn padded_batches_respect_the_budget() {
        let lengths = [10, 30, 20, 25, 5, 40];
        let plan = padded_batches(&lengths, 80);
        for b in &plan {
            let w = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() * w <= 80 || b.len() == 1);
        }
        assert_eq!(plan.concat().len(), lengths.len());
        let mut e = Efficiency::default();
        e.add(&[10, 20], true, 100);
        assert_eq!(e.useful_fraction(), 0.75);
    }
}
