//! Ordered parallel map: the work runs on many threads, the results come out in input order.
//!
//! Rayon's parallel iterators need the whole input up front, or lose the order when bridged from
//! a stream; the stages here read a file of any size and must write their output in input order.
//! So: one thread pulls items from the source, `threads` workers process them, and the calling
//! thread puts results back in order and hands them to the sink. Every channel is bounded and at
//! most `window` items are in flight, so memory stays flat whatever the input size.

use std::collections::BTreeMap;

use crossbeam_channel::{bounded, Receiver, Sender};

/// Runs `work` over `source` on `threads` threads and passes each result to `sink` in source
/// order. Stops at the first error (from the source, a worker or the sink), which is returned;
/// errors are reported in input order, so the same input always gives the same error.
pub fn ordered_map<S, T, U, E, W, K>(
    source: S,
    threads: usize,
    work: W,
    mut sink: K,
) -> Result<(), E>
where
    S: Iterator<Item = Result<T, E>> + Send,
    T: Send,
    U: Send,
    E: Send,
    W: Fn(T) -> Result<U, E> + Sync,
    K: FnMut(U) -> Result<(), E>,
{
    let threads = threads.max(1);
    let window = threads * 4;
    let (job_tx, job_rx) = bounded::<(u64, T)>(threads * 2);
    let (result_tx, result_rx) = bounded::<(u64, Result<U, E>)>(window);
    // A token is needed to start an item and is given back when its result leaves in order.
    let (token_tx, token_rx) = bounded::<()>(window);
    for _ in 0..window {
        token_tx
            .send(())
            .expect("the token channel has room for the whole window");
    }

    std::thread::scope(|scope| {
        scope.spawn({
            let result_tx = result_tx.clone();
            move || feed(source, token_rx, job_tx, result_tx)
        });
        for _ in 0..threads {
            let job_rx: Receiver<(u64, T)> = job_rx.clone();
            let result_tx: Sender<(u64, Result<U, E>)> = result_tx.clone();
            let work = &work;
            scope.spawn(move || {
                for (index, item) in job_rx {
                    if result_tx.send((index, work(item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(job_rx);
        drop(result_tx);

        let mut next = 0u64;
        let mut pending = BTreeMap::new();
        let outcome = (|| {
            for (index, result) in &result_rx {
                pending.insert(index, result);
                while let Some(result) = pending.remove(&next) {
                    next += 1;
                    sink(result?)?;
                    // The feeder may have finished already; a closed channel is fine.
                    let _ = token_tx.send(());
                }
            }
            Ok(())
        })();
        // On error, closing these unblocks the feeder and the workers so the scope can end.
        drop(token_tx);
        drop(result_rx);
        outcome
    })
}

fn feed<S, T, U, E>(
    source: S,
    tokens: Receiver<()>,
    jobs: Sender<(u64, T)>,
    results: Sender<(u64, Result<U, E>)>,
) where
    S: Iterator<Item = Result<T, E>>,
{
    for (index, item) in (0u64..).zip(source) {
        if tokens.recv().is_err() {
            return;
        }
        let sent = match item {
            Ok(item) => jobs.send((index, item)).is_ok(),
            Err(e) => {
                let _ = results.send((index, Err(e)));
                return;
            }
        };
        if !sent {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_input_order() {
        let mut out = Vec::new();
        let source = (0..1000u64).map(Ok::<_, String>);
        ordered_map(
            source,
            4,
            |x| {
                // Make later items finish first now and then.
                if x % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                Ok(x * 2)
            },
            |y| {
                out.push(y);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(out, (0..1000u64).map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn first_error_in_input_order_wins() {
        let mut seen = Vec::new();
        let source = (0..100u64).map(|x| if x == 60 { Err(x) } else { Ok(x) });
        let err = ordered_map(
            source,
            3,
            |x| if x == 40 || x == 50 { Err(x) } else { Ok(x) },
            |y| {
                seen.push(y);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err, 40);
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn sink_errors_stop_everything() {
        let source = (0..1_000_000u64).map(Ok::<_, u64>);
        let err = ordered_map(source, 2, Ok, |y| if y == 10 { Err(y) } else { Ok(()) });
        assert_eq!(err, Err(10));
    }
}
