//! The two result files, in the original's formats (spec: golden/README.md, e2e section).
//!
//! `prediction_results.txt`: `Sequence_ID  Prediction  score1  score2`, tab-separated, one row per
//! kept frame, scores printed as numpy prints a float32 (shortest round-trip).
//! `prediction_results_highestscore.csv` (tab-separated too): one row per chunk (`Modified_ID` =
//! the frame id minus its last 2 characters), `Is_Virus` = max(P(virus)) >= max(P(others)) over
//! the chunk's frames, rows sorted by `Modified_ID` as pandas' groupby sorts them.

use std::collections::BTreeMap;
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

/// The text of `prediction_results.txt`.
pub fn prediction_results(calls: &[FrameCall]) -> String {
    let mut out = String::from("Sequence_ID\tPrediction\tscore1\tscore2\n");
    for c in calls {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}",
            c.id,
            c.label(),
            numpy_f32(c.probs[0]),
            numpy_f32(c.probs[1])
        );
    }
    out
}

/// The per-chunk consensus: (chunk id, is virus), sorted by chunk id.
pub fn consensus(calls: &[FrameCall]) -> Vec<(String, bool)> {
    let mut best: BTreeMap<String, (f32, f32)> = BTreeMap::new();
    for c in calls {
        // The original strips the last 2 characters unconditionally.
        let cut =
            c.id.char_indices()
                .rev()
                .nth(1)
                .map(|(i, _)| i)
                .unwrap_or(0);
        let key = c.id[..cut].to_string();
        let e = best
            .entry(key)
            .or_insert((f32::NEG_INFINITY, f32::NEG_INFINITY));
        e.0 = e.0.max(c.probs[0]);
        e.1 = e.1.max(c.probs[1]);
    }
    best.into_iter()
        .map(|(k, (others, virus))| (k, virus >= others))
        .collect()
}

/// The text of `prediction_results_highestscore.csv`.
pub fn consensus_csv(calls: &[FrameCall]) -> String {
    let mut out = String::from("Modified_ID\tIs_Virus\n");
    for (id, virus) in consensus(calls) {
        let _ = writeln!(out, "{id}\t{}", if virus { "True" } else { "False" });
    }
    out
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

    #[test]
    fn consensus_is_max_against_max_per_chunk_sorted_as_strings() {
        let call = |id: &str, p0: f32, p1: f32| FrameCall {
            id: id.into(),
            probs: [p0, p1],
        };
        let calls = [
            call("x_chunk_2F1", 0.6, 0.4),
            call("x_chunk_2R1", 0.45, 0.55),
            call("x_chunk_10F1", 0.5, 0.5),
            call("x_chunk_1R3", 0.9, 0.1),
        ];
        // (0.6, 0.4) and (0.45, 0.55): max virus 0.55 < max others 0.6 -> False; a tie -> True.
        assert_eq!(
            consensus(&calls),
            [
                ("x_chunk_1".to_string(), false),
                ("x_chunk_10".to_string(), true),
                ("x_chunk_2".to_string(), false)
            ]
        );
        assert_eq!(calls[2].label(), "others");
    }
}
