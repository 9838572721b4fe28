//! The training half of VirNucPro: from labelled genomes to the frames a classifier learns
//! from. `dataset` builds the training set with the original's rules (spec: training.md).

pub mod balance;
pub mod dataset;
pub mod error;

pub use dataset::{make_dataset, DatasetRequest, DatasetSummary, Label, Source, SplitBy};
pub use error::{Result, TrainError};
