//! `virnucpro predict` as users run it, on the shipped demo models (random weights): crash in
//! each stage then rerun, reruns, and the bad-input matrix.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models() -> [String; 6] {
    let m = root().join("examples/models");
    [
        "--esm".into(),
        m.join("esm2_demo").display().to_string(),
        "--dnabert".into(),
        m.join("dnabert_demo").display().to_string(),
        "--classifier".into(),
        m.join("classifier_demo").display().to_string(),
    ]
}

/// The demo model flags, less those that `extra` overrides.
fn model_flags(extra: &[&str]) -> Vec<String> {
    models()
        .chunks(2)
        .filter(|pair| !extra.contains(&pair[0].as_str()))
        .flat_map(|pair| pair.to_vec())
        .collect()
}

fn predict_cmd(input: &Path, out: &Path, extra: &[&str]) -> Command {
    predict_cmd_threads(input, out, "1", extra)
}

fn predict_cmd_threads(input: &Path, out: &Path, threads: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_virnucpro"));
    cmd.args(["-t", threads, "predict"])
        .arg(input)
        .args(["-L", "500", "-o"])
        .arg(out)
        .args(model_flags(extra))
        .args(["--checkpoint-every-seqs", "40"])
        .args(if extra.contains(&"--token-budget") {
            &[][..]
        } else {
            &["--token-budget", "512"][..]
        })
        .args(extra)
        .env_remove("VIRNUCPRO_ESM")
        .env_remove("VIRNUCPRO_DNABERT")
        .env_remove("VIRNUCPRO_CLASSIFIER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn run(input: &Path, out: &Path, extra: &[&str]) -> Output {
    predict_cmd(input, out, extra).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A synthetic input big enough for each stage to take a moment.
fn input(dir: &Path) -> PathBuf {
    let path = dir.join("contigs.fa");
    let spec = virnucpro_seq::synthetic::SyntheticSpec {
        seed: 9,
        total_bases: 1_500_000,
        min_len: 300,
        max_len: 3000,
    };
    let mut f = std::fs::File::create(&path).unwrap();
    virnucpro_seq::synthetic::write_fasta(spec, &mut f).unwrap();
    path
}

/// The result files of `a` and `b` are byte for byte the same: a frame's scores do not
/// depend on how it was batched, resumed, sharded or spread over workers, nor do the
/// per-sequence calls.
fn assert_same(a: &Path, b: &Path) {
    for name in [
        "prediction_results.txt",
        "prediction_results_highestscore.csv",
        "sequence_summary.tsv",
        "viruses.fna",
    ] {
        let x = std::fs::read_to_string(a.join(name)).unwrap();
        let y = std::fs::read_to_string(b.join(name)).unwrap();
        if x != y {
            let diff = x
                .lines()
                .zip(y.lines())
                .find(|(l, m)| l != m)
                .map(|(l, m)| format!("'{l}' vs '{m}'"))
                .unwrap_or_else(|| format!("{} vs {} lines", x.lines().count(), y.lines().count()));
            panic!(
                "{name} of {} and {} differ: {diff}",
                a.display(),
                b.display()
            );
        }
    }
}

fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

#[test]
fn a_crash_in_each_stage_then_a_rerun_gives_the_clean_result() {
    let work = tempfile::tempdir().unwrap();
    let input = input(work.path());
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&input, &clean, &[]);
    assert!(
        stderr(&o).contains("already holds this finished run"),
        "{}",
        stderr(&o)
    );

    // Where to kill: as soon as the run record exists (reading the input), once a first
    // checkpoint is written, once a third is.
    type KillPoint = fn(&Path) -> bool;
    let stages: [(&str, KillPoint); 3] = [
        ("start", |out| out.join("run.json").exists()),
        ("first checkpoint", |out| {
            files_under(&out.join("intermediates/checkpoints/worker_0")) >= 1
        }),
        ("third checkpoint", |out| {
            files_under(&out.join("intermediates/checkpoints/worker_0")) >= 3
        }),
    ];
    for (name, reached) in stages {
        let out = work.path().join(name);
        let mut child = predict_cmd(&input, &out, &[]).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !reached(&out) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{name}: finished before the kill point"
            );
            assert!(
                Instant::now() < deadline,
                "{name}: kill point never reached"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            !out.join("prediction_results.txt").exists(),
            "{name}: no half result"
        );
        let o = run(&input, &out, &[]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_same(&out, &clean);
        assert!(!out.join("intermediates").exists());
    }
}

#[test]
fn bad_flags_and_missing_models_are_clear_errors() {
    let work = tempfile::tempdir().unwrap();
    let demo = root().join("examples/demo.fa");
    let out = work.path().join("o");
    let m = models();
    // Usage errors: exit 2, with what to give instead.
    for (extra, expected) in [
        (&["-L", "400"][..], "possible values"),
        (&["--precision", "fp8"], "unknown precision"),
        (&["--checkpoint-every-seqs", "0"], "0"),
        (
            &["--checkpoint-every-secs", "0"],
            "positive number of seconds",
        ),
        (
            &["--checkpoint-every-secs", "soon"],
            "positive number of seconds",
        ),
        (&["--device", "gpu"], "use auto, cpu, cuda"),
        (&["--device", "tpu"], "use auto, cpu, cuda"),
        (&["--device", "cuda:"], "use auto, cpu, cuda"),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_virnucpro"));
        cmd.arg("predict")
            .arg(&demo)
            .args(["-o"])
            .arg(&out)
            .args(&m);
        if extra[0] != "-L" {
            cmd.args(["-L", "500"]);
        }
        let o = cmd.args(extra).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(expected),
            "{extra:?}: expected '{expected}' in {}",
            stderr(&o)
        );
    }
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--device".into(), "cuda:0,1".into()],
            "no CUDA support",
        ),
        (
            vec!["--device".into(), "cuda:1,1".into()],
            "names cuda:1 twice",
        ),
        (
            vec!["--esm".into(), "/nonexistent/esm".into()],
            "no config.json",
        ),
        (
            vec!["--classifier".into(), "/nonexistent/500_model.pth".into()],
            "does not exist",
        ),
        (
            vec![
                "--classifier".into(),
                root().join("examples").display().to_string(),
            ],
            "holds no 500_model.pth",
        ),
    ];
    for (extra, expected) in cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let o = run(&demo, &out, &extra);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(expected),
            "{extra:?}: expected '{expected}' in {}",
            stderr(&o)
        );
    }
    // A missing input: said once, naming the file.
    let o = run(&work.path().join("missing.fa"), &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("No such file or directory").count(),
        1,
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("missing.fa"), "{}", stderr(&o));
    // No models anywhere.
    let o = Command::new(env!("CARGO_BIN_EXE_virnucpro"))
        .arg("predict")
        .arg(&demo)
        .args(["-L", "500", "-o"])
        .arg(&out)
        .env("HF_HOME", work.path())
        .env("VIRNUCPRO_HOME", work.path())
        .env_remove("VIRNUCPRO_ESM")
        .env_remove("VIRNUCPRO_DNABERT")
        .env_remove("VIRNUCPRO_CLASSIFIER")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--esm DIR") && stderr(&o).contains("VIRNUCPRO_ESM"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unwritable_output_and_mismatched_classifier_leave_nothing_half_written() {
    let work = tempfile::tempdir().unwrap();
    let demo = root().join("examples/demo.fa");
    // An output "directory" that is a file.
    let blocker = work.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let o = run(&demo, &blocker.join("sub"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot create"), "{}", stderr(&o));

    // A classifier whose input width does not fit the embedding models (golden 3328-wide one),
    // or a safetensors file that is not a classifier at all.
    let bogus = work.path().join("500_model.safetensors");
    std::fs::copy(
        root().join("examples/models/esm2_demo/model.safetensors"),
        &bogus,
    )
    .unwrap();
    let out = work.path().join("o2");
    let o = run(&demo, &out, &["--classifier", bogus.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a VirNucPro classifier"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join("prediction_results.txt").exists());
}

#[test]
fn the_demo_runs_and_marks_zero_frames_with_headers() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("demo");
    let o = run(&root().join("examples/demo.fa"), &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = std::fs::read_to_string(out.join("prediction_results.txt")).unwrap();
    assert!(rows.lines().count() > 6, "{rows}");
    // Random sequence only: every frame meets a stop.
    let input = work.path().join("stops.fa");
    std::fs::write(&input, ">a\nTAACTAACTAAGTTAGTTAGTTA\n").unwrap();
    let out = work.path().join("zero");
    let o = run(&input, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("header only"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("prediction_results.txt")).unwrap(),
        "Sequence_ID\tPrediction\tscore1\tscore2\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("prediction_results_highestscore.csv")).unwrap(),
        "Modified_ID\tIs_Virus\n"
    );
}

/// Files under `dir`, recursively.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing_half_written() {
    // A 48 KiB tmpfs stands in for a full disk; mounting needs root (CI runs as root).
    let Some(mount) = virnucpro_testkit::Tmpfs::mount("48k") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let input = input(work.path());
    let out = mount.path().join("out");
    let o = run(&input, &out, &[]);
    let files = all_files(mount.path());
    drop(mount);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("No space left on device"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(
            !name.ends_with(".tmp"),
            "a temporary file was left: {}",
            f.display()
        );
        assert!(
            !name.starts_with("prediction_results"),
            "a result was written: {}",
            f.display()
        );
    }
}

/// A smaller synthetic input for the scale-out runs.
fn small_input(dir: &Path) -> PathBuf {
    let path = dir.join("small.fa");
    let spec = virnucpro_seq::synthetic::SyntheticSpec {
        seed: 21,
        total_bases: 300_000,
        min_len: 200,
        max_len: 4000,
    };
    let mut f = std::fs::File::create(&path).unwrap();
    virnucpro_seq::synthetic::write_fasta(spec, &mut f).unwrap();
    path
}

fn merge(shards: &[&Path], out: &Path) -> Output {
    merge_with(shards, out, None)
}

/// `merge`, with `--kraken-output` when given.
fn merge_with(shards: &[&Path], out: &Path, kraken: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_virnucpro"));
    cmd.arg("merge").args(shards).arg("-o").arg(out);
    if let Some(kraken) = kraken {
        cmd.arg("--kraken-output").arg(kraken);
    }
    cmd.output().unwrap()
}

/// `predict --shard i/n` of `input` for i in 1..=n, each into `work/shard<i>`.
fn shard_runs(work: &Path, input: &Path, n: usize) -> Vec<PathBuf> {
    (1..=n)
        .map(|i| {
            let dir = work.join(format!("shard{i}"));
            let o = run(input, &dir, &["--shard", &format!("{i}/{n}")]);
            assert!(o.status.success(), "{}", stderr(&o));
            dir
        })
        .collect()
}

#[test]
fn cpu_workers_and_shards_give_the_one_worker_result() {
    let work = tempfile::tempdir().unwrap();
    let input = small_input(work.path());
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Three CPU workers, one of them failing or panicking part-way: the same result.
    for fault in ["1:error:0", "2:panic:0", "0:oom:0"] {
        let out = work
            .path()
            .join(format!("workers-{}", fault.replace(':', "-")));
        let o = predict_cmd(&input, &out, &["--device", "cpu", "--workers", "3"])
            .env("VIRNUCPRO_INJECT_FAULT", fault)
            .output()
            .unwrap();
        assert!(o.status.success(), "{fault}: {}", stderr(&o));
        let log = stderr(&o);
        assert!(log.contains("scaling efficiency"), "{log}");
        if !fault.contains("oom") {
            assert!(log.contains("retired"), "{fault}: {log}");
        }
        assert_same(&out, &clean);
    }

    // Three shards, merged: the same result, and a directory `predict` sees as finished.
    let shards: Vec<PathBuf> = (1..=3)
        .map(|i| work.path().join(format!("shard{i}")))
        .collect();
    for (i, dir) in shards.iter().enumerate() {
        let spec = format!("{}/3", i + 1);
        let o = run(&input, dir, &["--shard", &spec, "--save-embeddings"]);
        assert!(o.status.success(), "shard {spec}: {}", stderr(&o));
    }
    let refs: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    let merged = work.path().join("merged");
    // Any order on the command line.
    let o = merge(&[refs[2], refs[0], refs[1]], &merged);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(&merged, &clean);
    assert!(merged.join("embeddings.h5").is_file());
    let o = run(&input, &merged, &[]);
    assert!(
        stderr(&o).contains("already holds this finished run"),
        "{}",
        stderr(&o)
    );

    // A retried merge (a workflow engine's retry) writes the same result again.
    let o = merge(&[refs[0], refs[1], refs[2]], &merged);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(&merged, &clean);
    // Not over a finished `predict` run of the same input and models either, without --force:
    // only a merge's own earlier result is replaced.
    let o = merge(&[refs[0], refs[1], refs[2]], &clean);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    let clean_record = std::fs::read_to_string(clean.join("run.json")).unwrap();
    assert!(!clean_record.contains("merged_shards"), "{clean_record}");
    // Never into a shard; into another run's results only with --force.
    let o = merge(&[refs[0], refs[1], refs[2]], refs[1]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is one of the shards"));
    let demo = work.path().join("demo");
    let o = run(&root().join("examples/demo.fa"), &demo, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let demo_results = std::fs::read(demo.join("prediction_results.txt")).unwrap();
    let o = merge(&[refs[0], refs[1], refs[2]], &demo);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(
        std::fs::read(demo.join("prediction_results.txt")).unwrap(),
        demo_results
    );
    let merged_kraken = work.path().join("merged.kraken");
    let o = Command::new(env!("CARGO_BIN_EXE_virnucpro"))
        .args(["merge", "--force", "-o"])
        .arg(&demo)
        .args(&refs)
        .arg("--kraken-output")
        .arg(&merged_kraken)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(&demo, &clean);
    // The per-sequence files of the merge are those of the single run, Kraken lines too.
    let clean_kraken = work.path().join("clean.kraken");
    let o = run(
        &input,
        &clean,
        &["--kraken-output", clean_kraken.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&merged_kraken).unwrap(),
        std::fs::read(&clean_kraken).unwrap()
    );
    let counts = |dir: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["counts"].clone()
    };
    assert_eq!(counts(&demo), counts(&clean));

    // What merge refuses: a missing shard, a shard twice, a shard of another run.
    let bad = work.path().join("bad");
    let o = merge(&refs[..2], &bad);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("3/3 missing"));
    let o = merge(&[refs[0], refs[0], refs[1], refs[2]], &bad);
    assert!(String::from_utf8_lossy(&o.stderr).contains("given twice"));
    let o = merge(&[refs[0], &clean], &bad);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not started with --shard"));
    let other_input = work.path().join("other.fa");
    let text = std::fs::read_to_string(&input).unwrap();
    let half: Vec<&str> = text.lines().take(text.lines().count() / 2).collect();
    std::fs::write(&other_input, half.join("\n") + "\n").unwrap();
    let other = work.path().join("other");
    let o = run(&other_input, &other, &["--shard", "3/3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = merge(&[refs[0], refs[1], &other], &bad);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("different input"));
    assert!(!bad.join("prediction_results.txt").exists());

    // Shard specs outside 1..N are usage errors.
    for spec in ["0/3", "4/3", "x"] {
        let o = run(&input, &bad, &["--shard", spec]);
        assert_eq!(o.status.code(), Some(2), "{spec}");
    }
}

#[test]
fn any_batching_gives_the_same_bytes() {
    let work = tempfile::tempdir().unwrap();
    let input = small_input(work.path());
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Other token budgets (other batch compositions), threads and workers: the same bytes.
    for (name, threads, extra) in [
        ("budget-100", "1", vec!["--token-budget", "100"]),
        ("budget-5000-t2", "2", vec!["--token-budget", "5000"]),
        ("workers-2", "2", vec!["--device", "cpu", "--workers", "2"]),
    ] {
        let out = work.path().join(name);
        let o = predict_cmd_threads(&input, &out, threads, &extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_same(&out, &clean);
    }
}

#[test]
fn a_second_run_into_a_busy_directory_is_refused_and_a_dead_holder_is_taken_over() {
    let work = tempfile::tempdir().unwrap();
    let input = small_input(work.path());
    let out = work.path().join("busy");
    let mut first = predict_cmd(&input, &out, &[]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.join("run.json").exists() {
        assert!(first.try_wait().unwrap().is_none(), "finished too soon");
        assert!(Instant::now() < deadline, "the first run never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Another input into the same directory while the first runs: refused at once.
    let started = Instant::now();
    let o = run(&root().join("examples/demo.fa"), &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is in use by another run")
            && stderr(&o).contains(&format!("pid {}", first.id())),
        "{}",
        stderr(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(first.try_wait().unwrap().is_none(), "the first run goes on");
    // The holder dies: its lock goes with it, and the rerun finishes the run.
    first.kill().unwrap();
    first.wait().unwrap();
    let o = run(&input, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same(&out, &clean);
}

#[test]
fn a_run_failed_on_a_bad_letter_reruns_once_the_input_is_fixed() {
    let work = tempfile::tempdir().unwrap();
    let input = small_input(work.path());
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The same input with a letter that is no nucleotide in a late record.
    let good = std::fs::read_to_string(&input).unwrap();
    let at = good.rfind('>').unwrap();
    let line = at + good[at..].find('\n').unwrap() + 1;
    let mut bad = good.clone();
    bad.replace_range(line + 3..line + 4, "J");
    let file = work.path().join("edited.fa");
    std::fs::write(&file, &bad).unwrap();
    let out = work.path().join("out");
    let o = run(&file, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not an IUPAC nucleotide letter"),
        "{}",
        stderr(&o)
    );
    // Fixed in place: the rerun takes up what the failed run finished and ends clean.
    std::fs::write(&file, &good).unwrap();
    let o = run(&file, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same(&out, &clean);
}

#[test]
fn sigterm_while_the_results_are_written_commits_nothing_and_the_rerun_finishes() {
    let work = tempfile::tempdir().unwrap();
    let input = input(work.path());
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &["--save-embeddings"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The signal must land while the result files are being written (their temporary files
    // exist): a few tries, in case the writing is over before the signal arrives.
    let mut caught = false;
    for attempt in 0..5 {
        let out = work.path().join(format!("term{attempt}"));
        let mut child = predict_cmd(&input, &out, &["--save-embeddings"])
            .spawn()
            .unwrap();
        let writing = |dir: &Path| {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".prediction_results.txt.")
                })
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        while !writing(&out) && child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the run never reached its writing"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let o = child.wait_with_output().unwrap();
        if o.status.code() == Some(0) {
            continue; // finished before the signal
        }
        assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
        assert!(!out.join("prediction_results.txt").exists());
        assert!(!out.join("prediction_results_highestscore.csv").exists());
        assert!(!writing(&out), "a temporary result file was left");
        let o = run(&input, &out, &["--save-embeddings"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_same(&out, &clean);
        caught = true;
        break;
    }
    assert!(
        caught,
        "no attempt signalled the run while it wrote its results"
    );
}

/// The input records (id, sequence) of a FASTA file.
fn records(path: &Path) -> Vec<(String, Vec<u8>)> {
    virnucpro_seq::fasta::read_all(path)
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.seq))
        .collect()
}

/// `sequence_summary.tsv` as computed here from `prediction_results.txt` and the input:
/// (id, length, chunks, scored, viral, score) per record, in input order.
fn expected_summary(
    input: &[(String, Vec<u8>)],
    results: &str,
) -> Vec<(String, u64, u64, u64, u64, Option<f64>)> {
    let mut by_chunk: std::collections::HashMap<String, (f32, f32)> = Default::default();
    for line in results.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let chunk = f[0][..f[0].len() - 2].to_string();
        let (others, virus): (f32, f32) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        let e = by_chunk
            .entry(chunk)
            .or_insert((f32::NEG_INFINITY, f32::NEG_INFINITY));
        e.0 = e.0.max(others);
        e.1 = e.1.max(virus);
    }
    input
        .iter()
        .map(|(id, seq)| {
            let chunks = virnucpro_seq::chunk_spans(seq.len(), 500).count() as u64;
            let mut scored = 0;
            let mut viral = 0;
            let mut sum = 0.0f64;
            for k in 1..=chunks {
                if let Some(&(others, virus)) = by_chunk.get(&format!("{id}_chunk_{k}")) {
                    scored += 1;
                    sum += f64::from(virus);
                    if virus >= others {
                        viral += 1;
                    }
                }
            }
            let score = (scored > 0).then(|| sum / scored as f64);
            (id.clone(), seq.len() as u64, chunks, scored, viral, score)
        })
        .collect()
}

#[test]
fn per_sequence_outputs_agree_with_the_frame_results() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("mixed.fa");
    let mut text = std::fs::read_to_string(root().join("examples/demo.fa")).unwrap();
    // Shorter than a codon, and one whose every frame meets a stop: both unscored.
    text.push_str(">tiny two bases\nAC\n>stops\nTAACTAACTAAGTTAGTTAGTTA\n");
    std::fs::write(&input, &text).unwrap();
    let first = work.path().join("default");
    let o = run(&input, &first, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results = std::fs::read_to_string(first.join("prediction_results.txt")).unwrap();
    let want = expected_summary(&records(&input), &results);

    // A threshold between the scores, so that both calls occur.
    let mut scores: Vec<f64> = want.iter().filter_map(|w| w.5).collect();
    scores.sort_by(f64::total_cmp);
    let threshold = (scores[scores.len() / 2] + scores[scores.len() / 2 - 1]) / 2.0;
    let threshold = format!("{threshold:.6}");
    let min_score: f64 = threshold.parse().unwrap();
    let out = work.path().join("threshold");
    let kraken = work.path().join("calls.kraken");
    let o = run(
        &input,
        &out,
        &[
            "--min-score",
            &threshold,
            "--kraken-output",
            kraken.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same(&first, &out.join("../default"));
    let tsv = std::fs::read_to_string(out.join("sequence_summary.tsv")).unwrap();
    let mut lines = tsv.lines();
    assert_eq!(
        lines.next(),
        Some("seq_id\tlength\tchunks\tscored_chunks\tviral_chunks\tvirus_score\tcall")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), want.len(), "one row per input sequence");
    let mut viral_ids = Vec::new();
    for (row, w) in rows.iter().zip(&want) {
        assert_eq!(row[0], w.0);
        assert_eq!(
            row[1..5],
            [w.1, w.2, w.3, w.4].map(|n| n.to_string()),
            "{row:?}"
        );
        let call = match w.5 {
            None => {
                assert_eq!(row[5], "NA");
                "unscored"
            }
            Some(score) => {
                let got: f64 = row[5].parse().unwrap();
                assert!((got - score).abs() <= 5e-5, "{row:?} vs {score}");
                if score >= min_score {
                    "virus"
                } else {
                    "others"
                }
            }
        };
        assert_eq!(row[6], call, "{row:?}");
        if call == "virus" {
            viral_ids.push(w.0.clone());
        }
    }
    let calls: Vec<&str> = rows.iter().map(|r| r[6]).collect();
    for c in ["virus", "others", "unscored"] {
        assert!(calls.contains(&c), "{calls:?}");
    }
    let tiny = rows.iter().find(|r| r[0] == "tiny").unwrap();
    assert_eq!(tiny[1..], ["2", "1", "0", "0", "NA", "unscored"]);

    // The viral records, as they came (header text kept).
    let viruses = std::fs::read_to_string(out.join("viruses.fna")).unwrap();
    let input_records = virnucpro_seq::fasta::read_all(&input).unwrap();
    let mut expected = String::new();
    for r in input_records.iter().filter(|r| viral_ids.contains(&r.id)) {
        expected.push_str(&format!(
            ">{}{}\n{}\n",
            r.id,
            r.description,
            String::from_utf8_lossy(&r.seq)
        ));
    }
    assert_eq!(viruses, expected);

    // Kraken-style lines, one per sequence.
    let kraken = std::fs::read_to_string(&kraken).unwrap();
    assert_eq!(kraken.lines().count(), want.len());
    for (line, row) in kraken.lines().zip(&rows) {
        let f: Vec<&str> = line.split('\t').collect();
        let (flag, taxid) = if row[6] == "virus" {
            ("C", "10239")
        } else {
            ("U", "0")
        };
        assert_eq!(f, [flag, row[0], taxid, row[1], row[5]]);
    }

    // summary.json counts.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let counts = &summary["counts"];
    assert_eq!(counts["sequences"], want.len() as u64);
    assert_eq!(counts["viral_sequences"], viral_ids.len() as u64);
    assert_eq!(
        counts["unscored_sequences"],
        want.iter().filter(|w| w.5.is_none()).count() as u64
    );
    assert_eq!(counts["frames"], results.lines().count() as u64 - 1);
    assert_eq!(summary["parameters"]["min_score"], min_score);
    assert_eq!(summary["devices"][0], "cpu");
    assert_eq!(
        summary["models"]["esm2"]["fingerprint"]
            .as_str()
            .unwrap()
            .len(),
        32
    );

    // Rerun with another threshold: refused, naming the one used.
    let o = run(&input, &out, &["--min-score", "0.9"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("--min-score {min_score}")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn duplicate_ids_are_refused_naming_both_records_or_renamed() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("dups.fa");
    let demo = records(&root().join("examples/demo.fa"));
    let mut text = String::new();
    for (i, (_, seq)) in demo.iter().take(4).enumerate() {
        let id = ["a", "b", "a", "a_1"][i];
        text.push_str(&format!(">{id}\n{}\n", String::from_utf8_lossy(seq)));
    }
    std::fs::write(&input, &text).unwrap();
    let out = work.path().join("out");
    let o = run(&input, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("record 3") && err.contains("record 1") && err.contains("--rename-duplicates"),
        "{err}"
    );
    let o = run(&input, &out, &["--rename-duplicates"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("renamed_ids.tsv")).unwrap(),
        "record\toriginal_id\tnew_id\n3\ta\ta_1\n4\ta_1\ta_1_1\n"
    );
    let tsv = std::fs::read_to_string(out.join("sequence_summary.tsv")).unwrap();
    let ids: Vec<&str> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b", "a_1", "a_1_1"]);
    let results = std::fs::read_to_string(out.join("prediction_results.txt")).unwrap();
    // The third record (now a_1) has no kept frame; the fourth (now a_1_1) has.
    assert!(results.contains("\na_1_1_chunk_1"), "{results}");
}

/// Reads of 150 bp cut from the demo contigs: (name, flags, bases, Phred scores).
fn demo_reads() -> Vec<(String, u16, Vec<u8>, Vec<u8>)> {
    let mut reads = Vec::new();
    for (i, (_, seq)) in records(&root().join("examples/demo.fa")).iter().enumerate() {
        // BAM stores bases in 4 bits: soft-masked (lower-case) letters come back upper-case.
        let seq = seq.to_ascii_uppercase();
        for (j, piece) in seq.chunks(150).take(4).enumerate() {
            let qual: Vec<u8> = (0..piece.len())
                .map(|k| 20 + ((i + j + k) % 20) as u8)
                .collect();
            let name = format!("read{i}_{}", j / 2);
            // Pairs: mates 1 and 2 share a name (flags: paired, unmapped, mate unmapped).
            let flags = 0x1 | 0x4 | 0x8 | if j % 2 == 0 { 0x40 } else { 0x80 };
            reads.push((name, flags, piece.to_vec(), qual));
        }
    }
    // A single-end read, and a secondary record that must be skipped.
    let (_, seq) = &records(&root().join("examples/demo.fa"))[0];
    reads.push(("single".into(), 0x4, seq[..200].to_vec(), vec![30; 200]));
    reads.push((
        "single".into(),
        0x4 | 0x100,
        seq[..200].to_vec(),
        vec![30; 200],
    ));
    reads
}

fn write_bam(path: &Path, reads: &[(String, u16, Vec<u8>, Vec<u8>)]) {
    use noodles::sam::alignment::io::Write as _;
    use noodles::sam::alignment::record::Flags;
    use noodles::sam::alignment::record_buf::{QualityScores, Sequence};
    let header = noodles::sam::Header::default();
    let file = std::fs::File::create(path).unwrap();
    let mut w = noodles::bam::io::Writer::new(file);
    w.write_header(&header).unwrap();
    for (name, flags, seq, qual) in reads {
        let record = noodles::sam::alignment::RecordBuf::builder()
            .set_name(name.as_str())
            .set_flags(Flags::from(*flags))
            .set_sequence(Sequence::from(seq.clone()))
            .set_quality_scores(QualityScores::from(qual.clone()))
            .build();
        w.write_alignment_record(&header, &record).unwrap();
    }
    w.try_finish().unwrap();
}

#[test]
fn unaligned_bam_reads_single_and_paired_give_the_fastq_result() {
    let work = tempfile::tempdir().unwrap();
    let reads = demo_reads();
    let bam = work.path().join("reads.bam");
    write_bam(&bam, &reads);
    // The same reads as FASTQ, named as the BAM's pairs should come out.
    let fastq = work.path().join("reads.fastq");
    let mut text = String::new();
    for (name, flags, seq, qual) in &reads {
        if flags & 0x100 != 0 {
            continue;
        }
        let suffix = match (flags & 0x1 != 0, flags & 0x40 != 0) {
            (false, _) => "",
            (true, true) => "/1",
            (true, false) => "/2",
        };
        let q: String = qual.iter().map(|&q| (q + 33) as char).collect();
        text.push_str(&format!(
            "@{name}{suffix}\n{}\n+\n{q}\n",
            String::from_utf8_lossy(seq)
        ));
    }
    std::fs::write(&fastq, &text).unwrap();
    let (from_bam, from_fastq) = (work.path().join("bam"), work.path().join("fastq"));
    for (input, out) in [(&bam, &from_bam), (&fastq, &from_fastq)] {
        let o = run(input, out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for name in [
        "prediction_results.txt",
        "prediction_results_highestscore.csv",
        "sequence_summary.tsv",
        "viruses.fastq",
    ] {
        let a = std::fs::read_to_string(from_bam.join(name)).unwrap();
        let b = std::fs::read_to_string(from_fastq.join(name)).unwrap();
        let diff = a.lines().zip(b.lines()).find(|(x, y)| x != y);
        assert!(a == b, "{name} differs: {diff:?}");
    }
    let tsv = std::fs::read_to_string(from_bam.join("sequence_summary.tsv")).unwrap();
    assert!(
        tsv.contains("\nread0_0/1\t150\t") && tsv.contains("\nread0_0/2\t150\t"),
        "{}",
        &tsv[..tsv.len().min(500)]
    );
    assert_eq!(
        tsv.matches("\nsingle\t").count(),
        1,
        "secondary record skipped"
    );
    assert!(!from_bam.join("viruses.fna").exists());
    // A viral read comes out as it went in, qualities included.
    let viruses = std::fs::read_to_string(from_bam.join("viruses.fastq")).unwrap();
    let first = viruses.lines().take(4).collect::<Vec<_>>().join("\n") + "\n";
    assert!(text.contains(&first), "{}", &first[..first.len().min(300)]);
}

#[test]
fn a_damaged_run_record_is_refused_and_force_restart_starts_over() {
    let work = tempfile::tempdir().unwrap();
    let input = small_input(work.path());
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for damage in ["{garbage", ""] {
        let out = work.path().join("damaged");
        let o = run(&input, &out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::write(out.join("run.json"), damage).unwrap();
        let o = run(&input, &out, &[]);
        assert_eq!(o.status.code(), Some(1), "{damage:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("unreadable run record"),
            "{}",
            stderr(&o)
        );
        let o = run(&input, &out, &["--force-restart"]);
        assert!(o.status.success(), "{damage:?}: {}", stderr(&o));
        assert_same(&out, &clean);
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// Plants what a kill -9 during the writes leaves (`.NAME.XXXXXX.tmp` beside each output) and
/// two look-alikes that are not ours to remove.
fn plant_leftovers(dir: &Path) -> Vec<PathBuf> {
    let ours = [
        ".prediction_results.txt.a1B2c3.tmp",
        ".sequence_summary.tsv.Zz9Yy8.tmp",
        ".viruses.fna.q0w9e8.tmp",
        ".run.json.AAAAAA.tmp",
    ];
    for name in ours {
        std::fs::write(dir.join(name), b"half a file").unwrap();
    }
    std::fs::write(dir.join(".notes.tmp"), b"a user's").unwrap();
    std::fs::write(dir.join("notes.abcdef.tmp"), b"a user's").unwrap();
    ours.iter().map(|n| dir.join(n)).collect()
}

fn assert_only_look_alikes_left(dir: &Path, planted: &[PathBuf]) {
    for path in planted {
        assert!(!path.exists(), "{} was left behind", path.display());
    }
    assert!(dir.join(".notes.tmp").exists());
    assert!(dir.join("notes.abcdef.tmp").exists());
}

#[test]
fn temporaries_a_killed_run_left_are_removed_by_the_next_run_and_merge() {
    let work = tempfile::tempdir().unwrap();
    let input = small_input(work.path());
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A rerun of a finished run (it stops early) and a run that resumes both clean up.
    let out = work.path().join("out");
    std::fs::create_dir_all(out.join("intermediates/checkpoints/worker_0")).unwrap();
    let mut planted = plant_leftovers(&out);
    let deep = out.join("intermediates/checkpoints/worker_0/.batch_00000.h5.x1x2x3.tmp");
    std::fs::write(&deep, b"half").unwrap();
    planted.push(deep);
    let kraken = work.path().join("kraken.txt");
    let beside = work.path().join(".kraken.txt.k1k2k3.tmp");
    let foreign = work.path().join(".other.txt.k1k2k3.tmp");
    std::fs::write(&beside, b"half").unwrap();
    std::fs::write(&foreign, b"not this run's").unwrap();
    planted.push(beside);
    let o = run(&input, &out, &["--kraken-output", kraken.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_only_look_alikes_left(&out, &planted);
    assert!(foreign.exists(), "another output's temporary was removed");
    assert_same(&out, &clean);
    let planted = plant_leftovers(&out);
    let o = run(&input, &out, &["--kraken-output", kraken.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_only_look_alikes_left(&out, &planted);

    // merge, into its own earlier result.
    let shards = shard_runs(work.path(), &input, 2);
    let merged = work.path().join("merged");
    let refs: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    let o = merge(&refs, &merged);
    assert!(o.status.success(), "{}", stderr(&o));
    let planted = plant_leftovers(&merged);
    let o = merge(&refs, &merged);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_only_look_alikes_left(&merged, &planted);
    assert_same(&merged, &clean);
}

#[test]
fn threads_beyond_the_usable_cpus_are_capped_with_a_warning() {
    let work = tempfile::tempdir().unwrap();
    let input = small_input(work.path());
    let clean = work.path().join("clean");
    let o = run(&input, &clean, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("threads asked for"), "{}", stderr(&o));

    // Bound to one CPU, as a batch system binds a job: -t 64 computes on that one.
    let out = work.path().join("bound");
    let mut cmd = predict_cmd_threads(&input, &out, "64", &[]);
    // SAFETY: sched_setaffinity on the child itself, between fork and exec, touches no memory
    // the parent shares.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("64 threads asked for, but this process may use 1 CPUs"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stderr(&o).matches("threads asked for").count(),
        1,
        "warned once"
    );
    assert_same(&out, &clean);
}

#[test]
fn an_unwritable_kraken_output_stops_the_run_before_it_starts() {
    let work = tempfile::tempdir().unwrap();
    let input = small_input(work.path());
    let missing = work.path().join("no-such-dir/calls.kraken");
    let is_dir = work.path().join("a-directory");
    std::fs::create_dir(&is_dir).unwrap();
    for kraken in [&missing, &is_dir] {
        let out = work.path().join("out");
        let o = run(&input, &out, &["--kraken-output", kraken.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(kraken.to_str().unwrap()),
            "{}",
            stderr(&o)
        );
        for name in ["prediction_results.txt", "run.json", "intermediates"] {
            assert!(!out.join(name).exists(), "{name} was written");
        }
        std::fs::remove_dir_all(&out).ok();
    }
    // merge checks it before it writes anything too.
    let shards = shard_runs(work.path(), &input, 2);
    let merged = work.path().join("merged");
    let refs: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    let o = merge_with(&refs, &merged, Some(&missing));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!merged.join("prediction_results.txt").exists());

    // A Kraken file inside an OUT_DIR that the run itself creates is writable (as the
    // workflows ask for it).
    let fresh = work.path().join("fresh");
    let o = run(
        &input,
        &fresh,
        &[
            "--kraken-output",
            fresh.join("kraken.txt").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let fresh_merge = work.path().join("fresh_merge");
    let o = merge_with(&refs, &fresh_merge, Some(&fresh_merge.join("kraken.txt")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(fresh_merge.join("kraken.txt")).unwrap(),
        std::fs::read(fresh.join("kraken.txt")).unwrap()
    );
}
