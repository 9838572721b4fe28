//! The per-chunk consensus of `prediction_results_highestscore.csv`, in bounded memory.
//!
//! A chunk is called virus when the highest P(virus) of its frames is at least the highest
//! P(others) (spec: golden/README.md, e2e section), and the rows are sorted by chunk id as
//! pandas' groupby sorts them. Sorting needs every chunk id, so chunks are gathered in a buffer
//! of fixed size; a full buffer is sorted and spilled to an unnamed temporary file (a sorted
//! run), and the end merges the runs. Memory stays at the buffer's size whatever the input, and
//! the runs vanish with the process, even after kill -9.
//!
//! This is an external merge sort written here rather than taken from a crate: the rows are
//! tiny, chunks met twice must be combined (max against max) while merging, and every read and
//! write error has to name the run's directory.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use virnucpro_engine::kway::{KWayMerge, SortedSource};

use crate::error::{PredictError, Result};

/// Bytes of chunk ids and of chunk entries held before a sorted run is spilled (each).
pub const DEFAULT_BUFFER_BYTES: usize = 8 << 20;

/// Runs kept at most: when there are this many, they are merged into one, so open files stay
/// few whatever the input.
const FAN_IN: usize = 64;

/// One chunk in the buffer: where its id is in the key arena, and its two maxima.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    len: u32,
    others: f32,
    virus: f32,
}

/// A chunk id and the highest P(others), P(virus) of its frames.
#[derive(Debug, Clone, PartialEq)]
struct Chunk {
    key: Vec<u8>,
    others: f32,
    virus: f32,
}

/// The consensus being built, frame by frame.
pub struct Consensus {
    /// Where sorted runs go.
    spill_dir: PathBuf,
    /// Bytes of keys, and of entries, before a spill.
    buffer_bytes: usize,
    keys: Vec<u8>,
    chunks: Vec<Entry>,
    runs: Vec<File>,
}

impl Consensus {
    /// A consensus that spills sorted runs of [`DEFAULT_BUFFER_BYTES`] into `spill_dir`.
    pub fn new(spill_dir: impl Into<PathBuf>) -> Self {
        Self::with_buffer(spill_dir, DEFAULT_BUFFER_BYTES)
    }

