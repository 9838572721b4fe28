//! Command-line flags, one struct per subcommand.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use virnucpro_engine::ModelKind;
use virnucpro_models::{DeviceSpec, PrecisionChoice};
use virnucpro_predict::ChunkLength;

/// Find viral sequences among DNA reads and contigs (a Rust reimplementation of VirNucPro).
///
/// The pipeline cuts each sequence into chunks of the model length (300 or 500 bp), translates
/// six frames, keeps frames without a stop codon, embeds them with DNABERT-S and ESM-2 and
/// classifies them. Each stage is also a subcommand of its own.
#[derive(Debug, Parser)]
#[command(
    name = "virnucpro",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Compute threads, 1 to 1024; more than the CPUs this process may use (its affinity mask
    /// and cgroup quota) runs on those CPUs, with a warning [default: those CPUs]
    #[arg(
        short = 't',
        long,
        global = true,
        value_name = "N",
        value_parser = parse_threads,
        help_heading = "Global options"
    )]
    pub threads: Option<NonZeroUsize>,
    /// More log output (-v: debug, -vv: trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet", help_heading = "Global options")]
    pub verbose: u8,
    /// Only warnings and errors; no progress bars
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
}

/// Most threads `-t` takes: far beyond any machine's cores, short of what the thread pools
/// cannot start (thousands of threads livelock or fail to spawn).
pub const MAX_THREADS: usize = 1024;

fn parse_threads(s: &str) -> Result<NonZeroUsize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("'{s}': -t takes a whole number of threads"))?;
    match NonZeroUsize::new(n) {
        Some(n) if n.get() <= MAX_THREADS => Ok(n),
        _ => Err(format!(
            "'{s}': -t takes 1 to {MAX_THREADS} threads (this process may use {} CPUs)",
            usable_cpus()
        )),
    }
}

/// A positive, finite number of seconds.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{s}': give a positive number of seconds")),
    }
}

/// The CPUs this process may run on: its affinity mask (`taskset`, a batch system's binding)
/// and its cgroup CPU quota (a container's or a SLURM job's limit), not the host's core
/// count. The standard library reads both on Linux.
pub fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// The compute threads a run gets, and what was asked for when that was more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threads {
    /// Threads to compute on: never more than [`usable_cpus`].
    pub count: usize,
    /// What `-t` (or an inherited `RAYON_NUM_THREADS`) asked for, when it was more than the
    /// CPUs: the models' thread pools synchronise at every matrix product, so threads beyond
    /// the CPUs only wait on each other (on 2 cores, `-t 1024` took 170 s for a 0.2 s run) and
    /// slow every other process on the machine.
    pub capped_from: Option<usize>,
}

impl Threads {
    /// `asked` (none: all usable CPUs), capped at `cpus`.
    pub fn resolve(asked: Option<usize>, cpus: usize) -> Threads {
        let cpus = cpus.max(1);
        match asked {
            Some(n) if n > cpus => Threads {
                count: cpus,
                capped_from: Some(n),
            },
            Some(n) => Threads {
                count: n.max(1),
                capped_from: None,
            },
            None => Threads {
                count: cpus,
                capped_from: None,
            },
        }
    }
}

