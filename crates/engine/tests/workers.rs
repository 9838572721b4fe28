//! Several model workers on one queue: the output is complete and equal to a single worker's,
//! whichever worker fails, however it fails, and whatever the worker count of a resumed run.
//! Runs on the CPU with the demo models the repository ships.

use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::Device;
use virnucpro_engine::fault::{self, Fault, FaultKind};
use virnucpro_engine::{encoder, output, EngineError, NoProgress, Options, StopFlag, Summary};
use virnucpro_models::Precision;

fn demo_model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/models")
        .join(name)
}

/// A FASTA of `n` synthetic proteins.
fn proteins(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("proteins.faa");
    let text: String = virnucpro_seq::synthetic::proteins(n, 20, 90, 11)
        .iter()
        .enumerate()
        .map(|(i, p)| format!(">p{i}\n{p}\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn options() -> Options {
    Options {
        token_budget: 400,
        checkpoint_every_seqs: 25,
        checkpoint_every: Duration::from_secs(300),
        ..Options::default()
    }
}

/// Embeds `input` into `out` with `count` CPU workers, `fault` injected.
fn run(
    kind: &str,
    input: &Path,
    out: &Path,
    count: usize,
    fault: Option<Fault>,
    options: &Options,
) -> Result<Summary, EngineError> {
    let model = demo_model(if kind == "esm2" {
        "esm2_demo"
    } else {
        "dnabert_demo"
    });
    let workers = encoder::load_workers(
        kind.parse().unwrap(),
        &model,
        &[Device::Cpu],
        count,
        Precision::F32,
    )
    .unwrap();
    let workers = fault::inject(workers, fault);
    let refs: Vec<&dyn encoder::Encoder> = workers.iter().map(|w| w.as_ref()).collect();
    virnucpro_engine::embed_file(
        &refs,
        input,
        out,
        "demo",
        options,
        &NoProgress,
        &StopFlag::new(),
    )
}

/// Same ids in the same order, every value within `tol`.
fn assert_same(a: &output::Embeddings, b: &output::Embeddings, tol: f32) {
    assert_eq!(a.ids, b.ids);
    let worst = a
        .values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst <= tol, "max difference {worst}");
}

fn reference(dir: &Path, input: &Path) -> output::Embeddings {
    let out = dir.join("single/out.h5");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let s = run("esm2", input, &out, 1, None, &options()).unwrap();
    assert_eq!(s.workers.len(), 1);
    output::read(&out).unwrap()
}

#[test]
fn several_workers_share_the_work_and_match_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = proteins(dir.path(), 300);
    let single = reference(dir.path(), &input);

    let out = dir.path().join("three/out.h5");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let s = run("esm2", &input, &out, 3, None, &options()).unwrap();
    assert_eq!(s.workers.len(), 3);
    assert_eq!(s.workers.iter().map(|w| w.sequences).sum::<u64>(), 300);
    assert!(s.workers.iter().all(|w| w.failure.is_none()));
    assert!(s.scaling_efficiency() > 0.0 && s.scaling_efficiency() <= 1.0);
    assert_same(&single, &output::read(&out).unwrap(), 1e-6);
}

#[test]
fn a_failing_worker_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = proteins(dir.path(), 300);
    let single = reference(dir.path(), &input);
    for (name, kind) in [
        ("error", FaultKind::Error),
        ("panic", FaultKind::Panic),
        ("oom", FaultKind::OutOfMemory),
    ] {
        for rank in [0, 2] {
            let out = dir.path().join(format!("{name}{rank}/out.h5"));
            std::fs::create_dir_all(out.parent().unwrap()).unwrap();
            let fault = Fault {
                rank,
                kind,
                after_batches: 1,
            };
            let s = run("esm2", &input, &out, 3, Some(fault), &options())
                .unwrap_or_else(|e| panic!("{name} in worker {rank}: {e}"));
            let report = &s.workers[rank];
            match kind {
                FaultKind::OutOfMemory => {
                    assert!(report.oom_splits > 0, "{name}: the batch was split");
                    assert!(
                        report.failure.is_none(),
                        "{name}: singles fit, no retirement"
                    );
                }
                _ => {
                    let why = report.failure.as_deref().expect("the worker retired");
                    assert!(why.contains("injected"), "{why}");
                }
            }
            assert_eq!(s.computed, 300, "{name} in worker {rank}");
            // Split batches compute the same rows in other groupings.
            assert_same(&single, &output::read(&out).unwrap(), 1e-5);
        }
    }
}

