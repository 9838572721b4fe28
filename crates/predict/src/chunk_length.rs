//! The chunk length a prediction runs at: 300 or 500 bp, the two lengths VirNucPro's
//! classifiers were trained for.

/// A chunk length with a released classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkLength {
    /// 300 bp chunks (`300_model.pth`).
    Bp300,
    /// 500 bp chunks (`500_model.pth`).
    Bp500,
}

impl ChunkLength {
    /// Both lengths, shorter first.
    pub const ALL: [ChunkLength; 2] = [ChunkLength::Bp300, ChunkLength::Bp500];

    /// The length in bases.
    pub fn bases(self) -> usize {
        match self {
            ChunkLength::Bp300 => 300,
            ChunkLength::Bp500 => 500,
        }
    }
}

impl ChunkLength {
    /// How `-L` spells it: `300`, `500`.
    pub fn name(self) -> &'static str {
        match self {
            ChunkLength::Bp300 => "300",
            ChunkLength::Bp500 => "500",
        }
    }
}

impl std::fmt::Display for ChunkLength {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ChunkLength {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "300" => Ok(ChunkLength::Bp300),
            "500" => Ok(ChunkLength::Bp500),
            _ => Err(format!(
                "'{s}': the classifiers are trained for 300 or 500 bp chunks; give -L 300 or \
                 -L 500"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_trained_lengths_parse() {
        for l in ChunkLength::ALL {
            assert_eq!(l.to_string().parse::<ChunkLength>().unwrap(), l);
        }
        assert_eq!("500".parse::<ChunkLength>().unwrap().bases(), 500);
        for bad in ["400", "", "300bp", "-300"] {
            assert!(bad.parse::<ChunkLength>().is_err(), "{bad}");
        }
    }
}
