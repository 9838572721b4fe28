//! `virnucpro predict` reads its input once, so streams work: standard input, a FIFO (what
//! `<(zcat ...)` gives), compressed standard input; a killed streamed run resumes, and one
//! whose rerun streams different content is refused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `virnucpro predict INPUT` on the demo models, stdin piped.
fn predict_cmd(input: &str, out: &Path, extra: &[&str]) -> Command {
    let m = root().join("examples/models");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_virnucpro"));
    cmd.args(["-t", "1", "predict", input, "-L", "500", "-o"])
        .arg(out)
        .arg("--esm")
        .arg(m.join("esm2_demo"))
        .arg("--dnabert")
        .arg(m.join("dnabert_demo"))
        .arg("--classifier")
        .arg(m.join("classifier_demo"))
        .args(["--checkpoint-every-seqs", "40", "--token-budget", "512"])
        .args(extra)
        .env_remove("VIRNUCPRO_ESM")
        .env_remove("VIRNUCPRO_DNABERT")
        .env_remove("VIRNUCPRO_CLASSIFIER")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Starts `cmd` and writes `bytes` to its standard input from another thread.
fn spawn_feeding(mut cmd: Command, bytes: Vec<u8>) -> Child {
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        // A killed child closes the pipe; that is expected.
        let _ = stdin.write_all(&bytes);
    });
    child
}

fn run_feeding(cmd: Command, bytes: Vec<u8>) -> Output {
    spawn_feeding(cmd, bytes).wait_with_output().unwrap()
}

/// Finished checkpoints (`batch_*.h5`, not a temporary being written) in `dir`.
fn checkpoints_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with("batch_") && name.ends_with(".h5")
                })
                .count()
        })
        .unwrap_or(0)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn synthetic(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let spec = virnucpro_seq::synthetic::SyntheticSpec {
        seed,
        total_bases: 600_000,
        min_len: 300,
        max_len: 3000,
    };
    let mut f = std::fs::File::create(&path).unwrap();
    virnucpro_seq::synthetic::write_fasta(spec, &mut f).unwrap();
    path
}

/// The two result files, byte for byte.
fn results(out: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(out.join("prediction_results.txt")).unwrap(),
        std::fs::read(out.join("prediction_results_highestscore.csv")).unwrap(),
    )
}

/// The per-sequence files: a stream's records are kept in the run's ledger, a file's are read
/// again at the end, and both must give the same bytes.
fn per_sequence(out: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(out.join("sequence_summary.tsv")).unwrap(),
        std::fs::read(out.join("viruses.fna")).unwrap(),
    )
}

/// Same ids and labels in order, scores within 1e-6, the same consensus file: what two runs
/// that batched the frames differently give (DNABERT-S's padded batches are not yet
/// bit-identical across batchings).
fn assert_close(a: &Path, b: &Path) {
    let (ra, ca) = results(a);
    let (rb, cb) = results(b);
    let (ra, rb) = (
        String::from_utf8(ra).unwrap(),
        String::from_utf8(rb).unwrap(),
    );
    assert_eq!(ra.lines().count(), rb.lines().count(), "row counts");
    for (x, y) in ra.lines().zip(rb.lines()).skip(1) {
        let (x, y): (Vec<&str>, Vec<&str>) = (x.split('\t').collect(), y.split('\t').collect());
        assert_eq!(x[..2], y[..2], "id and label");
        for k in 2..4 {
            let (p, q): (f32, f32) = (x[k].parse().unwrap(), y[k].parse().unwrap());
            assert!((p - q).abs() <= 1e-6, "{x:?} vs {y:?}");
        }
    }
    assert!(ca == cb, "the consensus files differ");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn stdin_a_fifo_and_compressed_stdin_equal_the_file() {
    let work = tempfile::tempdir().unwrap();
    let input = synthetic(work.path(), "in.fa", 3);
    let bytes = std::fs::read(&input).unwrap();
    let from_file = work.path().join("file");
    let o = predict_cmd(input.to_str().unwrap(), &from_file, &[])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = results(&from_file);
    assert!(want.0.len() > 1000, "the input gives frames");

    let out = work.path().join("stdin");
    let o = run_feeding(predict_cmd("-", &out, &[]), bytes.clone());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(results(&out), want, "standard input");
    let viral = per_sequence(&from_file);
    assert!(viral.1.len() > 1000, "some records are called virus");
    assert_eq!(per_sequence(&out), viral, "standard input");

    let out = work.path().join("gz");
    let o = run_feeding(predict_cmd("-", &out, &[]), gzip(&bytes));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(results(&out), want, "gzip on standard input");
    assert_eq!(per_sequence(&out), viral, "gzip on standard input");

    let fifo = work.path().join("in.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let out = work.path().join("fifo");
    let child = predict_cmd(fifo.to_str().unwrap(), &out, &[])
        .spawn()
        .unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
    };
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(results(&out), want, "a FIFO");
    assert_eq!(per_sequence(&out), viral, "a FIFO");

    // A rerun of the finished run over a stream is recognised without redoing anything.
    let o = run_feeding(
        predict_cmd("-", &from_file, &[]),
        std::fs::read(&input).unwrap(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already holds this finished run"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_killed_streamed_run_resumes_and_refuses_other_content() {
    let work = tempfile::tempdir().unwrap();
    let a = std::fs::read(synthetic(work.path(), "a.fa", 5)).unwrap();
    let b = std::fs::read(synthetic(work.path(), "b.fa", 6)).unwrap();
    let clean = work.path().join("clean");
    let o = run_feeding(predict_cmd("-", &clean, &[]), a.clone());
    assert!(o.status.success(), "{}", stderr(&o));

    let out = work.path().join("killed");
    let mut child = spawn_feeding(predict_cmd("-", &out, &[]), a.clone());
    let shard0 = out.join("intermediates/checkpoints/worker_0");
    let deadline = Instant::now() + Duration::from_secs(120);
    while checkpoints_in(&shard0) < 1 {
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        assert!(Instant::now() < deadline, "no checkpoint was written");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Other content on the same stream: refused, and the checkpoints are left as they were.
    let before = checkpoints_in(&shard0);
    let o = run_feeding(predict_cmd("-", &out, &[]), b.clone());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("different input") && stderr(&o).contains("--force-restart"),
        "{}",
        stderr(&o)
    );
    assert_eq!(checkpoints_in(&shard0), before);
    assert!(!out.join("prediction_results.txt").exists());

    // The same content again: resumes from the checkpoints to the clean result.
    let o = run_feeding(predict_cmd("-", &out, &[]), a);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("(0 from earlier checkpoints)"),
        "{}",
        stderr(&o)
    );
    assert_close(&out, &clean);

    // And --force-restart takes the other content.
    let o = run_feeding(predict_cmd("-", &out, &["--force-restart"]), b);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn shards_need_a_file_not_a_stream() {
    let work = tempfile::tempdir().unwrap();
    let demo = std::fs::read(root().join("examples/demo.fa")).unwrap();
    let o = run_feeding(
        predict_cmd("-", &work.path().join("o"), &["--shard", "1/2"]),
        demo,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--shard needs the input as a file"),
        "{}",
        stderr(&o)
    );
}
