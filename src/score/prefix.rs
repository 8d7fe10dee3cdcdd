//! Scores from part of a scoring run (`scoring.prefixes`): every listed method also scored from
//! the first K recorded epochs, or from the epochs the stop rule would have kept, and retrained
//! under its own name (`dyn_unc@8`, `dyn_unc@stop`) beside the scores from every epoch.

use serde::{Deserialize, Serialize};

use super::Scorer;

/// One entry of `scoring.prefixes` as written: a number of epochs, or `stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawPrefix {
    /// The first this many recorded epochs.
    Epochs(usize),
    /// A word: `stop`.
    Word(String),
}

/// One entry of `scoring.prefixes`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// The first this many recorded epochs.
    Epochs(usize),
    /// The epochs `scoring.stop` would have recorded (its rule replayed on the store).
    Stop,
}

impl Prefix {
    /// How results name it after the method: `@8`, `@stop`.
    pub fn suffix(self) -> String {
        match self {
            Prefix::Epochs(k) => format!("@{k}"),
            Prefix::Stop => "@stop".into(),
        }
    }
}

/// A method scored from every epoch (`prefix` None) or from a prefix of them.
#[derive(Clone, Copy)]
pub struct Variant {
    /// The method.
    pub scorer: &'static dyn Scorer,
    /// The part of the run it scores from.
    pub prefix: Option<Prefix>,
}

impl Variant {
    /// The method from every epoch.
    pub fn whole(scorer: &'static dyn Scorer) -> Self {
        Self {
            scorer,
            prefix: None,
        }
    }

    /// Its name in results: the method's, with the prefix's suffix.
    pub fn name(&self) -> String {
        let base = self.scorer.info().name;
        match self.prefix {
            None => base.to_string(),
            Some(p) => format!("{base}{}", p.suffix()),
        }
    }
}

impl std::fmt::Debug for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}
