//! `virnucpro utils validate`, `utils list-devices` and `models check` (including the Hugging Face
//! cache layout).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn virnucpro(args: &[&str], hf_home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_virnucpro"))
        .args(args)
        .env("HF_HOME", hf_home)
        .env("VIRNUCPRO_HOME", hf_home.join("virnucpro"))
        .env_remove("VIRNUCPRO_ESM")
        .env_remove("VIRNUCPRO_DNABERT")
        .env_remove("VIRNUCPRO_CLASSIFIER")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn validate_reports_all_problems_and_sets_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.fa");
    std::fs::write(&good, ">a\nACGTNNACGT\n>b\nACGT\n").unwrap();
    let o = virnucpro(&["utils", "validate", good.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("✓ File is valid") && text(&o).contains("ambiguous bases in a"),
        "{}",
        text(&o)
    );
    let bad = dir.path().join("bad.fa");
    std::fs::write(&bad, ">a\nACGT\n>a\nAC-GT\n>c\n>d\nACGT\n").unwrap();
    let o = virnucpro(&["utils", "validate", bad.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("duplicate id: a")
            && t.contains("'-' at position 3")
            && t.contains("empty sequence: c"),
        "{t}"
    );
}

#[test]
fn list_devices_lists_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let o = virnucpro(&["utils", "list-devices"], dir.path());
    assert!(o.status.success());
    assert!(text(&o).contains("cpu:"), "{}", text(&o));
}

#[test]
fn models_check_finds_flags_and_the_hugging_face_cache() {
    let hf = tempfile::tempdir().unwrap();
    let o = virnucpro(&["models", "check"], hf.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("MISSING"), "{}", text(&o));

    // Lay the demo models out as the hub cache does.
    for (repo, demo) in [
        ("models--facebook--esm2_t36_3B_UR50D", "esm2_demo"),
        ("models--zhihan1996--DNABERT-S", "dnabert_demo"),
    ] {
        let snap = hf.path().join("hub").join(repo).join("snapshots/0123abcd");
        std::fs::create_dir_all(&snap).unwrap();
        for f in std::fs::read_dir(root().join("examples/models").join(demo))
            .unwrap()
            .flatten()
        {
            std::fs::copy(f.path(), snap.join(f.file_name())).unwrap();
        }
    }
    let classifier = root().join("examples/models/classifier_demo");
    let o = virnucpro(
        &[
            "models",
            "check",
            "-L",
            "300",
            "--classifier",
            classifier.to_str().unwrap(),
        ],
        hf.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("snapshots/0123abcd") && t.contains("300_model.safetensors"),
        "{t}"
    );

    // predict uses the same lookup.
    let out = hf.path().join("out");
    let o = virnucpro(
        &[
            "-q",
            "predict",
            root().join("examples/demo.fa").to_str().unwrap(),
            "-L",
            "300",
            "-o",
            out.to_str().unwrap(),
            "--classifier",
            classifier.to_str().unwrap(),
        ],
        hf.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("prediction_results.txt").is_file());
}
