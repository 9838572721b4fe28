//! The `chunk` and `translate` subcommands as a user runs them: outputs, exit codes, messages.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn virnucpro(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_virnucpro"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    file
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

const SMALL: &[u8] =
    b">seq1 a coding one\nATGGCCAAACCCGGGTTTAAACCCGGGATGGCC\nCCAAAGGG\n>seq2\nttttttttttaaaaaaa\n";

/// Chunks then translates `input` and returns (chunked, nucleotide, protein) file contents.
fn chunk_and_translate(dir: &Path, input: &Path, length: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let chunked = dir.join("c.fa");
    let out = virnucpro(&[
        "-q",
        "chunk",
        path(input),
        "-L",
        length,
        "-o",
        path(&chunked),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (fna, faa) = (dir.join("o.fna"), dir.join("o.faa"));
    let out = virnucpro(&[
        "-q",
        "translate",
        path(&chunked),
        "--nucleotide",
        path(&fna),
        "--protein",
        path(&faa),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    (
        std::fs::read(chunked).unwrap(),
        std::fs::read(fna).unwrap(),
        std::fs::read(faa).unwrap(),
    )
}

#[test]
fn chunk_and_translate_write_the_originals_formats() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.fa", SMALL);
    let (chunked, fna, faa) = chunk_and_translate(dir.path(), &input, "20");
    let chunked = String::from_utf8(chunked).unwrap();
    assert!(chunked.starts_with(">seq1_chunk_1\nATGGCCAAACCCGGGTTTAA\n>seq1_chunk_2\n"));
    assert!(
        chunked.contains(">seq2_chunk_1\nttttttttttaaaaaaa\n"),
        "{chunked}"
    );
    let faa = String::from_utf8(faa).unwrap();
    assert!(faa.starts_with(">seq1_chunk_1F1\nMAKPGF\n"), "{faa}");
    assert_eq!(
        String::from_utf8(fna).unwrap().lines().count(),
        faa.lines().count()
    );
}

#[test]
fn gzip_bgzip_and_fastq_inputs_give_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "in.fa", SMALL);
    let expected = chunk_and_translate(dir.path(), &plain, "20");
    let gz = write(dir.path(), "in.fa.gz", &gzip(SMALL));
    assert_eq!(chunk_and_translate(dir.path(), &gz, "20"), expected);
    // bgzip writes many gzip members back to back.
    let (head, tail) = SMALL.split_at(40);
    let mut members = gzip(head);
    members.extend(gzip(tail));
    let bgz = write(dir.path(), "in.fa.bgz", &members);
    assert_eq!(chunk_and_translate(dir.path(), &bgz, "20"), expected);
    let fastq = b"@seq1\nATGGCCAAACCCGGGTTTAAACCCGGGATGGCCCCAAAGGG\n+\n\
                  IIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII\n@seq2\nttttttttttaaaaaaa\n+\nIIIIIIIIIIIIIIIII\n";
    let fq = write(dir.path(), "in.fq", fastq);
    assert_eq!(chunk_and_translate(dir.path(), &fq, "20"), expected);
}

#[test]
fn empty_records_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.fa", b">empty1\n>a\nACGTACGT\n>empty2\n");
    let out_fa = dir.path().join("c.fa");
    let out = virnucpro(&["chunk", path(&input), "-L", "300", "-o", path(&out_fa)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("skipped 2 empty record(s)") && err.contains("empty1"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out_fa).unwrap(), b">a_chunk_1\nACGTACGT\n");
}

/// Runs `chunk` on `content` and returns the exit code and stderr; checks nothing was written.
fn chunk_fails(content: &[u8]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "bad.fa", content);
    let out_fa = dir.path().join("out.fa");
    let out = virnucpro(&["chunk", path(&input), "-L", "300", "-o", path(&out_fa)]);
    assert!(!out_fa.exists(), "a failed run left {}", out_fa.display());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temporary files left"
    );
    (out.status.code().unwrap(), stderr(&out))
}