    /// A consensus holding at most about `buffer_bytes` of ids (and as much of entries) in
    /// memory before it spills a sorted run into `spill_dir`.
    pub fn with_buffer(spill_dir: impl Into<PathBuf>, buffer_bytes: usize) -> Self {
        Consensus {
            spill_dir: spill_dir.into(),
            buffer_bytes: buffer_bytes.max(64),
            keys: Vec::new(),
            chunks: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Sorted runs spilled so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Adds one frame: its id and probabilities. Frames of one chunk usually come together and
    /// are combined at once; those that do not are combined when the runs are merged.
    pub fn push(&mut self, frame_id: &str, probs: [f32; 2]) -> Result<()> {
        // The original strips the last 2 characters unconditionally.
        let cut = frame_id
            .char_indices()
            .rev()
            .nth(1)
            .map(|(i, _)| i)
            .unwrap_or(0);
        let key = &frame_id.as_bytes()[..cut];
        if let Some(last) = self.chunks.last_mut() {
            let start = last.start as usize;
            if &self.keys[start..start + last.len as usize] == key {
                last.others = last.others.max(probs[0]);
                last.virus = last.virus.max(probs[1]);
                return Ok(());
            }
        }
        let entry_bytes = std::mem::size_of::<Entry>();
        if !self.chunks.is_empty()
            && (self.keys.len() + key.len() > self.buffer_bytes
                || (self.chunks.len() + 1) * entry_bytes > self.buffer_bytes)
        {
            self.spill()?;
        }
        if self.chunks.capacity() == 0 {
            // Reserved once: pages are only touched as entries arrive, and no doubling copies.
            self.chunks
                .reserve_exact(self.buffer_bytes / entry_bytes + 1);
            self.keys.reserve_exact(self.buffer_bytes.max(key.len()));
        }
        self.chunks.push(Entry {
            start: self.keys.len() as u32,
            len: key.len() as u32,
            others: probs[0],
            virus: probs[1],
        });
        self.keys.extend_from_slice(key);
        Ok(())
    }

    /// Sorts the buffer by chunk id, in place.
    fn sort_buffer(&mut self) {
        let keys = &self.keys;
        self.chunks.sort_unstable_by(|a, b| {
            keys[a.start as usize..(a.start + a.len) as usize]
                .cmp(&keys[b.start as usize..(b.start + b.len) as usize])
        });
    }

    /// Writes the sorted buffer as a run and empties it.
    fn spill(&mut self) -> Result<()> {
        self.sort_buffer();
        let mut run = RunWriter::create(&self.spill_dir)?;
        for e in &self.chunks {
            let key = &self.keys[e.start as usize..(e.start + e.len) as usize];
            run.write(key, e.others, e.virus)?;
        }
        self.runs.push(run.finish()?);
        self.chunks.clear();
        self.keys.clear();
        if self.runs.len() >= FAN_IN {
            let runs = std::mem::take(&mut self.runs);
            let mut merged = RunWriter::create(&self.spill_dir)?;
            merge_runs(&self.spill_dir, runs, |c| {
                merged.write(&c.key, c.others, c.virus)
            })?;
            self.runs.push(merged.finish()?);
        }
        Ok(())
    }

    /// Gives each chunk (id bytes, is virus) to `chunk`, sorted by chunk id as pandas' groupby
    /// sorts them; frames of one chunk that came apart are still one chunk. Returns the chunks
    /// and the viral ones.
    pub fn for_each_sorted<E: From<PredictError>>(
        mut self,
        mut chunk: impl FnMut(&[u8], bool) -> std::result::Result<(), E>,
    ) -> std::result::Result<(u64, u64), E> {
        let (mut count, mut viral) = (0, 0);
        let mut emit = |c: &Chunk| -> std::result::Result<(), E> {
            let is_virus = c.virus >= c.others;
            chunk(&c.key, is_virus)?;
            count += 1;
            viral += u64::from(is_virus);
            Ok(())
        };
        if self.runs.is_empty() {
            self.sort_buffer();
            let mut current: Option<Chunk> = None;
            for e in &self.chunks {
                let key = &self.keys[e.start as usize..(e.start + e.len) as usize];
                match current.as_mut() {
                    Some(c) if c.key == key => {
                        c.others = c.others.max(e.others);
                        c.virus = c.virus.max(e.virus);
                    }
                    _ => {
                        if let Some(done) = current.take() {
                            emit(&done)?;
                        }
                        current = Some(Chunk {
                            key: key.to_vec(),
                            others: e.others,
                            virus: e.virus,
                        });
                    }
                }
            }
            if let Some(done) = current {
                emit(&done)?;
            }
        } else {
            if !self.chunks.is_empty() {
                self.spill()?;
            }
            self.chunks = Vec::new();
            self.keys = Vec::new();
            let runs = std::mem::take(&mut self.runs);
            merge_runs(&self.spill_dir, runs, |c| {
                emit(c).map_err(Failure::Consumer)
            })
            .map_err(|f| match f {
                Failure::Consumer(e) => e,
                Failure::Run(e) => E::from(e),
            })?;
        }
        Ok((count, viral))
    }
}

/// Why a merge stopped: its runs, or what it fed.
enum Failure<E> {
    Run(PredictError),
    Consumer(E),
}

impl<E> From<PredictError> for Failure<E> {
    fn from(e: PredictError) -> Self {
        Failure::Run(e)
    }
}

/// Merges sorted runs into one sorted stream of chunks, combining a chunk met in several.
fn merge_runs<E: From<PredictError>>(
    dir: &Path,
    runs: Vec<File>,
    mut out: impl FnMut(&Chunk) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut merge = KWayMerge::default();
    for file in runs {
        merge.add(RunReader::open(dir, file))?;
    }
    let mut current: Option<Chunk> = None;
    while let Some(c) = merge.next(|_, run: &mut RunReader| -> Result<Chunk> {
        Ok(run.head.take().expect("a run in the merge has a head"))
    })? {
        match current.as_mut() {
            Some(cur) if cur.key == c.key => {
                cur.others = cur.others.max(c.others);
                cur.virus = cur.virus.max(c.virus);
            }
            _ => {
                if let Some(done) = current.replace(c) {
                    out(&done)?;
                }
            }
        }
    }
    if let Some(done) = current {
        out(&done)?;
    }
    Ok(())
}

fn run_error(dir: &Path, action: &str, e: std::io::Error) -> PredictError {
    PredictError::file(
        dir,
        format!("{action} a sorted run of the consensus (temporary, in this directory): {e}"),
    )
}

/// Writes one sorted run: per chunk, the id length (u32 LE), the id, P(others), P(virus).
struct RunWriter<'a> {
    dir: &'a Path,
    out: BufWriter<File>,
}

impl<'a> RunWriter<'a> {
    fn create(dir: &'a Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| run_error(dir, "cannot create", e))?;
        // Unnamed: it disappears with the process, however that ends.
        let file = tempfile::tempfile_in(dir).map_err(|e| run_error(dir, "cannot create", e))?;
        Ok(RunWriter {
            dir,
            out: BufWriter::with_capacity(1 << 20, file),
        })
    }

