//! The per-epoch columns of recorded dynamics and how one sample's values are computed from logits.

use std::fmt;

/// Bits of the per-sample flags column.
pub mod flags {
    /// The sample was seen (trained on) this epoch. A sample dropped by a partial last batch has
    /// this bit clear, and its other values are meaningless rather than zero.
    pub const SEEN: u8 = 1;
    /// The arg-max prediction equalled the true class.
    pub const CORRECT: u8 = 2;
}

/// One recorded field. The order is the on-disk order of the columns in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Softmax probability of the true class.
    PTrue,
    /// L2 norm of softmax minus one-hot(true class) (EL2N).
    El2n,
    /// True-class logit minus the largest other logit (AUM).
    Margin,
    /// Entropy of the softmax, in nats.
    Entropy,
    /// Largest softmax probability.
    MaxProb,
    /// Largest minus second-largest softmax probability.
    Top2Gap,
    /// `flags::SEEN | flags::CORRECT` bits (one byte per sample).
    Flags,
    /// How far the whole softmax moved since the sample's previous seen epoch, TDDS's
    /// per-epoch term: sum over classes of |p_c (ln(p_c + 1e-8) - ln(q_c + 1e-8))|, with q the
    /// previous softmax (0 at the first epoch a sample is seen). Recorded only when a method
    /// needs it: the recorder then keeps every sample's previous softmax (N x classes f32).
    Drift,
}

impl Field {
    /// Every field, in on-disk order.
    pub const ALL: [Field; 8] = [
        Field::PTrue,
        Field::El2n,
        Field::Margin,
        Field::Entropy,
        Field::MaxProb,
        Field::Top2Gap,
        Field::Flags,
        Field::Drift,
    ];

    /// Bit of this field in a [`FieldSet`].
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// Name used in errors and documentation.
    pub const fn name(self) -> &'static str {
        match self {
            Field::PTrue => "p_true",
            Field::El2n => "el2n",
            Field::Margin => "margin",
            Field::Entropy => "entropy",
            Field::MaxProb => "max_prob",
            Field::Top2Gap => "top2_gap",
            Field::Flags => "flags",
            Field::Drift => "drift",
        }
    }

    /// Bytes per sample on disk.
    pub const fn width(self) -> usize {
        match self {
            Field::Flags => 1,
            _ => 4,
        }
    }
}

/// A set of fields, as a bit mask.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FieldSet(pub u32);

impl FieldSet {
    /// No field.
    pub const EMPTY: FieldSet = FieldSet(0);
    /// Every field.
    pub const ALL: FieldSet = FieldSet((1 << Field::ALL.len()) - 1);
    /// The fields computed from one sample's logits, which every recording holds (all but
    /// [`Field::Drift`], which needs the previous epoch too).
    pub const STANDARD: FieldSet = FieldSet(FieldSet::ALL.0 & !Field::Drift.bit());

    /// The set of the given fields.
    pub const fn of(fields: &[Field]) -> FieldSet {
        let mut bits = 0;
        let mut i = 0;
        while i < fields.len() {
            bits |= fields[i].bit();
            i += 1;
        }
        FieldSet(bits)
    }

    /// Whether `field` is in the set.
    pub const fn contains(self, field: Field) -> bool {
        self.0 & field.bit() != 0
    }

    /// Union.
    pub const fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    /// Intersection.
    pub const fn intersect(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & other.0)
    }

    /// The fields in the set, in on-disk order.
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The first field of `self` missing from `have`.
    pub fn first_missing(self, have: FieldSet) -> Option<Field> {
        self.iter().find(|f| !have.contains(*f))
    }
}

impl fmt::Debug for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Field::name).collect();
        f.write_str(&names.join(", "))
    }
}

