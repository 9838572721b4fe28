//! DNABERT-S, the DNA language model VirNucPro embeds nucleotide frames with (MosaicBERT
//! architecture, 768-d), with its BPE tokenizer.

mod config;
mod layer;
mod model;
mod tokenizer;

pub use config::DnabertConfig;
pub use model::Dnabert;
pub use tokenizer::DnaTokenizer;
