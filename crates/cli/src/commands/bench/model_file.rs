//! Random-weight ESM-2 models written as the hub ships them (`config.json` and an fp32
//! `model.safetensors`), so that a benchmark can measure loading from a file at any published
//! shape, 3B included, without downloading one.
//!
//! The file is streamed: each tensor's values are made while it is written, so writing a 3B
//! model (11 GB) holds one tensor (at most 105 MB) in memory, not the model.

use std::borrow::Cow;
use std::path::Path;

use anyhow::{Context, Result};
use safetensors::{Dtype, View};
use virnucpro_models::{Esm2, Esm2Config};
use virnucpro_seq::synthetic::SplitMix64;

/// One tensor of the file, its values made from a seed when the writer asks for them.
struct RandomTensor {
    name: String,
    shape: Vec<usize>,
    seed: u64,
}

impl RandomTensor {
    /// Values as PyTorch initialises such a tensor, near enough for a forward pass that stays
    /// finite: LayerNorm weights near 1, everything else uniform with standard deviation 0.02.
    fn values(&self) -> Vec<f32> {
        let n: usize = self.shape.iter().product();
        let mut rng = SplitMix64(self.seed);
        let norm = self.name.contains("LayerNorm") || self.name.contains("layer_norm");
        let (centre, half_width) = if norm && self.name.ends_with("weight") {
            (1.0, 0.02)
        } else {
            (0.0, 0.02 * 3f32.sqrt())
        };
        (0..n)
            .map(|_| {
                let unit = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
                centre + half_width * (2.0 * unit - 1.0)
            })
            .collect()
    }
}

impl View for &RandomTensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let bytes: Vec<u8> = self
            .values()
            .into_iter()
            .flat_map(f32::to_le_bytes)
            .collect();
        Cow::Owned(bytes)
    }

    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * 4
    }
}

/// Writes a random-weight ESM-2 of `config`'s shape into `dir` (created), as the hub lays it
/// out; returns the size of `model.safetensors` in bytes.
pub fn write_esm2(dir: &Path, config: &Esm2Config) -> Result<u64> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tensors: Vec<RandomTensor> = Esm2::hub_layout(config)?
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| RandomTensor {
            name,
            shape,
            seed: i as u64,
        })
        .collect();
    let weights = dir.join("model.safetensors");
    safetensors::serialize_to_file(tensors.iter().map(|t| (t.name.as_str(), t)), None, &weights)
        .with_context(|| format!("cannot write {}", weights.display()))?;
    let mut json = serde_json::to_value(config)?;
    json["architectures"] = serde_json::json!(["EsmForMaskedLM"]);
    json["model_type"] = serde_json::json!("esm");
    json["torch_dtype"] = serde_json::json!("float32");
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    Ok(std::fs::metadata(&weights)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use virnucpro_models::{EmbeddingModel, EsmAlphabet, PackedBatch, Precision};

    #[test]
    fn a_written_model_loads_and_runs_to_finite_embeddings() {
        let dir = tempfile::tempdir().unwrap();
        let config = Esm2Config::preset("tiny").unwrap();
        let bytes = write_esm2(dir.path(), &config).unwrap();
        let params = config.layer_parameters() + config.vocab_size * config.hidden_size;
        assert!(
            bytes as usize >= params * 4,
            "{bytes} bytes for {params} parameters"
        );
        let model = Esm2::load(dir.path(), &Device::Cpu, Precision::F32).unwrap();
        assert_eq!(model.config().hidden_size, config.hidden_size);
        let tokens = EsmAlphabet.encode("MKTAYIAKQR").unwrap();
        let batch = PackedBatch::new(&[tokens.as_slice()]).unwrap();
        let pooled = model
            .embed_packed(&batch)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert!(pooled[0].iter().all(|v| v.is_finite()));
        assert!(pooled[0].iter().any(|&v| v != 0.0));
    }
}