impl GlobalArgs {
    /// The compute threads: `-t`, else an inherited `RAYON_NUM_THREADS`, else every usable CPU;
    /// never more than the usable CPUs.
    pub fn threads(&self) -> Threads {
        let inherited = || {
            std::env::var("RAYON_NUM_THREADS")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
        };
        let asked = self.threads.map(NonZeroUsize::get).or_else(inherited);
        Threads::resolve(asked, usable_cpus())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_beyond_the_cpus_are_capped_and_said() {
        assert_eq!(
            Threads::resolve(Some(1024), 2),
            Threads {
                count: 2,
                capped_from: Some(1024)
            }
        );
        assert_eq!(Threads::resolve(Some(2), 2).capped_from, None);
        assert_eq!(Threads::resolve(Some(1), 16).count, 1);
        assert_eq!(Threads::resolve(None, 8).count, 8);
        assert_eq!(Threads::resolve(None, 0).count, 1);
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find viral sequences: the whole VirNucPro flow, resumable (start here)
    Predict(PredictArgs),
    /// Cut sequences into chunks of the model length, with the original's overlap rule
    Chunk(ChunkArgs),
    /// Translate six frames and keep the frames without a stop codon
    Translate(TranslateArgs),
    /// Join the outputs of `predict --shard I/N` runs into the two result files of a whole run
    Merge(MergeArgs),
    /// Make a training set from labelled viral and host genomes (the original's frame rules)
    Dataset(DatasetArgs),
    /// Compute a training set's DNABERT-S + ESM-2 features (checkpointed, resumable)
    Features(FeaturesArgs),
    /// Embed every sequence of a FASTA with ESM-2 or DNABERT-S (checkpointed, resumable)
    Embed(EmbedArgs),
    /// Measure speed on generated data (reports ratios against a baseline in the same run)
    Bench(BenchArgs),
    /// Find the models and report what was found
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Helpers: check an input file, list compute devices
    #[command(subcommand)]
    Utils(UtilsCommand),
}

/// `virnucpro models ...`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Report where ESM-2, DNABERT-S and the classifier are found (flags, VIRNUCPRO_*
    /// variables, Hugging Face cache), with sizes and fingerprints; exit 1 if one is missing
    Check(ModelsCheckArgs),
    /// Download ESM-2 3B and DNABERT-S into the Hugging Face cache (HF_HOME, HF_ENDPOINT are
    /// honoured) and the classifiers into ~/.cache/virnucpro/classifiers ($VIRNUCPRO_HOME)
    Fetch(ModelsFetchArgs),
}

/// `virnucpro models fetch`
#[derive(Debug, Args)]
pub struct ModelsFetchArgs {
    /// Classifier(s) to fetch: 300, 500 or both
    #[arg(short = 'L', long = "length", default_value = "both", value_parser = parse_lengths)]
    pub length: Lengths,
}

/// `virnucpro models check`
#[derive(Debug, Args)]
pub struct ModelsCheckArgs {
    /// Chunk length whose classifier to look for: 300 or 500
    #[arg(short = 'L', long = "length", default_value = "500", value_parser = chunk_length())]
    pub length: ChunkLength,
    /// ESM-2 model directory
    #[arg(long, value_name = "DIR")]
    pub esm: Option<PathBuf>,
    /// DNABERT-S model directory
    #[arg(long, value_name = "DIR")]
    pub dnabert: Option<PathBuf>,
    /// Classifier file or directory
    #[arg(long, value_name = "FILE")]
    pub classifier: Option<PathBuf>,
}

/// `virnucpro utils ...`
#[derive(Debug, Subcommand)]
pub enum UtilsCommand {
    /// List the CPU and the GPUs this build can use
    ListDevices,
    /// Check a FASTA without stopping at the first problem: duplicate ids, empty records,
    /// invalid letters, ambiguous-base share; exit 1 if it would be refused
    Validate(ValidateArgs),
    /// Run every golden model comparison on a device (a GPU) and print a table; exit 1 if one
    /// misses its tolerance
    SelfCheck(SelfCheckArgs),
}

/// `virnucpro utils self-check`
#[derive(Debug, Args)]
#[command(
    after_help = "Tolerances: fp32 as on the CPU (pooled embeddings within 1e-4, cosine >= \
0.99999; e2e scores within 1e-5, identical labels and consensus); fp16 and bf16: cosine >= 0.999, \
e2e scores within 1e-3 (fp16) or 1e-2 (bf16), identical labels except at near-ties (reference \
margin within twice that tolerance).\n\nExample:\n  virnucpro utils self-check --golden shared/golden --device cuda:0"
)]
pub struct SelfCheckArgs {
    /// The golden directory (models/, classifier/, inputs/, e2e/)
    #[arg(long, value_name = "DIR")]
    pub golden: PathBuf,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Precisions to check, comma-separated: fp32, fp16, bf16 or all
    #[arg(long, default_value = "all", value_parser = parse_precisions)]
    pub precision: Precisions,
    /// Directory for the end-to-end outputs [default: a temporary one]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// `virnucpro utils validate`
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Input FASTA (or FASTQ), plain or compressed
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Show at most this many errors and warnings
    #[arg(short = 'e', long, default_value_t = 10)]
    pub max_errors: usize,
}

