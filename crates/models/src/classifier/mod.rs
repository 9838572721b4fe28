//! The VirNucPro classifier: `Linear -> BatchNorm1d (eval) -> ReLU -> Linear`, softmax over
//! (others, virus), read from the released whole-module pickles or a safetensors state dict.

mod mlp;
mod torch_module;

pub use mlp::{Classifier, Prediction};
