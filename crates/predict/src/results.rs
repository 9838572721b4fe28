//! The two result files, in the original's formats (spec: golden/README.md, e2e section).
//!
//! `prediction_results.txt`: `Sequence_ID  Prediction  score1  score2`, tab-separated, one row per
//! kept frame, scores printed as numpy prints a float32 (shortest round-trip).
//! `prediction_results_highestscore.csv` (tab-separated too): one row per chunk (`Modified_ID` =
//! the frame id minus its last 2 characters), `Is_Virus` = max(P(virus)) >= max(P(others)) over
//! the chunk's frames, rows sorted by `Modified_ID` as pandas' groupby sorts them.

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

/// The text of `prediction_results.txt`.
pub fn prediction_results(calls: &[FrameCall]) -> String {
    let mut out = String::from(RESULTS_HEADER);
    for c in calls {
        push_result(&mut out, &c.id, c.probs);
    }
    out
}

/// The per-chunk consensus, built frame by frame in little memory: each chunk's id bytes and
/// its two maxima (about 24 bytes besides the id), sorted at the end.
#[derive(Debug, Default)]
pub struct Consensus {
    keys: Vec<u8>,
    /// (start of the key in `keys`, its length, max P(others), max P(virus)).
    chunks: Vec<(u64, u32, f32, f32)>,
}

impl Consensus {
    /// Adds one frame: its id and probabilities.
    pub fn push(&mut self, frame_id: &str, probs: [f32; 2]) {
        // The original strips the last 2 characters unconditionally.
        let cut = frame_id
            .char_indices()
            .rev()
            .nth(1)
            .map(|(i, _)| i)
            .unwrap_or(0);
        let key = &frame_id.as_bytes()[..cut];
        if let Some(last) = self.chunks.last_mut() {
            let start = last.0 as usize;
            if &self.keys[start..start + last.1 as usize] == key {
                last.2 = last.2.max(probs[0]);
                last.3 = last.3.max(probs[1]);
                return;
            }
        }
        self.chunks.push((
            self.keys.len() as u64,
            key.len() as u32,
            probs[0].max(f32::NEG_INFINITY),
            probs[1].max(f32::NEG_INFINITY),
        ));
        self.keys.extend_from_slice(key);
    }

    /// Gives each chunk (id bytes, is virus) to `chunk`, sorted by chunk id as pandas' groupby
    /// sorts them, without building them all first; the frames of one chunk need not have come
    /// together. Returns the chunks and the viral ones.
    pub fn for_each_sorted<E>(
        mut self,
        mut chunk: impl FnMut(&[u8], bool) -> Result<(), E>,
    ) -> Result<(u64, u64), E> {
        let keys = std::mem::take(&mut self.keys);
        let key = |c: &(u64, u32, f32, f32)| &keys[c.0 as usize..c.0 as usize + c.1 as usize];
        self.chunks.sort_by(|a, b| key(a).cmp(key(b)));
        let (mut count, mut viral) = (0, 0);
        let mut i = 0;
        while i < self.chunks.len() {
            let (mut others, mut virus) = (self.chunks[i].2, self.chunks[i].3);
            let mut j = i + 1;
            while j < self.chunks.len() && key(&self.chunks[j]) == key(&self.chunks[i]) {
                others = others.max(self.chunks[j].2);
                virus = virus.max(self.chunks[j].3);
                j += 1;
            }
            let is_virus = virus >= others;
            chunk(key(&self.chunks[i]), is_virus)?;
            count += 1;
            viral += u64::from(is_virus);
            i = j;
        }
        Ok((count, viral))
    }

    /// (chunk id, is virus) sorted by chunk id, as [`Consensus::for_each_sorted`] gives them.
    pub fn finish(self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let _ = self.for_each_sorted(|id, virus| -> Result<(), ()> {
            out.push((String::from_utf8_lossy(id).into_owned(), virus));
            Ok(())
        });
        out
    }
}

/// Appends one `prediction_results_highestscore.csv` row.
pub fn push_consensus(out: &mut Vec<u8>, chunk_id: &[u8], virus: bool) {
    out.extend_from_slice(chunk_id);
    out.extend_from_slice(if virus { b"\tTrue\n" } else { b"\tFalse\n" });
}

/// The per-chunk consensus: (chunk id, is virus), sorted by chunk id.
pub fn consensus(calls: &[FrameCall]) -> Vec<(String, bool)> {
    let mut c = Consensus::default();
    for call in calls {
        c.push(&call.id, call.probs);
    }
    c.finish()
}

/// The text of `prediction_results_highestscore.csv` for a finished consensus.
pub fn consensus_text(chunks: &[(String, bool)]) -> String {
    let mut out = CONSENSUS_HEADER.as_bytes().to_vec();
    for (id, virus) in chunks {
        push_consensus(&mut out, id.as_bytes(), *virus);
    }
    String::from_utf8(out).expect("ids are text")
}

/// The text of `prediction_results_highestscore.csv`.
pub fn consensus_csv(calls: &[FrameCall]) -> String {
    consensus_text(&consensus(calls))
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
        // Frames of one chunk apart from each other still make one row.
        let apart = [
            call("y_chunk_1F1", 0.6, 0.4),
            call("y_chunk_2F1", 0.6, 0.4),
            call("y_chunk_1R1", 0.3, 0.7),
        ];
        assert_eq!(
            consensus(&apart),
            [
                ("y_chunk_1".to_string(), true),
                ("y_chunk_2".to_string(), false)
            ]
        );
    }
}