/// `virnucpro predict`
#[derive(Debug, Args)]
#[command(
    after_help = "Outputs in OUT_DIR: prediction_results.txt (one row per kept frame: \
Sequence_ID, Prediction, score1 = P(others), score2 = P(virus)) and \
prediction_results_highestscore.csv (one row per chunk: Is_Virus), as the original writes \
them; sequence_summary.tsv (one row per input sequence: seq_id, length, chunks, scored_chunks, \
viral_chunks, virus_score, call), viruses.fna (viruses.fastq for FASTQ/BAM input: the records \
called virus, as they came) and summary.json (versions, models, parameters, counts, timings). \
A rerun after a crash \
resumes frame by frame; a finished run reruns instantly. The input is read once, so `-` \
(standard input), pipes and <(zcat ...) work, plain or compressed.\n\n\
Models are looked up in this order: the flags, VIRNUCPRO_ESM / VIRNUCPRO_DNABERT / \
VIRNUCPRO_CLASSIFIER, then the Hugging Face cache ($HF_HOME/hub) and what `virnucpro models \
fetch` downloaded. `virnucpro models check` shows what would be used.\n\nExample:\n  \
virnucpro predict contigs.fa.gz -L 500 -o results/ --classifier models/500_model.pth"
)]
pub struct PredictArgs {
    /// Input reads or contigs: FASTA or FASTQ (plain or compressed: gzip, bzip2, xz, zstd),
    /// or BAM/SAM/CRAM reads (unaligned or aligned; pairs become NAME/1, NAME/2), told apart by
    /// content; `-` for standard input
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Chunk length, matching the classifier: 300 or 500
    #[arg(short = 'L', long = "length", value_name = "300|500", value_parser = chunk_length())]
    pub length: ChunkLength,
    /// Output directory (created if needed)
    #[arg(short, long, value_name = "OUT_DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub embedders: EmbedderArgs,
    /// Classifier (300_model.pth / 500_model.pth, or a directory holding them)
    /// [default: $VIRNUCPRO_CLASSIFIER]
    #[arg(long, value_name = "FILE")]
    pub classifier: Option<PathBuf>,
    #[command(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Discard an earlier run in OUT_DIR and start over
    #[arg(long)]
    pub force_restart: bool,
    /// Also write OUT_DIR/embeddings.h5 (ids, dnabert, esm2); the checkpoints then hold
    /// 3,330 floats per frame instead of 2
    #[arg(long)]
    pub save_embeddings: bool,
    /// Keep the checkpoints (OUT_DIR/intermediates) after the results are written
    #[arg(long)]
    pub keep_intermediates: bool,
    /// Process only the I-th of N parts of the input (contiguous, balanced by bases), for
    /// running N machines at once; join the N output directories with `virnucpro merge`
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<virnucpro_predict::Shard>,
    /// Call a sequence `virus` in sequence_summary.tsv (and viruses.fna) when its
    /// virus_score, the mean over its chunks of their highest P(virus), is at least this
    #[arg(long, default_value_t = 0.5, value_name = "0..1", value_parser = parse_score)]
    pub min_score: f64,
    /// Give records whose id an earlier record has the first free ID_1, ID_2, ... instead of
    /// stopping; the mapping is written to OUT_DIR/renamed_ids.tsv
    #[arg(long)]
    pub rename_duplicates: bool,
    /// Also write one Kraken-style line per sequence (C/U, id, taxid 10239 or 0, length,
    /// virus_score) to FILE, for KrakenTools and Krona
    #[arg(long, value_name = "FILE")]
    pub kraken_output: Option<PathBuf>,
}

/// `-L`: one of the trained lengths, listed in `--help` and in the error for any other.
fn chunk_length() -> impl TypedValueParser<Value = ChunkLength> {
    PossibleValuesParser::new(ChunkLength::ALL.map(ChunkLength::name))
        .try_map(|s| s.parse::<ChunkLength>())
}

/// The classifier lengths `models fetch -L` names: one, or both.
pub type Lengths = Vec<ChunkLength>;

/// `300`, `500` or `both`.
fn parse_lengths(s: &str) -> Result<Lengths, String> {
    if s.trim().eq_ignore_ascii_case("both") {
        Ok(ChunkLength::ALL.to_vec())
    } else {
        Ok(vec![s.parse()?])
    }
}

fn parse_score(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}': give a score between 0 and 1")),
    }
}

fn parse_shard(s: &str) -> Result<virnucpro_predict::Shard, String> {
    s.parse()
}

