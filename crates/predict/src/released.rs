//! The classifiers VirNucPro released, known by their git blob SHA-1 in the original
//! repository, so that a released 300 bp model is never run with `-L 500` (it would load and
//! give wrong calls) and `models fetch` keeps only the genuine files.

use std::path::Path;

use sha1::{Digest, Sha1};

use crate::error::{PredictError, Result};

/// (chunk length, git blob SHA-1) of `300_model.pth` and `500_model.pth`.
pub const RELEASED: [(usize, &str); 2] = [
    (300, "a0b5b85e7c1e44f00cde146d091beb82b2c8e855"),
    (500, "fc35d5ef9f1f4564eea7036f34f4f8ec6000d33d"),
];

/// The git blob SHA-1 of `bytes`: SHA-1 of `blob <length>\0` followed by the bytes.
pub fn git_blob_sha1(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The chunk length of the released classifier with these bytes, if they are one.
pub fn released_length(bytes: &[u8]) -> Option<usize> {
    let sha = git_blob_sha1(bytes);
    RELEASED
        .iter()
        .find(|(_, known)| *known == sha)
        .map(|(length, _)| *length)
}

/// Refuses a released classifier made for another chunk length than `length`; any other
/// classifier (one trained anew, a test model) is the user's to choose.
pub fn check_length(classifier: &Path, length: usize) -> Result<()> {
    if !classifier.is_file() {
        return Ok(()); // the loader says what is wrong with it
    }
    let bytes = std::fs::read(classifier)
        .map_err(|e| PredictError::file(classifier, format!("cannot read: {e}")))?;
    match released_length(&bytes) {
        Some(made_for) if made_for != length => Err(PredictError::file(
            classifier,
            format!(
                "this is the released {made_for}_model.pth, trained on {made_for} bp chunks, but \
                 -L {length} was given; pass -L {made_for}, or --classifier {length}_model.pth"
            ),
        )),
        _ => Ok(()),
    }
}

/// Checks downloaded bytes are the released classifier for `length`.
pub fn check_download(url: &str, bytes: &[u8], length: usize) -> Result<()> {
    let want = RELEASED
        .iter()
        .find(|(l, _)| *l == length)
        .map(|(_, sha)| *sha);
    let got = git_blob_sha1(bytes);
    if want == Some(got.as_str()) {
        return Ok(());
    }
    Err(PredictError::Setup(format!(
        "the download of {url} is not the released {length}_model.pth (git blob SHA-1 {got}, \
         expected {}): a damaged download, or a mirror serving another file; nothing was saved",
        want.unwrap_or("none known for this length")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_sha1_is_gits() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            git_blob_sha1(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(released_length(b"hello\n"), None);
    }

    #[test]
    fn other_classifiers_pass_and_bad_downloads_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mine.pth");
        std::fs::write(&file, b"not a released model").unwrap();
        check_length(&file, 500).unwrap();
        let e = check_download("http://mirror/300_model.pth", b"junk", 300).unwrap_err();
        assert!(e.to_string().contains(RELEASED[0].1), "{e}");
    }
}
