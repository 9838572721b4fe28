//! The two result files, in the original's formats (spec: golden/README.md, e2e section).
//!
//! `prediction_results.txt`: `Sequence_ID  Prediction  score1  score2`, tab-separated, one row per
//! kept frame, scores printed as numpy prints a float32 (shortest round-trip).
//! `prediction_results_highestscore.csv` (tab-separated too): one row per chunk (`Modified_ID` =
//! the frame id minus its last 2 characters), `Is_Virus` = max(P(virus)) >= max(P(others)) over
//! the chunk's frames, rows sorted by `Modified_ID` as pandas' groupby sorts them; the calls
//! themselves are made by the `consensus` module.

use std::fmt::Write as _;

/// One classified frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameCall {
    /// Frame id (`<chunk id>F1` ...).
    pub id: String,
    /// P(others), P(virus).
    pub probs: [f32; 2],
}

impl FrameCall {
    /// `virus` when P(virus) > P(others), else `others` (a tie goes to index 0, as `torch.max`).
    pub fn label(&self) -> &'static str {
        if self.probs[1] > self.probs[0] {
            "virus"
        } else {
            "others"
        }
    }
}

/// `str(numpy.float32(x))`: the shortest decimal that reads back as `x`; positional between
/// 1e-4 and 1e16 (always with a `.`), scientific outside (`1.5e-05`: two-digit exponent at least).
pub fn numpy_f32(x: f32) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = x.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').expect("`{:e}` has an exponent");
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    }
}

/// The header line of `prediction_results.txt`.
pub const RESULTS_HEADER: &str = "Sequence_ID\tPrediction\tscore1\tscore2\n";
/// The header line of `prediction_results_highestscore.csv`.
pub const CONSENSUS_HEADER: &str = "Modified_ID\tIs_Virus\n";

/// Appends one `prediction_results.txt` row.
pub fn push_result(out: &mut String, id: &str, probs: [f32; 2]) {
    let call = FrameCall {
        id: String::new(),
        probs,
    };
    let _ = writeln!(
        out,
        "{id}\t{}\t{}\t{}",
        call.label(),
        numpy_f32(probs[0]),
        numpy_f32(probs[1])
    );
}

/// Appends one `prediction_results_highestscore.csv` row.
pub fn push_consensus(out: &mut Vec<u8>, chunk_id: &[u8], virus: bool) {
    out.extend_from_slice(chunk_id);
    out.extend_from_slice(if virus { b"\tTrue\n" } else { b"\tFalse\n" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_numpy_float32() {
        assert_eq!(numpy_f32(0.404_040_43), "0.40404043");
        assert_eq!(numpy_f32(1.0), "1.0");
        assert_eq!(numpy_f32(0.0), "0.0");
        assert_eq!(numpy_f32(1.2345e-5), "1.2345e-05");
        assert_eq!(numpy_f32(0.0001), "0.0001");
        assert_eq!(numpy_f32(3e-8), "3e-08");
    }
}