    fn write(&mut self, key: &[u8], others: f32, virus: f32) -> Result<()> {
        let len = (key.len() as u32).to_le_bytes();
        [&len[..], key, &others.to_le_bytes(), &virus.to_le_bytes()]
            .iter()
            .try_for_each(|part| self.out.write_all(part))
            .map_err(|e| run_error(self.dir, "cannot write", e))
    }

    /// The run, flushed and rewound for reading.
    fn finish(self) -> Result<File> {
        let dir = self.dir;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| run_error(dir, "cannot write", e.into_error()))?;
        file.rewind()
            .map_err(|e| run_error(dir, "cannot rewind", e))?;
        Ok(file)
    }
}

impl SortedSource for RunReader<'_> {
    type Key = Vec<u8>;
    type Error = PredictError;
    fn head_key(&mut self) -> Result<Option<Vec<u8>>> {
        if self.head.is_none() {
            self.head = self.next()?;
        }
        Ok(self.head.as_ref().map(|c| c.key.clone()))
    }
}

/// Reads one sorted run back.
struct RunReader<'a> {
    dir: &'a Path,
    input: BufReader<File>,
    /// The chunk read but not yet merged.
    head: Option<Chunk>,
}

impl<'a> RunReader<'a> {
    fn open(dir: &'a Path, file: File) -> Self {
        RunReader {
            dir,
            input: BufReader::with_capacity(64 << 10, file),
            head: None,
        }
    }

