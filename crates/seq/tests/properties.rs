//! Property tests of the sequence stages on random sequences.

use proptest::prelude::*;
use virnucpro_seq::translate::translate;
use virnucpro_seq::{alphabet, chunk_id, chunk_spans, Frame, SixFrames};

fn dna() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop::sample::select(b"ACGTacgtNRY".to_vec()), 0..2000)
}

proptest! {
    #[test]
    fn chunks_cover_the_sequence_and_never_exceed_the_length(
        len in 0usize..20_000, size in 1usize..1200
    ) {
        let spans: Vec<_> = chunk_spans(len, size).collect();
        prop_assert_eq!(spans.len(), len.div_ceil(size));
        let mut covered_to = 0;
        for span in &spans {
            prop_assert!(span.end - span.start <= size);
            prop_assert!(span.start < span.end);
            prop_assert!(span.start <= covered_to, "gap before {:?}", span);
            covered_to = covered_to.max(span.end);
        }
        prop_assert_eq!(covered_to, len);
        if let Some(last) = spans.last() {
            prop_assert_eq!(last.end, len);
        }
    }

    #[test]
    fn chunk_ids_are_unique(ids in proptest::collection::hash_set("[a-z_0-9]{1,8}", 1..20),
                            lens in proptest::collection::vec(1usize..3000, 20)) {
        let mut seen = std::collections::HashSet::new();
        for (id, len) in ids.iter().zip(lens) {
            for (k, _) in chunk_spans(len, 300).enumerate() {
                prop_assert!(seen.insert(chunk_id(id, k + 1)));
            }
        }
    }

    #[test]
    fn reverse_complement_swaps_forward_and_reverse_frames(seq in dna()) {
        let rc = alphabet::reverse_complement(&seq);
        for frame in Frame::ALL {
            prop_assert_eq!(translate(&rc, frame), translate(&seq, frame.opposite()));
        }
    }

    #[test]
    fn kept_frames_are_the_stop_free_translations(seq in dna()) {
        let mut kept = Vec::new();
        SixFrames::new().for_each_kept(&seq, |k| kept.push((k.frame, k.protein.to_vec())));
        let expected: Vec<_> = Frame::ALL
            .into_iter()
            .map(|f| (f, translate(&seq, f)))
            .filter(|(_, p)| !p.is_empty() && !p.contains(&b'*'))
            .collect();
        prop_assert_eq!(kept, expected);
    }
}