/// `virnucpro merge`
#[derive(Debug, Args)]
#[command(
    after_help = "Checks that the shards are 1..N of one input with the same length and models, \
each once and finished, and that every frame appears exactly once; recomputes the per-chunk \
consensus over the joined rows; joins embeddings.h5 when the shards saved it.\n\nExample:\n  \
for i in 1 2 3; do virnucpro predict in.fa -L 500 -o shards/$i --shard $i/3; done\n  \
virnucpro merge shards/1 shards/2 shards/3 -o results/"
)]
pub struct MergeArgs {
    /// The output directories of the `predict --shard I/N` runs (any order)
    #[arg(value_name = "SHARD_DIR", required = true)]
    pub shards: Vec<PathBuf>,
    /// Output directory for the joined files (created if needed). A directory holding another
    /// run's results is refused unless --force is given; a shard directory always is
    #[arg(short, long, value_name = "OUT_DIR")]
    pub output: PathBuf,
    /// Replace the results of another run found in OUT_DIR
    #[arg(long)]
    pub force: bool,
    /// Also write the joined Kraken-style per-sequence lines to FILE (as `predict
    /// --kraken-output`)
    #[arg(long, value_name = "FILE")]
    pub kraken_output: Option<PathBuf>,
}

/// `virnucpro dataset`
#[derive(Debug, Args)]
#[command(
    after_help = "GenBank inputs keep only the annotated frame of each chunk (a stop-free frame \
whose protein is part of a CDS /translation), as the original does; FASTA inputs keep every \
stop-free frame. Host frames are drawn, seeded, to match the viral ones, shared evenly over \
the host groups. Each input is read twice (to count, then to draw): give files, not pipes.\n\n\
Example:\n  virnucpro dataset -L 150 -o train150/ --viral viral.1.genomic.gbff.gz \\\n    \
--host bacteria=bacteria.1.genomic.gbff.gz --host fungi=fungi.1.genomic.gbff.gz"
)]
pub struct DatasetArgs {
    /// Chunk length in bp, 100 to 3000 (the reads the classifier will judge)
    #[arg(short = 'L', long, value_name = "BP", value_parser = clap::value_parser!(u64).range(100..=3000))]
    pub length: u64,
    /// Dataset directory (created if needed): frames.fna, frames.faa, labels.tsv, dataset.json
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Viral genomes: GenBank or FASTA, plain or compressed (repeat for more files)
    #[arg(long = "viral", value_name = "FILE", required = true)]
    pub viral: Vec<PathBuf>,
    /// Host genomes of a group, as GROUP=FILE (e.g. bacteria=b.gbff.gz; repeat for each file;
    /// the original's groups: vertebrate, protozoa, plant, invertebrate, fungi, bacteria, archaea)
    #[arg(long = "host", value_name = "GROUP=FILE", required = true, value_parser = parse_host)]
    pub host: Vec<(String, PathBuf)>,
    /// Seed of the host draw and of the test split
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of the frames held out as the test set
    #[arg(long, default_value_t = 0.1, value_name = "F", value_parser = parse_fraction)]
    pub test_fraction: f64,
    /// Hold out frames at random (the original; frames of one genome fall on both sides) or
    /// whole genomes
    #[arg(long, default_value = "frame", value_parser = ["frame", "genome"])]
    pub split_by: String,
    /// Keep every host frame instead of drawing as many as there are viral ones
    #[arg(long)]
    pub no_balance: bool,
}

/// `virnucpro features`
#[derive(Debug, Args)]
#[command(
    after_help = "Writes DATASET_DIR/features.h5 (ids, dnabert, esm2: the layout of predict \
--save-embeddings), row for row with labels.tsv, and features.json (the models' paths and \
fingerprints). A killed run resumes from DATASET_DIR/checkpoints/ when run again.\n\n\
Example:\n  virnucpro features train150/ --esm esm2_t36_3B_UR50D/ --dnabert DNABERT-S/ --device cuda"
)]
pub struct FeaturesArgs {
    /// A directory made by `virnucpro dataset`
    #[arg(value_name = "DATASET_DIR")]
    pub dataset: PathBuf,
    #[command(flatten)]
    pub embedders: EmbedderArgs,
    #[command(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Discard the checkpoints of an earlier run and start over
    #[arg(long)]
    pub force_restart: bool,
    /// Keep the checkpoints after features.h5 is written
    #[arg(long)]
    pub keep_checkpoints: bool,
}

/// The precisions of `utils self-check --precision`, parsed once at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precisions(pub Vec<virnucpro_models::Precision>);

