//! ESM-2, the protein language model VirNucPro embeds translated frames with (the 3B model,
//! layer 36, 2560-d), in any size its `config.json` describes.

mod alphabet;
mod config;
mod layer;
mod model;

pub use alphabet::EsmAlphabet;
pub use config::Esm2Config;
pub use model::Esm2;