/// The values of one sample at one epoch, computed from its logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleStats {
    /// See [`Field::PTrue`].
    pub p_true: f32,
    /// See [`Field::El2n`].
    pub el2n: f32,
    /// See [`Field::Margin`].
    pub margin: f32,
    /// See [`Field::Entropy`].
    pub entropy: f32,
    /// See [`Field::MaxProb`].
    pub max_prob: f32,
    /// See [`Field::Top2Gap`].
    pub top2_gap: f32,
    /// Arg-max equals the true class (the lowest index wins a tie, as `argmax` does).
    pub correct: bool,
}

impl SampleStats {
    /// Computes every field from one row of logits and the true class.
    ///
    /// The softmax is computed in f64 after subtracting the largest logit, so very large logits
    /// neither overflow nor lose the small probabilities the entropy needs.
    pub fn from_logits(logits: &[f32], label: usize) -> SampleStats {
        debug_assert!(label < logits.len());
        let (argmax, max_logit) =
            logits
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv { (i, v) } else { (bi, bv) }
                });
        let z: f64 = logits.iter().map(|&v| f64::from(v - max_logit).exp()).sum();
        let log_z = z.ln();
        let (mut entropy, mut sq, mut first, mut second) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut other_logit = f32::NEG_INFINITY;
        for (i, &v) in logits.iter().enumerate() {
            let log_p = f64::from(v - max_logit) - log_z;
            let p = log_p.exp();
            if p > 0.0 {
                entropy -= p * log_p;
            }
            let target = if i == label { 1.0 } else { 0.0 };
            sq += (p - target) * (p - target);
            if p > first {
                second = first;
                first = p;
            } else if p > second {
                second = p;
            }
            if i != label && v > other_logit {
                other_logit = v;
            }
        }
        let p_true = (f64::from(logits[label] - max_logit) - log_z).exp();
        SampleStats {
            p_true: p_true as f32,
            el2n: sq.sqrt() as f32,
            margin: if logits.len() > 1 {
                logits[label] - other_logit
            } else {
                0.0
            },
            entropy: entropy as f32,
            max_prob: first as f32,
            top2_gap: (first - second) as f32,
            correct: argmax == label,
        }
    }
}

/// The softmax of one row of logits, computed in f64 after subtracting the largest logit
/// (as [`SampleStats::from_logits`]), appended to `out` in f32.
pub fn softmax_into(logits: &[f32], out: &mut Vec<f32>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = logits.iter().map(|&v| f64::from(v - max).exp()).sum();
    out.extend(
        logits
            .iter()
            .map(|&v| (f64::from(v - max).exp() / z) as f32),
    );
}

/// [`Field::Drift`] from the previous softmax `before` to this epoch's `now` (same length):
/// sum over classes of |p_c (ln(p_c + 1e-8) - ln(q_c + 1e-8))|, in f64 (TDDS's term,
/// `importance_evaluation.py` of zhangxin-xd/Dataset-Pruning-TDDS).
pub fn drift(before: &[f32], now: &[f32]) -> f32 {
    before
        .iter()
        .zip(now)
        .map(|(&q, &p)| {
            let (q, p) = (f64::from(q), f64::from(p));
            (p * ((p + 1e-8).ln() - (q + 1e-8).ln())).abs()
        })
        .sum::<f64>() as f32
}

/// One epoch of dynamics for every sample. A column not loaded is empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpochColumns {
    /// See [`Field::PTrue`].
    pub p_true: Vec<f32>,
    /// See [`Field::El2n`].
    pub el2n: Vec<f32>,
    /// See [`Field::Margin`].
    pub margin: Vec<f32>,
    /// See [`Field::Entropy`].
    pub entropy: Vec<f32>,
    /// See [`Field::MaxProb`].
    pub max_prob: Vec<f32>,
    /// See [`Field::Top2Gap`].
    pub top2_gap: Vec<f32>,
    /// See [`flags`].
    pub flags: Vec<u8>,
    /// See [`Field::Drift`].
    pub drift: Vec<f32>,
}