/// `all`, or a comma-separated list of fp32, fp16, bf16.
fn parse_precisions(s: &str) -> Result<Precisions, String> {
    use virnucpro_models::Precision;
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(Precisions(vec![
            Precision::F32,
            Precision::F16,
            Precision::BF16,
        ]));
    }
    s.split(',')
        .map(|p| p.trim().parse::<Precision>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(Precisions)
}

/// `GROUP=FILE` of `dataset --host`.
fn parse_host(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((group, file))
            if !group.is_empty()
                && !file.is_empty()
                && group
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Ok((group.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!(
            "'{s}': give GROUP=FILE, a group name of letters, digits, '_' or '-' (bacteria=b.gbff.gz)"
        )),
    }
}

/// A share in [0, 1).
fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}': give a share from 0 up to (not including) 1, e.g. 0.1"
        )),
    }
}

/// The two embedding models (`predict`, `features`): declared once.
#[derive(Debug, Args)]
pub struct EmbedderArgs {
    /// ESM-2 model directory [default: $VIRNUCPRO_ESM or the Hugging Face cache]
    #[arg(long, value_name = "DIR")]
    pub esm: Option<PathBuf>,
    /// DNABERT-S model directory [default: $VIRNUCPRO_DNABERT or the Hugging Face cache]
    #[arg(long, value_name = "DIR")]
    pub dnabert: Option<PathBuf>,
}

/// Where and in what precision the models run (`predict`, `embed`, `features`): declared once,
/// so the three take the same values with the same defaults.
#[derive(Debug, Args)]
pub struct ComputeArgs {
    /// auto (every GPU if there is one, else the CPU), cpu, cuda (every visible GPU, one worker
    /// each), cuda:N or a subset cuda:0,2
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// auto (fp32 on CPU, fp16 on GPU), fp32, fp16 or bf16
    #[arg(long, default_value = "auto")]
    pub precision: PrecisionChoice,
}

/// How the embedding engine batches, spreads and checkpoints (`embed` and `predict`).
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Model copies (workers) per device, all pulling batches from one queue; with --device cpu,
    /// N workers share the -t threads
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,
    /// Tokens per embedding batch, padding included [default: 4096 on CPU, 16384 on GPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub token_budget: Option<u64>,
    /// Write an embedding checkpoint after this many new sequences
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every_seqs: u64,
    /// ...or after this many seconds, whichever comes first
    #[arg(long, default_value_t = 300.0, value_name = "S", value_parser = parse_seconds)]
    pub checkpoint_every_secs: f64,
}

impl EngineArgs {
    /// The checkpoint interval; an error unless a positive number of seconds.
    pub fn checkpoint_every(&self) -> anyhow::Result<std::time::Duration> {
        let s = self.checkpoint_every_secs;
        if !(s > 0.0 && s.is_finite()) {
            anyhow::bail!("--checkpoint-every-secs must be a positive number of seconds");
        }
        Ok(std::time::Duration::from_secs_f64(s))
    }

    /// The token budget: the flag, else one sized for the device (a CPU, or a GPU's memory).
    pub fn token_budget(&self, device: &candle_core::Device) -> usize {
        match self.token_budget {
            Some(b) => b as usize,
            None if device.is_cpu() => 4096,
            None => 16384,
        }
    }
}

/// `virnucpro embed`
#[derive(Debug, Args)]
#[command(
    after_help = "Checkpoints go to <OUT dir>/checkpoints/worker_<rank>/ every \
--checkpoint-every-seqs sequences or --checkpoint-every-secs seconds, from each worker. Rerunning the same command after a crash or Ctrl-C \
resumes where it stopped; a different input or model in the same place is refused unless \
--force-restart is given.\n\nExample:\n  virnucpro embed esm2 --model esm2_t36_3B_UR50D proteins.faa -o out/esm2.h5"
)]
pub struct EmbedArgs {
    /// Model: esm2 (input: proteins) or dnabert (input: nucleotides)
    #[arg(value_parser = PossibleValuesParser::new(ModelKind::ALL.map(ModelKind::name))
        .try_map(|s| s.parse::<ModelKind>()))]
    pub kind: ModelKind,
    /// Input FASTA (proteins for esm2, DNA for dnabert), plain or compressed; `-` for
    /// standard input
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Model directory (Hugging Face layout: config.json, weights, tokenizer.json for DNABERT-S)
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Output HDF5: datasets ids and embeddings, in input order
    #[arg(short, long, value_name = "OUT.h5")]
    pub output: PathBuf,
    #[command(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Discard existing checkpoints and start over
    #[arg(long)]
    pub force_restart: bool,
    /// Keep the checkpoints after the output is written
    #[arg(long)]
    pub keep_checkpoints: bool,
}

