//! ESM-2 hyper-parameters from a Hugging Face `config.json` (`EsmForMaskedLM` / `EsmModel`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, Unsupported};

/// What the forward pass needs to know; other fields of the hub config are ignored, but those
/// that would change the architecture are checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Esm2Config {
    /// Width of the residual stream (2560 for the 3B model).
    pub hidden_size: usize,
    /// Number of transformer layers (36 for 3B).
    pub num_hidden_layers: usize,
    /// Attention heads per layer (40 for 3B).
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer (4 x hidden).
    pub intermediate_size: usize,
    /// LayerNorm epsilon (1e-5 for ESM-2).
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Vocabulary size (33).
    #[serde(default = "default_vocab")]
    pub vocab_size: usize,
    /// Whether the embeddings are rescaled as in token-dropout training (true for ESM-2).
    #[serde(default)]
    pub token_dropout: bool,
    /// `<mask>` token id (32).
    #[serde(default = "default_mask")]
    pub mask_token_id: u32,
    /// `<pad>` token id (1).
    #[serde(default = "default_pad")]
    pub pad_token_id: u32,
    #[serde(default = "default_rotary")]
    position_embedding_type: String,
    #[serde(default)]
    emb_layer_norm_before: Option<bool>,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default)]
    is_folding_model: bool,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_vocab() -> usize {
    33
}
fn default_mask() -> u32 {
    32
}
fn default_pad() -> u32 {
    1
}
fn default_rotary() -> String {
    "rotary".into()
}
fn default_act() -> String {
    "gelu".into()
}

impl Esm2Config {
    /// The published ESM-2 shapes by name (`8M`, `35M`, `150M`, `650M`, `3B`, `15B`), or `tiny`
    /// (the golden test model's shape), with the hub configs' other settings.
    pub fn preset(name: &str) -> Option<Self> {
        let (layers, hidden, heads) = match name.to_ascii_uppercase().as_str() {
            "TINY" => (3, 64, 4),
            "8M" => (6, 320, 20),
            "35M" => (12, 480, 20),
            "150M" => (30, 640, 20),
            "650M" => (33, 1280, 20),
            "3B" => (36, 2560, 40),
            "15B" => (48, 5120, 40),
            _ => return None,
        };
        Some(Esm2Config {
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: 4 * hidden,
            layer_norm_eps: default_eps(),
            vocab_size: default_vocab(),
            token_dropout: true,
            mask_token_id: default_mask(),
            pad_token_id: default_pad(),
            position_embedding_type: default_rotary(),
            emb_layer_norm_before: Some(false),
            hidden_act: default_act(),
            is_folding_model: false,
        })
    }

    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        crate::config_file::read_checked(path, "an ESM-2", Self::check)
    }

    /// Rejects settings this implementation does not compute.
    fn check(&self) -> std::result::Result<(), Unsupported> {
        let setting = |setting, found: &str, expected, hint| Unsupported::Setting {
            setting,
            found: found.to_string(),
            model: "ESM-2",
            expected,
            hint,
        };
        if self.position_embedding_type != "rotary" {
            return Err(setting(
                "position_embedding_type",
                &self.position_embedding_type,
                "rotary",
                " (is this an ESM-1 model?)",
            ));
        }
        if self.emb_layer_norm_before == Some(true) {
            return Err(Unsupported::Feature(
                "emb_layer_norm_before is true; ESM-2 has no embedding LayerNorm",
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(setting("hidden_act", &self.hidden_act, "gelu", ""));
        }
        if self.is_folding_model {
            return Err(Unsupported::Feature(
                "this is an ESMFold config, not an ESM-2 language model",
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(Unsupported::Heads {
                hidden: self.hidden_size,
                heads: self.num_attention_heads,
            });
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(Unsupported::OddHeadDim);
        }
        if self.vocab_size < 33 {
            return Err(Unsupported::SmallVocabulary(self.vocab_size));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Parameters of the layers (embeddings excluded), as FLOP counts usually take them.
    pub fn layer_parameters(&self) -> usize {
        let h = self.hidden_size;
        let i = self.intermediate_size;
        self.num_hidden_layers * (4 * h * h + 4 * h + 2 * h * i + h + i + 4 * h)
    }
}