impl EpochColumns {
    /// An epoch of `n` samples, all fields present, none seen yet.
    pub fn unseen(n: usize) -> Self {
        Self {
            p_true: vec![0.0; n],
            el2n: vec![0.0; n],
            margin: vec![0.0; n],
            entropy: vec![0.0; n],
            max_prob: vec![0.0; n],
            top2_gap: vec![0.0; n],
            flags: vec![0; n],
            drift: vec![0.0; n],
        }
    }

    /// An epoch holding true-class probabilities only, every sample seen.
    pub fn from_p_true(p_true: Vec<f32>) -> Self {
        let n = p_true.len();
        Self {
            p_true,
            flags: vec![flags::SEEN; n],
            ..Self::default()
        }
    }

    /// An epoch of true-class probabilities alone, as an import holds it: no seen or correct
    /// flags (every sample counts as seen; methods that need correctness are refused).
    pub fn p_true_only(p_true: Vec<f32>) -> Self {
        Self {
            p_true,
            ..Self::default()
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.flags.len().max(self.p_true.len())
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores one sample's values and marks it seen.
    pub fn set(&mut self, i: usize, s: &SampleStats) {
        self.p_true[i] = s.p_true;
        self.el2n[i] = s.el2n;
        self.margin[i] = s.margin;
        self.entropy[i] = s.entropy;
        self.max_prob[i] = s.max_prob;
        self.top2_gap[i] = s.top2_gap;
        self.flags[i] = flags::SEEN | if s.correct { flags::CORRECT } else { 0 };
    }

    /// Whether sample `i` was seen this epoch.
    pub fn seen(&self, i: usize) -> bool {
        self.flags[i] & flags::SEEN != 0
    }

    /// Whether sample `i` was predicted correctly this epoch.
    pub fn correct(&self, i: usize) -> bool {
        self.flags[i] & flags::CORRECT != 0
    }

    /// The float column of `field` (empty for [`Field::Flags`]).
    pub fn floats(&self, field: Field) -> &[f32] {
        match field {
            Field::PTrue => &self.p_true,
            Field::El2n => &self.el2n,
            Field::Margin => &self.margin,
            Field::Entropy => &self.entropy,
            Field::MaxProb => &self.max_prob,
            Field::Top2Gap => &self.top2_gap,
            Field::Drift => &self.drift,
            Field::Flags => &[],
        }
    }

    /// The float column of `field`, mutable (panics for [`Field::Flags`]).
    pub fn floats_mut(&mut self, field: Field) -> &mut Vec<f32> {
        match field {
            Field::PTrue => &mut self.p_true,
            Field::El2n => &mut self.el2n,
            Field::Margin => &mut self.margin,
            Field::Entropy => &mut self.entropy,
            Field::MaxProb => &mut self.max_prob,
            Field::Top2Gap => &mut self.top2_gap,
            Field::Drift => &mut self.drift,
            Field::Flags => panic!("flags is not a float column"),
        }
    }

    /// Fields whose column holds one value per sample.
    pub fn present(&self) -> FieldSet {
        let n = self.len();
        let mut set = FieldSet::EMPTY;
        for field in Field::ALL {
            let len = match field {
                Field::Flags => self.flags.len(),
                f => self.floats(f).len(),
            };
            if len == n && n > 0 {
                set = set.union(FieldSet::of(&[field]));
            }
        }
        set
    }

    /// Checks that every seen sample's loaded float values are finite.
    pub fn check_finite(&self, epoch: usize) -> Result<(), super::DynamicsError> {
        for field in self.present().iter().filter(|f| *f != Field::Flags) {
            for (i, &v) in self.floats(field).iter().enumerate() {
                if !v.is_finite() && (self.flags.is_empty() || self.seen(i)) {
                    return Err(super::DynamicsError::NonFinite {
                        field: field.name(),
                        epoch: epoch + 1,
                        sample: i,
                        value: v,
                    });
                }
            }
        }
        Ok(())
    }
}
