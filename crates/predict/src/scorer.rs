//! The prediction as the engine's unit of work: DNABERT-S and ESM-2 embed the same batch of
//! frames, the two embeddings are joined (DNABERT-S first) and classified, and each frame's row
//! is its two class probabilities, followed by both embeddings when they are to be saved.
//!
//! Running all three on a batch means no embedding outlives its batch: the checkpoints hold
//! two floats per frame instead of 3,328. Without a classifier ([`FrameScorer::features`], the
//! training set's features) a row is the two embeddings alone.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use virnucpro_engine::{Encoder, Item, Model, TokenizeError, Tokens};
use virnucpro_models::{Classifier, ModelError, Precision};

/// DNABERT-S + ESM-2 + the classifier on one device.
pub struct FrameScorer {
    dnabert: Box<dyn Encoder>,
    esm: Box<dyn Encoder>,
    classifier: Option<Arc<Classifier>>,
    keep_embeddings: bool,
}

impl FrameScorer {
    /// Joins the loaded models; refuses a classifier whose input width is not DNABERT-S's plus
    /// ESM-2's.
    pub fn new(
        dnabert: Box<dyn Encoder>,
        esm: Box<dyn Encoder>,
        classifier: Arc<Classifier>,
        keep_embeddings: bool,
    ) -> Result<Self, String> {
        let (d, e) = (dnabert.dim(), esm.dim());
        if classifier.input_size() != d + e {
            return Err(format!(
                "the classifier takes {} features, but DNABERT-S ({d}) + ESM-2 ({e}) give {}: \
                 it does not belong to these embedding models",
                classifier.input_size(),
                d + e
            ));
        }
        Ok(FrameScorer {
            dnabert,
            esm,
            classifier: Some(classifier),
            keep_embeddings,
        })
    }

    /// The two embedding models alone: each frame's row is its DNABERT-S embedding followed by
    /// its ESM-2 one (the classifier's input, for training one).
    pub fn features(dnabert: Box<dyn Encoder>, esm: Box<dyn Encoder>) -> Self {
        FrameScorer {
            dnabert,
            esm,
            classifier: None,
            keep_embeddings: true,
        }
    }

    /// DNABERT-S's embedding width.
    pub fn dnabert_dim(&self) -> usize {
        self.dnabert.dim()
    }

    /// ESM-2's embedding width.
    pub fn esm_dim(&self) -> usize {
        self.esm.dim()
    }
}

/// Where the probabilities and embeddings sit in a row.
pub const SCORES: usize = 2;

impl Model for FrameScorer {
    fn name(&self) -> &str {
        if self.classifier.is_some() {
            "virnucpro"
        } else {
            "virnucpro-features"
        }
    }
    fn output(&self) -> &'static str {
        if self.classifier.is_some() {
            "scores"
        } else {
            // The checkpoints' dataset for rows of embeddings.
            "embeddings"
        }
    }
    fn width(&self) -> usize {
        self.classifier.as_ref().map_or(0, |_| SCORES)
            + if self.keep_embeddings {
                self.dnabert.dim() + self.esm.dim()
            } else {
                0
            }
    }
    fn packed(&self) -> bool {
        // Batches are planned on the protein tokens: ESM-2 is most of the work, and packed.
        true
    }
    fn precision(&self) -> Precision {
        self.esm.precision()
    }
    fn device(&self) -> &Device {
        self.esm.device()
    }
    fn tokenize(&self, item: &Item) -> Result<Tokens, TokenizeError> {
        let [nucleotide, protein] = item.seqs.as_slice() else {
            return Err(TokenizeError::WrongShape(
                "a frame has its nucleotides and its protein",
            ));
        };
        let protein = self.esm.tokenize(std::str::from_utf8(protein)?)?;
        let nucleotide = self.dnabert.tokenize(std::str::from_utf8(nucleotide)?)?;
        Ok(Tokens(vec![protein, nucleotide]))
    }
    fn run(&self, batch: &[&Tokens]) -> virnucpro_engine::Result<Vec<f32>> {
        let part = |i: usize| -> Vec<&[u32]> {
            batch
                .iter()
                .map(|t| t.0.get(i).map(Vec::as_slice).unwrap_or_default())
                .collect()
        };
        let esm = self.esm.embed(&part(0))?;
        let dna = self.dnabert.embed(&part(1))?;
        let (d, e, n) = (self.dnabert.dim(), self.esm.dim(), batch.len());
        let mut features = Vec::with_capacity(n * (d + e));
        for i in 0..n {
            features.extend_from_slice(&dna[i * d..(i + 1) * d]);
            features.extend_from_slice(&esm[i * e..(i + 1) * e]);
        }
        let Some(classifier) = &self.classifier else {
            if let Some(bad) = features.iter().find(|v| !v.is_finite()) {
                return Err(ModelError::Input(format!(
                    "an embedding holds {bad}: the models produce NaN or infinity (check the \
                     weights of ESM-2 and DNABERT-S)"
                ))
                .into());
            }
            return Ok(features);
        };
        let x = Tensor::from_vec(features, (n, d + e), &Device::Cpu).map_err(ModelError::from)?;
        let predictions = classifier.predict(&x)?;
        let mut rows = Vec::with_capacity(n * self.width());
        for (i, p) in predictions.iter().enumerate() {
            if !p.probs.iter().all(|v| v.is_finite()) {
                return Err(ModelError::Input(format!(
                    "the classifier gave {:?} for a frame: the models produce NaN or infinity \
                     (check the weights of ESM-2, DNABERT-S and the classifier)",
                    p.probs
                ))
                .into());
            }
            rows.extend_from_slice(&p.probs);
            if self.keep_embeddings {
                rows.extend_from_slice(&dna[i * d..(i + 1) * d]);
                rows.extend_from_slice(&esm[i * e..(i + 1) * e]);
            }
        }
        Ok(rows)
    }
}
