//! `virnucpro dataset`: the training set from labelled genomes, and what it holds.

use anyhow::Result;
use virnucpro_train::{make_dataset, DatasetRequest, Label, Source, SplitBy};

use crate::args::DatasetArgs;

/// Builds the set and reports its counts.
pub fn run(args: DatasetArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let mut sources: Vec<Source> = args
        .viral
        .iter()
        .map(|path| Source {
            path: path.clone(),
            label: Label::Viral,
            group: "viral".to_string(),
        })
        .collect();
    sources.extend(args.host.iter().map(|(group, path)| Source {
        path: path.clone(),
        label: Label::Host,
        group: group.clone(),
    }));
    let req = DatasetRequest {
        sources,
        length: args.length as usize,
        seed: args.seed,
        test_fraction: args.test_fraction,
        split_by: if args.split_by == "genome" {
            SplitBy::Genome
        } else {
            SplitBy::Frame
        },
        balance: !args.no_balance,
        out_dir: args.output.clone(),
    };
    let s = make_dataset(&req)?;
    for g in &s.groups {
        tracing::info!(
            "{} {}: {} frames drawn of {} ({} in the test set)",
            g.label,
            g.group,
            g.frames,
            g.candidate_frames,
            g.test_frames
        );
    }
    for src in s.sources.iter().filter(|s| s.format == "fasta") {
        tracing::info!(
            "{}: FASTA, so every stop-free frame was a candidate (no annotation to pick the \
             coding frame)",
            src.path.display()
        );
    }
    tracing::info!(
        "training set in {}: {} frames ({} viral, {} host; {} held out for testing) in {:.1} s",
        args.output.display(),
        s.frames,
        s.viral_frames,
        s.host_frames,
        s.test_frames,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
