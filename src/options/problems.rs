//! Problems found checking a configuration, each under its YAML path, all reported at once.

/// One problem in an experiment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// YAML path, e.g. `train.lr`.
    pub path: String,
    /// What is wrong and the fix.
    pub message: String,
}

/// The problems found so far.
#[derive(Debug, Clone, Default)]
pub struct Problems {
    list: Vec<Problem>,
    /// Files the experiment reads that are not on this machine, when checked offline.
    missing: Vec<Problem>,
    /// Whether a missing file is noted ([`Problems::missing`]) instead of failing.
    offline: bool,
}

impl Problems {
    /// Problems for a check on a machine without the experiment's files (`dynunc config`):
    /// a missing file is noted, not a problem.
    pub fn offline() -> Self {
        Self {
            offline: true,
            ..Self::default()
        }
    }

    /// A file or folder the experiment reads that is not on this machine, at `path`: a
    /// problem, or only a note when checking offline.
    pub fn missing(&mut self, path: &str, message: impl Into<String>) {
        let problem = Problem {
            path: path.into(),
            message: message.into(),
        };
        match self.offline {
            true => self.missing.push(problem),
            false => self.list.push(problem),
        }
    }

    /// The missing files noted offline.
    pub fn missing_files(&self) -> &[Problem] {
        &self.missing
    }

    /// Records a problem at `path`.
    pub fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.list.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// `value` parsed as a `T` (a choice enum), or a problem at `path`.
    pub fn parse<T: std::str::FromStr<Err = String>>(
        &mut self,
        path: &str,
        value: &str,
    ) -> Option<T> {
        value.parse().map_err(|e: String| self.fail(path, e)).ok()
    }

    /// A problem unless `value` is a finite positive number.
    pub fn positive(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value > 0.0) {
            self.fail(path, format!("{value} must be a positive number"));
        }
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none was found.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every problem, in the order found.
    pub fn into_vec(self) -> Vec<Problem> {
        self.list
    }
}
