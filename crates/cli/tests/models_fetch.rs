//! `virnucpro models fetch` against a local HTTP server that answers like the Hugging Face hub
//! (`/<repo>/resolve/main/<file>` with ranges, `ETag`, `X-Repo-Commit`) and serves the
//! classifiers (which are refused: they are not the released files); then `models check` and
//! `predict` find what was fetched.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Serves `files` (URL path -> bytes) on loopback until the process ends; returns the base URL.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(500) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut range_start = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range_start = v
                        .trim()
                        .split('-')
                        .next()
                        .and_then(|s| s.parse::<usize>().ok());
                    if v.trim() == "0-0" {
                        range_start = Some(usize::MAX); // the metadata probe
                    }
                }
            }
            let response = match files.get(&path) {
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
                Some(body) => {
                    let etag = format!(
                        "{:016x}",
                        body.iter()
                            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(*b as u64))
                    );
                    let (status, part, range) = match range_start {
                        Some(usize::MAX) => (
                            "206 Partial Content",
                            &body[..1],
                            format!("bytes 0-0/{}", body.len()),
                        ),
                        Some(s) => (
                            "206 Partial Content",
                            &body[s..],
                            format!("bytes {s}-{}/{}", body.len() - 1, body.len()),
                        ),
                        None => (
                            "200 OK",
                            &body[..],
                            format!("bytes 0-{}/{}", body.len() - 1, body.len()),
                        ),
                    };
                    let mut r = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Range: {range}\r\nETag: \"{etag}\"\r\n\
                         X-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\nConnection: close\r\n\r\n",
                        part.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(part);
                    r
                }
            };
            let _ = stream.write_all(&response);
        }
    });
    format!("http://{addr}")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn fetch_then_check_then_predict() {
    // The classifiers must be real pickles: use the golden tiny one where it exists.
    let Some(golden) = virnucpro_testkit::golden("classifier/tiny_mlp.pth") else {
        return;
    };
    let mut files = HashMap::new();
    for (repo, demo) in [
        ("facebook/esm2_t36_3B_UR50D", "esm2_demo"),
        ("zhihan1996/DNABERT-S", "dnabert_demo"),
    ] {
        for f in std::fs::read_dir(root().join("examples/models").join(demo))
            .unwrap()
            .flatten()
        {
            let name = f.file_name().to_string_lossy().into_owned();
            files.insert(
                format!("/{repo}/resolve/main/{name}"),
                std::fs::read(f.path()).unwrap(),
            );
        }
    }
    let classifier = std::fs::read(&golden).unwrap();
    files.insert("/cls/300_model.pth".into(), classifier.clone());
    files.insert("/cls/500_model.pth".into(), classifier);
    let base = serve(files);

    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_virnucpro"))
            .args(args)
            .env("HF_HOME", home.path().join("hf"))
            .env("HF_ENDPOINT", &base)
            .env("VIRNUCPRO_HOME", home.path().join("vnp"))
            .env("VIRNUCPRO_CLASSIFIER_URL", format!("{base}/cls"))
            .env_remove("VIRNUCPRO_ESM")
            .env_remove("VIRNUCPRO_DNABERT")
            .env_remove("VIRNUCPRO_CLASSIFIER")
            .output()
            .unwrap()
    };
    // The served classifiers are not the released ones (their git blob SHA-1 differs): the
    // models are fetched, the classifiers refused and not saved.
    let o = run(&["-q", "models", "fetch"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is not the released 300_model.pth")
            && text(&o).contains("a0b5b85e7c1e44f00cde146d091beb82b2c8e855"),
        "{}",
        text(&o)
    );
    let classifiers = home.path().join("vnp/classifiers");
    assert!(!classifiers.join("300_model.pth").exists());
    // Placed by hand (a classifier of one's own), `models check` and `predict` find it.
    std::fs::create_dir_all(&classifiers).unwrap();
    for name in ["300_model.pth", "500_model.pth"] {
        std::fs::copy(&golden, classifiers.join(name)).unwrap();
    }
    let o = run(&["models", "check", "-L", "300"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("models--facebook--esm2_t36_3B_UR50D"),
        "{}",
        text(&o)
    );

    // The golden classifier takes 128 features; the demo models give 32 + 32, so predict finds
    // everything and then refuses the mismatch with a clear message.
    let out = home.path().join("out");
    let o = run(&[
        "-q",
        "predict",
        root().join("examples/demo.fa").to_str().unwrap(),
        "-L",
        "500",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("takes 128 features"), "{}", text(&o));

    // A server without the files: a clear error.
    let empty = serve(HashMap::new());
    let o = Command::new(env!("CARGO_BIN_EXE_virnucpro"))
        .args(["-q", "models", "fetch"])
        .env("HF_HOME", home.path().join("hf2"))
        .env("HF_ENDPOINT", &empty)
        .env("VIRNUCPRO_HOME", home.path().join("vnp2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("cannot download"), "{}", text(&o));
}
