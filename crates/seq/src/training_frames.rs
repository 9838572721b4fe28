//! The frames of the original's training set (`units.identify_seq(..., istraindata=True)`):
//! each record chunked with the prediction chunker; a chunk holding any of `NRYMKSWHBVD`
//! dropped whole; of its six frames, one kept when its protein has no stop **and**, for an
//! annotated record, is part of one of the record's CDS translations (the true coding frame).
//! Ids and nucleotide slices are prediction mode's (`<id>_chunk_<k>F1..R3`). A record without
//! annotations (FASTA input) keeps every stop-free frame, as prediction does.

use crate::chunk::chunk_spans;
use crate::translate::SixFrames;

/// The letters that drop a chunk from the training set (the original's list: `U` and lower
/// case are not in it; chunks are upper-cased first).
pub const AMBIGUOUS: &[u8] = b"NRYMKSWHBVD";

/// Length of the words the protein index is keyed by.
const WORD: usize = 8;

/// The CDS translations of one record, indexed so that "is this protein part of one of them"
/// costs about one lookup, not a scan of every translation (a bacterial chromosome has
/// thousands of CDS and every chunk asks six times).
pub struct ProteinIndex {
    text: Vec<u8>,
    words: std::collections::HashMap<[u8; WORD], Vec<u32>>,
}

impl ProteinIndex {
    /// Indexes `translations` (upper-case one-letter codes).
    pub fn new<S: AsRef<str>>(translations: &[S]) -> Self {
        let mut text = Vec::new();
        for t in translations {
            text.push(b'|');
            text.extend(t.as_ref().bytes().map(|b| b.to_ascii_uppercase()));
        }
        text.push(b'|');
        let mut words: std::collections::HashMap<[u8; WORD], Vec<u32>> =
            std::collections::HashMap::new();
        for (i, w) in text.windows(WORD).enumerate() {
            if !w.contains(&b'|') {
                words
                    .entry(w.try_into().expect("a window of WORD bytes"))
                    .or_default()
                    .push(i as u32);
            }
        }
        ProteinIndex { text, words }
    }

    /// Whether `protein` is a substring of one of the translations.
    pub fn contains(&self, protein: &[u8]) -> bool {
        if protein.is_empty() {
            return true;
        }
        if protein.len() < WORD {
            return self.text.windows(protein.len()).any(|w| w == protein);
        }
        let key: [u8; WORD] = protein[..WORD].try_into().expect("WORD bytes");
        self.words.get(&key).is_some_and(|starts| {
            starts.iter().any(|&s| {
                let s = s as usize;
                self.text.get(s..s + protein.len()) == Some(protein)
            })
        })
    }
}

/// One kept training frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingFrame {
    /// `<record>_chunk_<k><F1..R3>`.
    pub id: String,
    /// The nucleotide slice prediction pairs with the protein.
    pub nucleotide: Vec<u8>,
    /// The protein.
    pub protein: Vec<u8>,
}

/// Calls `keep` for each training frame of the record `id` with sequence `seq`, cut at
/// `length` bp; `annotated` holds the record's translations (GenBank) or is `None` (every
/// stop-free frame). Returns the chunks dropped for an ambiguous letter.
pub fn for_each_training_frame(
    id: &str,
    seq: &[u8],
    length: usize,
    annotated: Option<&ProteinIndex>,
    six: &mut SixFrames,
    mut keep: impl FnMut(TrainingFrame),
) -> u64 {
    let mut dropped = 0;
    let mut chunk = Vec::with_capacity(length);
    for (k, span) in chunk_spans(seq.len(), length).enumerate() {
        chunk.clear();
        chunk.extend(seq[span].iter().map(u8::to_ascii_uppercase));
        if chunk.iter().any(|b| AMBIGUOUS.contains(b)) {
            dropped += 1;
            continue;
        }
        six.for_each_kept(&chunk, |kept| {
            if annotated.is_none_or(|index| index.contains(kept.protein)) {
                keep(TrainingFrame {
                    id: format!("{id}_chunk_{}{}", k + 1, kept.frame.suffix()),
                    nucleotide: kept.nucleotide.to_vec(),
                    protein: kept.protein.to_vec(),
                });
            }
        });
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_substrings_of_any_translation_only() {
        let index = ProteinIndex::new(&["MKKLLLVVAAGG", "PPQQRRSSTTWW"]);
        assert!(index.contains(b"KKLLLVVAAG"));
        assert!(index.contains(b"QQRRSSTTWW"));
        assert!(index.contains(b"LLV"));
        assert!(!index.contains(b"GGPPQQRRSS"), "across two translations");
        assert!(!index.contains(b"MKKLLLVVAAGGX"));
        assert!(!index.contains(b"WWX"));
    }

    #[test]
    fn only_the_annotated_frame_is_kept_and_ambiguous_chunks_are_dropped() {
        // A coding sequence of 100 codons, no stop: MK then ACG... (T) repeated.
        let codons: Vec<&[u8]> = std::iter::once(&b"ATG"[..])
            .chain(std::iter::repeat_n(&b"GCT"[..], 40))
            .chain(std::iter::repeat_n(&b"AAA"[..], 59))
            .collect();
        let seq: Vec<u8> = codons.concat();
        let translation = format!("M{}{}", "A".repeat(40), "K".repeat(59));
        let index = ProteinIndex::new(&[translation]);
        let mut six = SixFrames::new();
        let mut annotated = Vec::new();
        let dropped = for_each_training_frame("g1", &seq, 300, Some(&index), &mut six, |f| {
            annotated.push(f)
        });
        assert_eq!(dropped, 0);
        assert_eq!(annotated.len(), 1, "{annotated:?}");
        assert_eq!(annotated[0].id, "g1_chunk_1F1");
        assert_eq!(annotated[0].protein.len(), 100);
        let mut every = Vec::new();
        for_each_training_frame("g1", &seq, 300, None, &mut six, |f| every.push(f.id));
        assert!(every.len() > 1 && every.contains(&"g1_chunk_1F1".to_string()));

        let mut ambiguous = seq.clone();
        ambiguous[10] = b'n';
        let dropped = for_each_training_frame("g1", &ambiguous, 300, None, &mut six, |_| {
            panic!("an ambiguous chunk is dropped")
        });
        assert_eq!(dropped, 1);
    }
}
