//! DNABERT-S hyper-parameters from its `config.json` (MosaicBERT `BertConfig`).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Result, Unsupported};

/// What the forward pass needs; fields that would change the architecture are checked.
#[derive(Debug, Clone, Deserialize)]
pub struct DnabertConfig {
    /// Width of the residual stream (768).
    pub hidden_size: usize,
    /// Number of layers (12).
    pub num_hidden_layers: usize,
    /// Attention heads per layer (12).
    pub num_attention_heads: usize,
    /// Width of each half of the gated feed-forward layer (3072).
    pub intermediate_size: usize,
    /// Vocabulary size (4096).
    pub vocab_size: usize,
    /// Token-type vocabulary (2); only type 0 is used.
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon (1e-12).
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default)]
    architectures: Vec<String>,
}

fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

impl DnabertConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        crate::config_file::read_checked(path, "a DNABERT-S", Self::check)
    }

    /// Rejects settings this implementation does not compute.
    fn check(&self) -> std::result::Result<(), Unsupported> {
        if self.hidden_act != "gelu" {
            return Err(Unsupported::Setting {
                setting: "hidden_act",
                found: self.hidden_act.clone(),
                model: "DNABERT-S",
                expected: "gelu",
                hint: "",
            });
        }
        if let Some(arch) = self.architectures.iter().find(|a| !a.starts_with("Bert")) {
            return Err(Unsupported::Architecture(arch.clone()));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(Unsupported::Heads {
                hidden: self.hidden_size,
                heads: self.num_attention_heads,
            });
        }
        if self.type_vocab_size == 0 {
            return Err(Unsupported::Feature(
                "type_vocab_size is 0; DNABERT-S adds token-type embedding 0",
            ));
        }
        Ok(())
    }

    /// The published DNABERT-S shape (117M parameters: 12 layers, hidden 768, 12 heads, gated
    /// feed-forward 2 x 3072, BPE vocabulary 4096), for benchmarks with random weights.
    pub fn dnabert_s() -> Self {
        DnabertConfig {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            vocab_size: 4096,
            type_vocab_size: default_types(),
            layer_norm_eps: default_eps(),
            hidden_act: default_act(),
            architectures: vec!["BertModel".into()],
        }
    }

    /// Parameters in the layers (what the matrix work per token scales with).
    pub fn layer_parameters(&self) -> usize {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let per_layer = h * 3 * h + 3 * h + h * h + h + h * 2 * i + i * h + h + 4 * h;
        per_layer * self.num_hidden_layers
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