    fn next(&mut self) -> Result<Option<Chunk>> {
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(run_error(self.dir, "cannot read", e)),
        }
        let mut key = vec![0u8; u32::from_le_bytes(len) as usize];
        let mut probs = [0u8; 8];
        self.input
            .read_exact(&mut key)
            .and_then(|()| self.input.read_exact(&mut probs))
            .map_err(|e| run_error(self.dir, "cannot read", e))?;
        let f = |b: &[u8]| f32::from_le_bytes(b.try_into().expect("4 bytes"));
        Ok(Some(Chunk {
            key,
            others: f(&probs[..4]),
            virus: f(&probs[4..]),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{push_consensus, FrameCall, CONSENSUS_HEADER};

    /// The consensus of classified frames held in memory: (chunk id, is virus), sorted by chunk id;
    /// runs, if the frames are many, go to `spill_dir`.
    fn of_calls(calls: &[FrameCall], spill_dir: &Path) -> Result<Vec<(String, bool)>> {
        let mut c = Consensus::new(spill_dir);
        for call in calls {
            c.push(&call.id, call.probs)?;
        }
        let mut out = Vec::new();
        c.for_each_sorted(|id, virus| -> Result<()> {
            out.push((String::from_utf8_lossy(id).into_owned(), virus));
            Ok(())
        })?;
        Ok(out)
    }

    /// The text of `prediction_results_highestscore.csv` for a finished consensus.
    fn csv_text(chunks: &[(String, bool)]) -> String {
        let mut out = CONSENSUS_HEADER.as_bytes().to_vec();
        for (id, virus) in chunks {
            push_consensus(&mut out, id.as_bytes(), *virus);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn calls(dir: &Path, frames: &[(&str, f32, f32)]) -> Vec<(String, bool)> {
        let calls: Vec<FrameCall> = frames
            .iter()
            .map(|&(id, p0, p1)| FrameCall {
                id: id.into(),
                probs: [p0, p1],
            })
            .collect();
        of_calls(&calls, dir).unwrap()
    }

    #[test]
    fn max_against_max_per_chunk_sorted_as_strings() {
        let dir = tempfile::tempdir().unwrap();
        let frames = [
            ("x_chunk_2F1", 0.6, 0.4),
            ("x_chunk_2R1", 0.45, 0.55),
            ("x_chunk_10F1", 0.5, 0.5),
            ("x_chunk_1R3", 0.9, 0.1),
        ];
        // (0.6, 0.4) and (0.45, 0.55): max virus 0.55 < max others 0.6 -> False; a tie -> True.
        let want = [
            ("x_chunk_1".to_string(), false),
            ("x_chunk_10".to_string(), true),
            ("x_chunk_2".to_string(), false),
        ];
        assert_eq!(calls(dir.path(), &frames), want);
        assert_eq!(
            csv_text(&want),
            "Modified_ID\tIs_Virus\nx_chunk_1\tFalse\nx_chunk_10\tTrue\nx_chunk_2\tFalse\n"
        );
        // Frames of one chunk apart from each other still make one row.
        let apart = [
            ("y_chunk_1F1", 0.6, 0.4),
            ("y_chunk_2F1", 0.6, 0.4),
            ("y_chunk_1R1", 0.3, 0.7),
        ];
        let want = [
            ("y_chunk_1".to_string(), true),
            ("y_chunk_2".to_string(), false),
        ];
        assert_eq!(calls(dir.path(), &apart), want);
    }

    #[test]
    fn spilled_runs_give_what_memory_gives() {
        let dir = tempfile::tempdir().unwrap();
        // Frames in a scrambled order, with chunks split across runs.
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let frames: Vec<(String, f32, f32)> = (0..5_000)
            .map(|i| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let chunk = rng % 700;
                let p = (i % 97) as f32 / 97.0;
                (
                    format!("r{chunk}_chunk_{}F{}", chunk % 3, i % 3),
                    p,
                    1.0 - p,
                )
            })
            .collect();
        let frames: Vec<(&str, f32, f32)> = frames
            .iter()
            .map(|(id, a, b)| (id.as_str(), *a, *b))
            .collect();
        let whole = calls(dir.path(), &frames);
        assert_eq!(whole.len(), 700);
        // 2,000 bytes a run: a few runs; 64 bytes (4 chunks): over a thousand runs, merged
        // into one every 64.
        for (buffer, runs) in [(2_000, 2..64), (64, 1..64)] {
            let mut c = Consensus::with_buffer(dir.path(), buffer);
            for &(id, p0, p1) in &frames {
                c.push(id, [p0, p1]).unwrap();
            }
            assert!(runs.contains(&c.runs()), "{} runs", c.runs());
            let mut out = Vec::new();
            c.for_each_sorted(|id, virus| -> Result<()> {
                out.push((String::from_utf8(id.to_vec()).unwrap(), virus));
                Ok(())
            })
            .unwrap();
            assert_eq!(out, whole, "buffer of {buffer} bytes");
        }
        // The runs were unnamed: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_spill_directory_that_cannot_be_made_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a_file");
        std::fs::write(&file, b"").unwrap();
        let mut c = Consensus::with_buffer(file.join("sub"), 64);
        let mut failed = None;
        for i in 0..100 {
            if let Err(e) = c.push(&format!("r{i}_chunk_1F1"), [0.5, 0.5]) {
                failed = Some(e.to_string());
                break;
            }
        }
        let message = failed.expect("spilling into a path under a file fails");
        assert!(message.contains("a_file"), "{message}");
    }
}
