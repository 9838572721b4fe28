//! `virnucpro embed` survives crashes: kill -9 of the real process at several points, corrupt
//! checkpoints, SIGTERM, and a changed input; checkpoints follow the cadence and carry their
//! metadata. Runs on the golden tiny ESM-2 (skipped where `../shared/golden` is absent).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use virnucpro_engine::checkpoint::{self, Metadata, Rows, Trigger};
use virnucpro_engine::output;

const SEQS: usize = 1000;
const EVERY: &str = "50";

/// Width of the demo ESM-2's embeddings.
const DIM: usize = 32;

/// The shipped demo ESM-2 (`examples/models/esm2_demo`): the project's own fixture.
fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/esm2_demo")
}

/// A protein FASTA of `SEQS` records made from `seed`.
fn proteins(dir: &Path, seed: u64) -> PathBuf {
    let path = dir.join(format!("proteins{seed}.faa"));
    let text: String = virnucpro_seq::synthetic::proteins(SEQS, 60, 166, seed)
        .iter()
        .enumerate()
        .map(|(i, p)| format!(">prot_{i}\n{p}\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn command(model: &Path, input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_virnucpro"));
    cmd.args(["-t", "1", "embed", "esm2", "--model"])
        .arg(model)
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(["--token-budget", "1024"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if !extra.contains(&"--checkpoint-every-seqs") {
        cmd.args(["--checkpoint-every-seqs", EVERY]);
    }
    cmd
}

fn run(model: &Path, input: &Path, out: &Path, extra: &[&str]) -> Output {
    command(model, input, out, extra).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn checkpoints(out: &Path) -> Vec<PathBuf> {
    checkpoint::list(&out.parent().unwrap().join("checkpoints")).unwrap()
}

/// Starts a run and returns it once it has written at least `k` checkpoints.
fn start_and_wait(model: &Path, input: &Path, out: &Path, k: usize) -> Child {
    let mut child = command(model, input, out, &[]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while checkpoints(out).len() < k {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {k} checkpoints"
        );
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// The uninterrupted result for `input`.
fn reference(model: &Path, input: &Path) -> output::Embeddings {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ref.h5");
    let o = run(model, input, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    output::read(&out).unwrap()
}

/// The same ids in input order and bit-identical embeddings: on the CPU a sequence's
/// embedding does not depend on the batch it was computed in.
fn assert_same(got: &output::Embeddings, want: &output::Embeddings) {
    assert_eq!(got.ids, want.ids, "ids identical, in input order");
    assert_eq!(got.values.len(), want.values.len());
    let worst = got
        .values
        .iter()
        .zip(&want.values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(got.values == want.values, "embeddings differ by {worst}");
}

/// "N from earlier checkpoints" in a run's log.
fn resumed(o: &Output) -> usize {
    let err = stderr(o);
    let at = err.find(" from earlier checkpoints").expect("summary line");
    let before = &err[..at];
    before[before.rfind(' ').unwrap() + 1..].parse().unwrap()
}

#[test]
fn kill_9_at_several_points_then_resume_gives_the_uninterrupted_result() {
    let model = model();
    let work = tempfile::tempdir().unwrap();
    let input = proteins(work.path(), 1);
    let want = reference(&model, &input);
    for k in [1, 4, 11] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.h5");
        let mut child = start_and_wait(&model, &input, &out, k);
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        child.wait().unwrap();
        assert!(!out.exists());
        let o = run(&model, &input, &out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let r = resumed(&o);
        assert!(r >= k * 50 && r < SEQS, "resumed {r} after {k} checkpoints");
        assert_same(&output::read(&out).unwrap(), &want);
        assert!(
            !dir.path().join("checkpoints").exists(),
            "checkpoints removed after success"
        );
    }
}

/// Damages the newest checkpoint with `damage` and checks that exactly its sequences are
/// recomputed and the result is the uninterrupted one.
fn corrupt_newest(damage: impl Fn(&Path)) {
    let model = model();
    let work = tempfile::tempdir().unwrap();
    let input = proteins(work.path(), 2);
    let want = reference(&model, &input);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let mut child = start_and_wait(&model, &input, &out, 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let files = checkpoints(&out);
    let (newest, older) = files.split_last().unwrap();
    let valid: usize = older
        .iter()
        .map(|p| checkpoint::read(p, DIM).unwrap().rows.len())
        .sum();
    damage(newest);
    let o = run(&model, &input, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        resumed(&o),
        valid,
        "only the damaged checkpoint's sequences are recomputed"
    );
    assert!(stderr(&o).contains("unusable checkpoint"), "{}", stderr(&o));
    assert_same(&output::read(&out).unwrap(), &want);
}

#[test]
fn truncated_checkpoint_is_recomputed() {
    corrupt_newest(|p| {
        let len = std::fs::metadata(p).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    });
}

#[test]
fn garbled_checkpoint_is_recomputed() {
    corrupt_newest(|p| {
        let mut bytes = std::fs::read(p).unwrap();
        let n = bytes.len();
        for b in &mut bytes[n - 600..n - 300] {
            *b ^= 0x5a;
        }
        std::fs::write(p, bytes).unwrap();
    });
}

#[test]
fn wrong_shape_checkpoint_is_recomputed() {
    corrupt_newest(|p| {
        let loaded = checkpoint::read(p, DIM).unwrap();
        let half: Vec<f32> = loaded
            .rows
            .values
            .chunks(DIM)
            .flat_map(|r| r[..DIM / 2].to_vec())
            .collect();
        let rows = Rows {
            values: half,
            ..loaded.rows
        };
        let meta = Metadata {
            batch_idx: loaded.batch_idx,
            trigger: Trigger::Sequences,
            model: "esm2".into(),
            model_fingerprint: loaded.model_fingerprint,
            input_fingerprint: loaded.input_fingerprint,
            dtype: "float32".into(),
            packing_enabled: true,
            output: "embeddings".into(),
            gpu_memory_allocated_bytes: 0,
            gpu_memory_peak_bytes: 0,
        };
        checkpoint::write(p, &rows, DIM / 2, &meta).unwrap();
    });
}

/// A run killed after a few checkpoints, with its first checkpoint copied into another
/// worker's folder after `change` rewrote the copy's rows; returns (reference, output path,
/// dir, sequences in the copy, sequences in all valid checkpoints before the copy).
fn with_a_copied_checkpoint(
    change: impl Fn(&mut Rows),
) -> Option<(output::Embeddings, PathBuf, tempfile::TempDir, usize, usize)> {
    let model = model();
    let work = tempfile::tempdir().unwrap();
    let input = proteins(work.path(), 5);
    let want = reference(&model, &input);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let mut child = start_and_wait(&model, &input, &out, 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let files = checkpoints(&out);
    let valid: usize = files
        .iter()
        .filter_map(|p| checkpoint::read(p, DIM).ok())
        .map(|l| l.rows.len())
        .sum();
    let loaded = checkpoint::read(&files[0], DIM).unwrap();
    let mut rows = loaded.rows;
    change(&mut rows);
    let meta = Metadata {
        batch_idx: loaded.batch_idx,
        trigger: Trigger::Sequences,
        model: "esm2".into(),
        model_fingerprint: loaded.model_fingerprint,
        input_fingerprint: rows.input_fingerprint(),
        dtype: "float32".into(),
        packing_enabled: true,
        output: "embeddings".into(),
        gpu_memory_allocated_bytes: 0,
        gpu_memory_peak_bytes: 0,
    };
    let copy = dir.path().join("checkpoints/worker_7/batch_00000.h5");
    checkpoint::write(&copy, &rows, DIM, &meta).unwrap();
    let n = rows.len();
    Some((want, out, dir, n, valid))
}

#[test]
fn a_checkpoint_present_twice_is_used_once() {
    let model = model();
    let Some((want, out, _dir, copied, valid)) = with_a_copied_checkpoint(|_| {}) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let o = run(&model, &proteins(work.path(), 5), &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(resumed(&o), valid, "nothing recomputed");
    assert!(
        stderr(&o).contains(&format!("{copied} sequence(s) were found identical")),
        "{}",
        stderr(&o)
    );
    assert_same(&output::read(&out).unwrap(), &want);
}

#[test]
fn conflicting_rows_for_one_sequence_are_computed_again() {
    let model = model();
    // The copy keeps its first three rows, the second of them altered.
    let Some((want, out, _dir, _, valid)) = with_a_copied_checkpoint(|rows| {
        rows.ids.truncate(3);
        rows.indices.truncate(3);
        rows.hashes.truncate(3);
        rows.values.truncate(3 * DIM);
        rows.values[DIM + 5] += 0.25;
    }) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let o = run(&model, &proteins(work.path(), 5), &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        resumed(&o),
        valid - 1,
        "only the conflicting one recomputed"
    );
    assert!(err.contains("2 sequence(s) were found identical"), "{err}");
    assert!(
        err.contains("has different rows in more than one checkpoint"),
        "{err}"
    );
    assert_same(&output::read(&out).unwrap(), &want);
}

#[test]
fn a_different_input_is_refused_until_force_restart() {
    let model = model();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (proteins(work.path(), 3), proteins(work.path(), 4));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let mut child = start_and_wait(&model, &a, &out, 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let o = run(&model, &b, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("different input") && stderr(&o).contains("--force-restart"),
        "{}",
        stderr(&o)
    );
    let o = run(&model, &b, &out, &["--force-restart"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(resumed(&o), 0);
    assert_same(&output::read(&out).unwrap(), &reference(&model, &b));
}

#[test]
fn sigterm_writes_a_signal_checkpoint_and_exits_143() {
    let model = model();
    let work = tempfile::tempdir().unwrap();
    let input = proteins(work.path(), 5);
    let want = reference(&model, &input);
    // The signal checkpoint holds the rows computed since the last one; a SIGTERM that lands
    // just after a cadence checkpoint finds none to write. The demo model is fast enough for
    // that to happen now and then, so the run is tried a few times: a signal checkpoint must
    // appear, and every try must stop with 143 and resume to the uninterrupted result.
    let mut signalled = false;
    for _ in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.h5");
        let mut child = start_and_wait(&model, &input, &out, 2);
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(143));
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "stopped within seconds"
        );
        let newest = checkpoints(&out).pop().unwrap();
        let file = hdf5::File::open(&newest).unwrap();
        let reason: hdf5::types::VarLenUnicode =
            file.attr("trigger_reason").unwrap().read_scalar().unwrap();
        let reason = reason.as_str().to_string();
        drop(file);
        assert!(
            ["signal", "sequences"].contains(&reason.as_str()),
            "{reason}"
        );
        let o = run(&model, &input, &out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_same(&output::read(&out).unwrap(), &want);
        if reason == "signal" {
            signalled = true;
            break;
        }
    }
    assert!(signalled, "no try wrote a signal checkpoint");
}

#[test]
fn checkpoint_cadence_and_metadata() {
    let model = model();
    let work = tempfile::tempdir().unwrap();
    let input = proteins(work.path(), 6);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let o = run(
        &model,
        &input,
        &out,
        &["--keep-checkpoints", "--checkpoint-every-seqs", "200"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let files = checkpoints(&out);
    let mut total = 0;
    for (i, path) in files.iter().enumerate() {
        let file = hdf5::File::open(path).unwrap();
        let s = |n: &str| -> String {
            let v: hdf5::types::VarLenUnicode = file.attr(n).unwrap().read_scalar().unwrap();
            v.as_str().to_string()
        };
        let u = |n: &str| -> u64 { file.attr(n).unwrap().read_scalar().unwrap() };
        let n = u("num_sequences") as usize;
        total += n;
        assert_eq!(u("batch_idx"), i as u64);
        assert_eq!(s("model"), "esm2");
        assert_eq!(s("dtype"), "float32");
        assert_eq!(u("gpu_memory_allocated_bytes"), 0);
        assert_eq!(u("gpu_memory_peak_bytes"), 0);
        assert!(file
            .attr("packing_enabled")
            .unwrap()
            .read_scalar::<bool>()
            .unwrap());
        assert_eq!(s("model_fingerprint").len(), 32);
        assert_eq!(s("input_fingerprint").len(), 32);
        let ts = s("timestamp");
        assert!(
            humantime::parse_rfc3339(&ts).is_ok() && ts.ends_with('Z'),
            "{ts}"
        );
        if i + 1 < files.len() {
            assert_eq!(s("trigger_reason"), "sequences");
            assert!(
                n >= 200,
                "a sequences checkpoint holds at least the threshold ({n})"
            );
        } else {
            assert_eq!(s("trigger_reason"), "final");
        }
    }
    assert_eq!(total, SEQS, "every sequence in exactly one checkpoint");

    // Time trigger: a tiny time limit and a huge count limit.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let o = run(
        &model,
        &input,
        &out,
        &[
            "--keep-checkpoints",
            "--checkpoint-every-seqs",
            "1000000",
            "--checkpoint-every-secs",
            "0.2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let reasons: Vec<String> = checkpoints(&out)
        .iter()
        .map(|p| {
            let v: hdf5::types::VarLenUnicode = hdf5::File::open(p)
                .unwrap()
                .attr("trigger_reason")
                .unwrap()
                .read_scalar()
                .unwrap();
            v.as_str().to_string()
        })
        .collect();
    assert!(reasons.iter().any(|r| r == "time"), "{reasons:?}");
}

/// Bytes a file takes on disk (its blocks: HDF5 files can have holes).
fn pages(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_disk_that_fills_during_the_final_write_keeps_the_checkpoints_and_the_rerun_finishes() {
    let model = model();
    let work = tempfile::tempdir().unwrap();
    let input = proteins(work.path(), 11);
    let want = reference(&model, &input);
    // A tmpfs stands in for the disk; mounting needs root (CI runs as root).
    let Some(mount) = virnucpro_testkit::Tmpfs::mount("64m") else {
        return;
    };
    let resize = |size: u64| mount.resize(size);
    // What the checkpoints and the output take on this tmpfs, from a run that keeps both.
    let sized = mount.path().join("sized/out.h5");
    let o = run(&model, &input, &sized, &["--keep-checkpoints"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let checkpoint_bytes: u64 = checkpoints(&sized).iter().map(|p| pages(p)).sum();
    let output_bytes = pages(&sized);
    std::fs::remove_dir_all(mount.path().join("sized")).unwrap();
    // Room for the checkpoints and a quarter of the output.
    let size = checkpoint_bytes + output_bytes / 4;
    let shrunk = resize(size);
    let out = mount.path().join("run/out.h5");
    let o = run(&model, &input, &out, &[]);
    let kept = checkpoints(&out).len();
    let leftovers: Vec<String> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "checkpoints")
        .collect();
    // Space is freed (the disk grows), and the same command finishes from the checkpoints.
    let grown = resize(64 << 20);
    let rerun = run(&model, &input, &out, &[]);
    let got = output::read(&out);
    drop(mount);

    assert!(shrunk, "cannot shrink the tmpfs to {size} bytes");
    assert_eq!(
        o.status.code(),
        Some(1),
        "checkpoints {checkpoint_bytes} B, output {output_bytes} B, tmpfs {size} B: {}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("No space left on device") || stderr(&o).contains("failed its check"),
        "{}",
        stderr(&o)
    );
    assert!(
        leftovers.is_empty(),
        "left beside the checkpoints: {leftovers:?}"
    );
    assert!(kept > 0, "the checkpoints are kept");
    assert!(grown);
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    assert_eq!(
        resumed(&rerun),
        SEQS,
        "every sequence came from the kept checkpoints"
    );
    assert_same(&got.unwrap(), &want);
}
