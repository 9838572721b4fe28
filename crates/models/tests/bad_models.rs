//! Broken or wrong model files: each gives a clear error naming the file, never a panic.
//!
//! Most start from the shipped demo models; only the PyTorch pickles (`pytorch_model.bin`, the
//! classifier `.pth`), which only PyTorch writes, come from the golden directory.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use candle_core::Device;
use common::*;
use virnucpro_models::{Classifier, Dnabert, EmbeddingModel, Esm2, ModelError, Precision};

fn copy(src: &Path, dst: &Path, files: &[&str]) {
    for f in files {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
}

fn esm_err(dir: &Path) -> String {
    match Esm2::load(dir, &Device::Cpu, Precision::F32) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_directory_config_and_weights() {
    let empty = tempfile::tempdir().unwrap();
    let err = esm_err(empty.path());
    assert!(err.contains("no config.json found"), "{err}");
    copy(&demo("esm2_demo"), empty.path(), &["config.json"]);
    let err = esm_err(empty.path());
    assert!(
        err.contains("model.safetensors or pytorch_model.bin"),
        "{err}"
    );
    let err = esm_err(Path::new("/nonexistent/esm2"));
    assert!(err.contains("/nonexistent/esm2"), "{err}");
}

#[test]
fn configs_that_change_the_architecture_are_refused() {
    let src = demo("esm2_demo");
    for (field, value, expected) in [
        ("position_embedding_type", "\"absolute\"", "rotary"),
        ("emb_layer_norm_before", "true", "emb_layer_norm_before"),
        ("hidden_act", "\"relu\"", "gelu"),
        ("num_attention_heads", "5", "multiple"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        copy(&src, dir.path(), &["model.safetensors"]);
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap())
                .unwrap();
        config[field] = serde_json::from_str(value).unwrap();
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let err = esm_err(dir.path());
        assert!(
            err.contains(expected) && err.contains("config.json"),
            "{field}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    assert!(esm_err(dir.path()).contains("not an ESM-2 config.json"));

    let src = demo("dnabert_demo");
    let dir = tempfile::tempdir().unwrap();
    copy(&src, dir.path(), &["model.safetensors", "tokenizer.json"]);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    config["architectures"] = serde_json::json!(["RobertaModel"]);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let err = Dnabert::load(dir.path(), &Device::Cpu, Precision::F32)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("RobertaModel"), "{err}");
}

#[test]
fn wrong_shapes_and_truncated_weights_are_refused() {
    let src = demo("esm2_demo");
    // A config that does not match the weights: hidden 32 in the file, 128 in the config.
    let dir = tempfile::tempdir().unwrap();
    copy(&src, dir.path(), &["model.safetensors"]);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    config["hidden_size"] = serde_json::json!(128);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let err = esm_err(dir.path());
    assert!(
        err.contains("model.safetensors") && err.contains("shape"),
        "{err}"
    );

    // Truncated safetensors.
    let dir = tempfile::tempdir().unwrap();
    copy(&src, dir.path(), &["config.json"]);
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let err = esm_err(dir.path());
    assert!(err.contains("not a valid safetensors file"), "{err}");
}

#[test]
fn a_truncated_pytorch_bin_is_refused() {
    // A PyTorch pickle archive, which only PyTorch writes: the golden one.
    let Some(golden) = golden_dir() else { return };
    let src = golden.join("models/dnabert_tiny");
    let dir = tempfile::tempdir().unwrap();
    copy(&src, dir.path(), &["config.json"]);
    let bytes = std::fs::read(src.join("pytorch_model.bin")).unwrap();
    std::fs::write(
        dir.path().join("pytorch_model.bin"),
        &bytes[..bytes.len() - 5000],
    )
    .unwrap();
    let err = Dnabert::load(dir.path(), &Device::Cpu, Precision::F32)
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::Weights { .. }), "{err}");
    assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
}

/// Rewrites a torch zip archive with `edit` applied to its data.pkl.
fn edit_pickle(src: &Path, dst: &Path, edit: impl Fn(Vec<u8>) -> Vec<u8>) {
    let mut zin = zip::ZipArchive::new(std::fs::File::open(src).unwrap()).unwrap();
    let mut zout = zip::ZipWriter::new(std::fs::File::create(dst).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..zin.len() {
        let mut entry = zin.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name.ends_with("data.pkl") {
            data = edit(data);
        }
        zout.start_file(name, options).unwrap();
        zout.write_all(&data).unwrap();
    }
    zout.finish().unwrap();
}

fn replace(data: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = data
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern in pickle");
    [&data[..at], to, &data[at + from.len()..]].concat()
}

#[test]
fn classifier_pickles_with_unexpected_content_are_refused() {
    let Some(golden) = golden_dir() else { return };
    let src = golden.join("classifier/tiny_mlp.pth");
    let dir = tempfile::tempdir().unwrap();

    // A pickle that names a code-running global instead of the module class.
    let evil = dir.path().join("evil.pth");
    edit_pickle(&src, &evil, |d| {
        replace(d, b"__main__\nMLPClassifier\n", b"os\nsystem\n")
    });
    let err = Classifier::load(&evil, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("os.system") && err.contains("evil.pth"),
        "{err}"
    );

    // A state dict pickle (DNABERT's) given as the classifier.
    let err = Classifier::load(
        &golden.join("models/dnabert_tiny/pytorch_model.bin"),
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("pytorch_model.bin"), "{err}");

    // Garbage and truncation.
    let garbage = dir.path().join("garbage.pth");
    std::fs::write(&garbage, b"this is not a model").unwrap();
    assert!(Classifier::load(&garbage, &Device::Cpu).is_err());
    let truncated = dir.path().join("truncated.pth");
    let bytes = std::fs::read(&src).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    assert!(Classifier::load(&truncated, &Device::Cpu).is_err());
    assert!(Classifier::load(&dir.path().join("missing.pth"), &Device::Cpu).is_err());
}

#[test]
fn classifier_input_width_is_checked() {
    let model = Classifier::load(
        &demo("classifier_demo").join("500_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(model.input_size(), 64);
    let x = candle_core::Tensor::zeros((2, 3328), candle_core::DType::F32, &Device::Cpu).unwrap();
    let err = model.predict(&x).err().unwrap().to_string();
    assert!(err.contains("64 features") && err.contains("3328"), "{err}");
}
