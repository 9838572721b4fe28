//! Which embedding model: the one name the engine, its checkpoints and the command line share.

/// An embedding model the engine can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// ESM-2: proteins, packed batches, residue-mean pooling.
    Esm2,
    /// DNABERT-S: nucleotides, packed batches, mean over all tokens.
    Dnabert,
}

impl ModelKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [ModelKind; 2] = [ModelKind::Esm2, ModelKind::Dnabert];

    /// The name in checkpoints and on the command line: `esm2`, `dnabert`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Esm2 => "esm2",
            ModelKind::Dnabert => "dnabert",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown model '{s}'; use esm2 or dnabert"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_their_names() {
        for kind in ModelKind::ALL {
            assert_eq!(kind.to_string().parse::<ModelKind>().unwrap(), kind);
        }
        assert_eq!("ESM2".parse::<ModelKind>().unwrap(), ModelKind::Esm2);
        assert!("esm1b".parse::<ModelKind>().is_err());
    }
}