/// `virnucpro chunk`
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  virnucpro chunk reads.fa.gz -L 500 -o reads.chunked500.fa")]
pub struct ChunkArgs {
    /// Input FASTA (or FASTQ), plain or compressed (.gz/.bgz, .bz2, .xz, .zst)
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Chunk length in bases: 300 or 500 for the released models, any positive number otherwise
    #[arg(short = 'L', long = "length", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub length: u32,
    /// Output FASTA of chunks, ids `<id>_chunk_<k>`, 60-column lines
    #[arg(short, long, value_name = "OUT.fa")]
    pub output: PathBuf,
}

/// `virnucpro translate`
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  virnucpro translate reads.chunked500.fa \
                        --nucleotide reads.fna --protein reads.faa")]
pub struct TranslateArgs {
    /// Chunked FASTA (the output of `virnucpro chunk`); plain or compressed
    #[arg(value_name = "CHUNKED.fa")]
    pub input: PathBuf,
    /// Output: the nucleotide slice of each kept frame, one line per record
    #[arg(long, value_name = "OUT.fna")]
    pub nucleotide: PathBuf,
    /// Output: the protein of each kept frame, one line per record
    #[arg(long, value_name = "OUT.faa")]
    pub protein: PathBuf,
}

/// `virnucpro bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: BenchTarget,
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Chunk + translate throughput (MB/s) on a generated FASTA, against a parse-only baseline
    Seq(BenchSeqArgs),
    /// ESM-2 embedding throughput (tokens/s) with random weights, optionally beside PyTorch
    Esm2(BenchEsm2Args),
    /// DNABERT-S (117M) embedding throughput with random weights on 500 bp-like token sequences,
    /// optionally beside scripts/torch_dnabert_ref.py
    Dnabert(BenchDnabertArgs),
    /// Engine overhead: checkpointing every N sequences against checkpointing off, and packing
    /// efficiency for 300 and 500 bp workloads
    Engine(BenchEngineArgs),
    /// The prediction flow's own cost and footprint: the whole `predict` on generated reads
    /// with real-width, zero-layer random models at several sizes (wall time, time in the
    /// models, frames/s without it, peak RSS, peak disk)
    Flow(BenchFlowArgs),
    /// `merge`'s footprint: peak RSS and wall time of merging 3 generated shards at several
    /// sizes, with and without embeddings
    Merge(BenchMergeArgs),
    /// What `-t` beyond the CPUs costs: the whole `predict` with -t 1, the CPUs, 4x and 64x
    Threads(BenchThreadsArgs),
    /// The training set's footprint: `dataset` and `features` at several sizes (wall time, peak
    /// RSS)
    Training(BenchTrainingArgs),
}

/// `virnucpro bench training`
#[derive(Debug, Args)]
pub struct BenchTrainingArgs {
    /// Frames per size (half viral, half host), comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,1000000",
        value_parser = clap::value_parser!(u64).range(2..)
    )]
    pub frames: Vec<u64>,
    /// Directory for the generated reads, models and sets [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// `virnucpro bench threads`
#[derive(Debug, Args)]
pub struct BenchThreadsArgs {
    /// Kept frames of the generated input
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub frames: u64,
    /// Directory for the generated reads, models and outputs [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// `virnucpro bench merge`
#[derive(Debug, Args)]
pub struct BenchMergeArgs {
    /// Frames in all (over the 3 shards) per size, comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,1000000",
        value_parser = clap::value_parser!(u64).range(2..)
    )]
    pub frames: Vec<u64>,
    /// Only shards without embeddings (with them, 10^6 frames take 13 GB per copy)
    #[arg(long)]
    pub no_embeddings: bool,
    /// Directory for the generated shards and the merged result [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// `virnucpro bench flow`
