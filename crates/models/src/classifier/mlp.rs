//! The MLP itself and its loading.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};

use super::torch_module;
use crate::error::{ModelError, Result};

/// PyTorch's BatchNorm1d default epsilon, used when the file does not carry one.
const DEFAULT_BN_EPS: f64 = 1e-5;

/// Rows the classifier computes at once on the CPU (see [`Classifier::logits`]).
pub const ROW_BLOCK: usize = 32;

/// Class labels, by output index, as the original writes them.
pub const LABELS: [&str; 2] = ["others", "virus"];

/// The trained VirNucPro classifier (evaluation mode: BatchNorm uses running statistics, dropout
/// is off).
pub struct Classifier {
    hidden_w: Tensor,
    hidden_b: Tensor,
    bn_scale: Tensor,
    bn_shift: Tensor,
    out_w: Tensor,
    out_b: Tensor,
    input_size: usize,
    device: Device,
}

/// Scores of one input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Raw outputs (others, virus).
    pub logits: [f32; 2],
    /// Softmax of the logits: (P(others), P(virus)).
    pub probs: [f32; 2],
    /// 0 = others, 1 = virus: the larger probability, ties to 0 (as `torch.max`).
    pub label: usize,
}

impl Prediction {
    /// `others` or `virus`.
    pub fn label_name(&self) -> &'static str {
        LABELS[self.label]
    }
}

impl Classifier {
    /// Loads `300_model.pth`-style whole-module pickles (`.pth`/`.pt`) or a `.safetensors`
    /// state dict with the same names (`hidden_layer.*`, `bn1.*`, `output_layer.*`).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        if !path.is_file() {
            return Err(ModelError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such classifier file",
                ),
            });
        }
        let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
        let (tensors, eps) = if is_safetensors {
            let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
                ModelError::weights(path, format!("not a readable safetensors file ({e})"))
            })?;
            (tensors, DEFAULT_BN_EPS)
        } else {
            let contents = torch_module::read(path)?;
            let eps = contents
                .floats
                .get("bn1.eps")
                .copied()
                .unwrap_or(DEFAULT_BN_EPS);
            (contents.tensors, eps)
        };
        Self::from_tensors(&tensors, eps, device).map_err(|e| match e {
            ModelError::Input(m) | ModelError::Candle(candle_core::Error::Msg(m)) => {
                ModelError::weights(path, m)
            }
            ModelError::Candle(e) => ModelError::weights(path, e.to_string()),
            other => other,
        })
    }

    /// Builds the classifier from state-dict tensors, checking every shape.
    pub fn from_tensors(
        tensors: &HashMap<String, Tensor>,
        bn_eps: f64,
        device: &Device,
    ) -> Result<Self> {
        let get = |name: &str| -> Result<Tensor> {
            let t = tensors.get(name).ok_or_else(|| {
                ModelError::Input(format!("no tensor '{name}': not a VirNucPro classifier"))
            })?;
            Ok(t.to_dtype(DType::F32)?.to_device(device)?)
        };
        let hidden_w = get("hidden_layer.weight")?;
        let (hidden, input_size) = hidden_w
            .dims2()
            .map_err(|_| ModelError::Input("hidden_layer.weight is not a matrix".into()))?;
        let expect = |name: &str, t: Tensor, dims: &[usize]| -> Result<Tensor> {
            if t.dims() != dims {
                return Err(ModelError::Input(format!(
                    "{name} has shape {:?}, expected {dims:?}",
                    t.dims()
                )));
            }
            Ok(t)
        };
        let hidden_b = expect("hidden_layer.bias", get("hidden_layer.bias")?, &[hidden])?;
        let mean = expect("bn1.running_mean", get("bn1.running_mean")?, &[hidden])?;
        let var = expect("bn1.running_var", get("bn1.running_var")?, &[hidden])?;
        let gamma = expect("bn1.weight", get("bn1.weight")?, &[hidden])?;
        let beta = expect("bn1.bias", get("bn1.bias")?, &[hidden])?;
        let out_w = expect(
            "output_layer.weight",
            get("output_layer.weight")?,
            &[2, hidden],
        )?;
        let out_b = expect("output_layer.bias", get("output_layer.bias")?, &[2])?;
        // Eval-mode BatchNorm as one affine map: (x - mean) / sqrt(var + eps) * gamma + beta.
        let bn_scale = gamma.div(&(var + bn_eps)?.sqrt()?)?;
        let bn_shift = (beta - mean.mul(&bn_scale)?)?;
        Ok(Classifier {
            hidden_w,
            hidden_b,
            bn_scale,
            bn_shift,
            out_w,
            out_b,
            input_size,
            device: device.clone(),
        })
    }

    /// Width of the input (3328 = 768 DNABERT-S + 2560 ESM-2 for the released models).
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// Logits `(n, 2)` of inputs `(n, input_size)`. On the CPU rows go through in blocks of
    /// [`ROW_BLOCK`], the last one padded with zero rows, so every row meets the same matrix
    /// kernels and a frame's scores do not depend on the other frames of its batch (see
    /// [`crate::batch::one_by_one`]).
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let (n, width) = x.dims2()?;
        if self.device.is_cpu() && n > 0 && n != ROW_BLOCK {
            let mut blocks = Vec::with_capacity(n.div_ceil(ROW_BLOCK));
            for start in (0..n).step_by(ROW_BLOCK) {
                let len = ROW_BLOCK.min(n - start);
                let mut block = x.narrow(0, start, len)?;
                if len < ROW_BLOCK {
                    let pad = Tensor::zeros((ROW_BLOCK - len, width), x.dtype(), x.device())?;
                    block = Tensor::cat(&[&block, &pad], 0)?;
                }
                blocks.push(self.logits(&block)?.narrow(0, 0, len)?);
            }
            return Ok(Tensor::cat(&blocks, 0)?);
        }
        if width != self.input_size {
            return Err(ModelError::Input(format!(
                "the classifier takes {} features per sequence but got {width}; the embedding \
                 models do not match this classifier",
                self.input_size
            )));
        }
        let x = x.to_dtype(DType::F32)?.to_device(&self.device)?;
        let h = x
            .matmul(&self.hidden_w.t()?)?
            .broadcast_add(&self.hidden_b)?;
        let h = h
            .broadcast_mul(&self.bn_scale)?
            .broadcast_add(&self.bn_shift)?
            .relu()?;
        Ok(h.matmul(&self.out_w.t()?)?.broadcast_add(&self.out_b)?)
    }

    /// Logits, softmax and label of each input row.
    pub fn predict(&self, x: &Tensor) -> Result<Vec<Prediction>> {
        let logits = self.logits(x)?;
        let probs = candle_nn::ops::softmax(&logits, D::Minus1)?;
        let logits = logits.to_vec2::<f32>()?;
        let probs = probs.to_vec2::<f32>()?;
        Ok(logits
            .into_iter()
            .zip(probs)
            .map(|(l, p)| Prediction {
                logits: [l[0], l[1]],
                probs: [p[0], p[1]],
                label: usize::from(p[1] > p[0]),
            })
            .collect())
    }
}