#[test]
fn bad_input_files_are_clear_errors_with_exit_1() {
    let cases: [(&[u8], &str); 6] = [
        (b"", "the file is empty"),
        (b"some notes\n>a\nACGT\n", "before the first record"),
        (
            b"\x7fELF\x02\x01\x01\x00\x00\x00garbage",
            "not a readable FASTA",
        ),
        (b">a\nACGT\n>b\nAC\n>a\nGG\n", "record 3 has the id 'a'"),
        (
            b">a\nACGT\n>b x\nACGTXACGT\n",
            "record 'b' has 'X' at position 5",
        ),
        (b">a\nACGT\n>\nACGT\n", "record 2 (line 3) has no id"),
    ];
    for (content, expected) in cases {
        let (code, err) = chunk_fails(content);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
        assert!(
            err.contains("bad.fa"),
            "the message must name the file: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn missing_input_directory_input_and_unwritable_output() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.fa");
    let out = virnucpro(&["chunk", path(&missing), "-L", "300", "-o", "x.fa"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nope.fa: cannot open"),
        "{}",
        stderr(&out)
    );

    let out = virnucpro(&["chunk", path(dir.path()), "-L", "300", "-o", "x.fa"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));

    let input = write(dir.path(), "in.fa", SMALL);
    let out = virnucpro(&[
        "chunk",
        path(&input),
        "-L",
        "300",
        "-o",
        path(&dir.path().join("no/such/dir/out.fa")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot create"), "{}", stderr(&out));
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["chunk", "in.fa", "-L", "0", "-o", "x.fa"][..],
        &["chunk", "in.fa", "-L", "abc", "-o", "x.fa"],
        &["chunk", "in.fa", "-o", "x.fa"],
        &["translate", "in.fa", "--protein", "x.faa"],
        &["-t", "0", "chunk", "in.fa", "-L", "300", "-o", "x.fa"],
        &["frobnicate"],
    ] {
        let out = virnucpro(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // Thread counts no pool can start are refused, not a panic or a livelock.
    for t in ["100000", "2000"] {
        let out = virnucpro(&["-t", t, "chunk", "in.fa", "-L", "300", "-o", "x.fa"]);
        assert_eq!(out.status.code(), Some(2), "-t {t}: {}", stderr(&out));
        assert!(stderr(&out).contains("1 to 1024"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
    let out = virnucpro(&["chunk", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--length"));
}

#[test]
fn thread_count_does_not_change_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("syn.fa");
    let spec = virnucpro_seq::synthetic::SyntheticSpec {
        seed: 3,
        total_bases: 3_000_000,
        min_len: 100,
        max_len: 3000,
    };
    let mut file = std::fs::File::create(&input).unwrap();
    virnucpro_seq::synthetic::write_fasta(spec, &mut file).unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2", "5"] {
        let (fna, faa, chunked) = (
            dir.path().join(format!("{threads}.fna")),
            dir.path().join(format!("{threads}.faa")),
            dir.path().join(format!("{threads}.fa")),
        );
        let out = virnucpro(&[
            "-q",
            "-t",
            threads,
            "chunk",
            path(&input),
            "-L",
            "500",
            "-o",
            path(&chunked),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = virnucpro(&[
            "-q",
            "-t",
            threads,
            "translate",
            path(&chunked),
            "--nucleotide",
            path(&fna),
            "--protein",
            path(&faa),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        outputs.push([chunked, fna, faa].map(|p| std::fs::read(p).unwrap()));
    }
    assert!(
        outputs[0][2].len() > 1000,
        "the synthetic input keeps frames"
    );
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn sigterm_stops_chunk_with_exit_143_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.fa");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("chunks.fa");
    let child = Command::new(env!("CARGO_BIN_EXE_virnucpro"))
        .args(["-q", "chunk", path(&fifo), "-L", "300", "-o", path(&out)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Feed a first part, wait for the output's temporary file, then SIGTERM, then the rest.
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    for i in 0..50 {
        let record = format!(">a{i}\n{}\n", "ACGT".repeat(2000));
        writer.write_all(record.as_bytes()).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&outdir).unwrap().count() == 0 {
        assert!(std::time::Instant::now() < deadline, "chunk never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let _ = writer.write_all(b">b\nACGT\n");
    drop(writer);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(&outdir).unwrap().flatten().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