#[derive(Debug, Args)]
pub struct BenchFlowArgs {
    /// Kept frames per run, one child process each, comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,100000,1000000",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub frames: Vec<u64>,
    /// The core each run is pinned to (with taskset)
    #[arg(long, default_value_t = 0)]
    pub core: usize,
    /// Directory for the generated reads, models and outputs [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// `virnucpro bench engine`
#[derive(Debug, Args)]
pub struct BenchEngineArgs {
    /// Synthetic proteins embedded in each of the two runs
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub seqs: u64,
    /// Checkpoint interval of the checkpointed run, in sequences
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every_seqs: u64,
    /// Model shape (random weights): tiny, 8M, 35M ...
    #[arg(long, default_value = "tiny")]
    pub shape: String,
    /// Tokens per batch
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub budget: u64,
    /// Directory for the generated input and outputs [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// Where a model benchmark runs, in what precision, and what it is compared with.
#[derive(Debug, Args)]
pub struct BenchDeviceArgs {
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// auto (fp32 on CPU, fp16 on GPU), fp32, fp16 or bf16
    #[arg(long, default_value = "auto")]
    pub precision: PrecisionChoice,
    /// The device's dense matrix peak in TFLOP/s (e.g. 989 for an H100/H200 in fp16/bf16), to
    /// report the effective model FLOP/s as a share of it
    #[arg(long, value_name = "TFLOPS")]
    pub peak_tflops: Option<f64>,
    /// Also run this PyTorch reference script on the same workload, device and precision, and
    /// report the ratio (../shared/bench/torch_esm_ref.py, scripts/torch_dnabert_ref.py)
    #[arg(long, value_name = "SCRIPT")]
    pub torch_ref: Option<PathBuf>,
    /// Python interpreter for --torch-ref
    #[arg(long, default_value = "python3")]
    pub python: String,
}

/// `virnucpro bench esm2`
#[derive(Debug, Args)]
#[command(
    after_help = "Example (CPU, beside the PyTorch reference on the same workload):\n  \
    virnucpro bench esm2 --shape 35M --seqs 500 --torch-ref ../shared/bench/torch_esm_ref.py"
)]
pub struct BenchEsm2Args {
    /// Model shape: tiny, 8M, 35M, 150M, 650M, 3B or 15B (random weights)
    #[arg(long, default_value = "35M")]
    pub shape: String,
    /// Number of synthetic proteins
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub seqs: u64,
    /// Shortest and longest protein (60-166: translations of 500 bp chunks)
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [60, 166])]
    pub lengths: Vec<usize>,
    /// Tokens per batch (residues + <cls>/<eos>)
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub budget: u64,
    #[command(flatten)]
    pub run: BenchDeviceArgs,
    /// Build the model and report memory only, without running it (for the largest shapes)
    #[arg(long)]
    pub build_only: bool,
    /// Load the model from this directory (as the hub lays it out) instead of building random
    /// weights in memory, and report the load time and peak memory; when the directory holds
    /// no model.safetensors yet, a random-weight model of --shape is written there first
    /// (fp32, as the hub ships ESM-2: 11 GB for 3B)
    #[arg(long, value_name = "DIR")]
    pub model_file: Option<PathBuf>,
    /// Also time padded batches (the layout PyTorch uses) beside the packed ones
    #[arg(long)]
    pub with_padded: bool,
    /// CPU only: run this many single-threaded model workers on different batches instead of
    /// one worker whose every operation is split over threads
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub cpu_workers: u64,
}

/// `virnucpro bench dnabert`
#[derive(Debug, Args)]
pub struct BenchDnabertArgs {
    /// Number of synthetic token sequences
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub seqs: u64,
    /// Shortest and longest sequence in tokens, [CLS] and [SEP] included (DNABERT-S's BPE makes
    /// roughly 95-115 tokens of a 500 bp chunk; 55-70 of a 300 bp one)
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [95, 115])]
    pub tokens: Vec<usize>,
    /// Tokens per padded batch, padding included
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub budget: u64,
    #[command(flatten)]
    pub run: BenchDeviceArgs,
}

/// `virnucpro bench seq`
#[derive(Debug, Args)]
pub struct BenchSeqArgs {
    /// Size of the generated FASTA in megabases
    #[arg(long, default_value_t = 200, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..))]
    pub megabases: u64,
    /// Chunk length
    #[arg(short = 'L', long = "length", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub length: u32,
    /// Shortest and longest generated record, in bases
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [150, 5000])]
    pub lengths: Vec<usize>,
    /// Directory for the generated input and the outputs [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Repetitions of each measurement; the best is reported
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
}
