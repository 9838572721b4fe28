//! The training half of VirNucPro: from labelled genomes to the frames a classifier learns
//! from. `dataset` builds the training set with the original's rules (spec: training.md);
//! `features` computes each frame's DNABERT-S + ESM-2 features through the engine.

pub mod balance;
pub mod dataset;
pub mod error;
pub mod features;

pub use dataset::{make_dataset, DatasetRequest, DatasetSummary, Label, Source, SplitBy};
pub use error::{Result, TrainError};
pub use features::{extract_features, FeaturesRequest, FeaturesSummary};