#[test]
fn the_run_fails_only_when_no_worker_is_left_and_then_resumes_with_any_count() {
    let dir = tempfile::tempdir().unwrap();
    let input = proteins(dir.path(), 300);
    let single = reference(dir.path(), &input);
    let out = dir.path().join("lost/out.h5");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();

    // One worker only, failing after two batches: the run fails with the worker's error.
    let fault = Fault {
        rank: 0,
        kind: FaultKind::Error,
        after_batches: 2,
    };
    let err = run("esm2", &input, &out, 1, Some(fault), &options()).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert!(!out.exists());
    let checkpoints = dir.path().join("lost/checkpoints");
    let shard0 = std::fs::read_dir(checkpoints.join("worker_0"))
        .unwrap()
        .count();
    assert!(shard0 >= 1, "the finished batches were checkpointed");

    // Resumed by three workers: nothing recomputed twice, nothing missing.
    let s = run("esm2", &input, &out, 3, None, &options()).unwrap();
    assert!(s.resumed > 0 && s.resumed + s.computed == 300, "{s:?}");
    assert_same(&single, &output::read(&out).unwrap(), 1e-6);
}

#[test]
fn every_worker_failing_names_each() {
    let dir = tempfile::tempdir().unwrap();
    let input = proteins(dir.path(), 120);
    let out = dir.path().join("all/out.h5");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let model = demo_model("esm2_demo");
    let workers = encoder::load_workers(
        virnucpro_engine::ModelKind::Esm2,
        &model,
        &[Device::Cpu],
        2,
        Precision::F32,
    )
    .unwrap()
    .into_iter()
    .enumerate()
    .map(|(rank, w)| -> Box<dyn encoder::Encoder> {
        Box::new(fault::FaultyEncoder::new(
            w,
            Fault {
                rank,
                kind: FaultKind::Error,
                after_batches: 1,
            },
        ))
    })
    .collect::<Vec<_>>();
    let refs: Vec<&dyn encoder::Encoder> = workers.iter().map(|w| w.as_ref()).collect();
    let err = virnucpro_engine::embed_file(
        &refs,
        &input,
        &out,
        "demo",
        &options(),
        &NoProgress,
        &StopFlag::new(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::WorkersFailed(_)), "{text}");
    assert!(
        text.contains("worker 0 (cpu)") && text.contains("worker 1 (cpu)"),
        "{text}"
    );
    // Resuming with healthy workers completes it.
    let s = run("esm2", &input, &out, 2, None, &options()).unwrap();
    assert_eq!(s.resumed + s.computed, 120);
}

#[test]
fn padded_models_run_on_several_workers_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dna.fna");
    let mut text = String::new();
    for (i, s) in virnucpro_seq::synthetic::proteins(80, 30, 120, 5)
        .iter()
        .enumerate()
    {
        // Map residues onto bases: any deterministic DNA of varied length will do.
        let dna: String = s
            .bytes()
            .map(|b| b"ACGT"[(b % 4) as usize] as char)
            .collect();
        text.push_str(&format!(">d{i}\n{dna}\n"));
    }
    std::fs::write(&path, text).unwrap();
    let one = dir.path().join("one/out.h5");
    let two = dir.path().join("two/out.h5");
    for p in [&one, &two] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    }
    run("dnabert", &path, &one, 1, None, &options()).unwrap();
    let fault = Fault {
        rank: 1,
        kind: FaultKind::Panic,
        after_batches: 1,
    };
    run("dnabert", &path, &two, 2, Some(fault), &options()).unwrap();
    assert_same(
        &output::read(&one).unwrap(),
        &output::read(&two).unwrap(),
        1e-6,
    );
}

#[test]
fn a_model_no_device_can_load_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for devices in [vec![Device::Cpu], vec![Device::Cpu, Device::Cpu]] {
        let err = match encoder::load_workers(
            virnucpro_engine::ModelKind::Esm2,
            dir.path(),
            &devices,
            2,
            Precision::F32,
        ) {
            Ok(_) => panic!("an empty directory loaded as a model"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("config.json"), "{err}");
    }
    let two = encoder::load_workers(
        virnucpro_engine::ModelKind::Esm2,
        &demo_model("esm2_demo"),
        &[Device::Cpu, Device::Cpu],
        2,
        Precision::F32,
    )
    .unwrap();
    assert_eq!(two.len(), 4);
}
