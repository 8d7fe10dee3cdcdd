//! The random streams of a run: each purpose (data order, augmentation, initialisation, ...)
//! draws from its own generator, seeded from the run's seed and the purpose, so none shares a
//! generator with another and each is reproducible on its own. The numbers are part of every
//! recorded result: changing one changes the bytes a run writes.

/// A purpose that draws random numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// The order of the samples in each epoch.
    Order = 1,
    /// Augmentation (crops, flips) in each epoch.
    Augment = 2,
    /// Random-resized crops taken from the files as they are decoded, in each epoch.
    Crop = 0xc209,
    /// Weight initialisation.
    Init = 3,
    /// The Gaussian-noise OOD images.
    OodNoise = 0x0015e,
    /// The `random` method's scores, per retrain seed.
    RandomScores = 0x5e1ec7,
    /// Strategies that sample (`ccs`), per retrain seed.
    Strategy = 0x57a7,
    /// The fine-tuning classifier's initialisation.
    FinetuneHead = 0xf17e,
    /// The seeds of the scoring runs after the first (`scoring.runs`).
    ScoringRun = 0x5c0e,
}

impl From<Stream> for u64 {
    fn from(s: Stream) -> u64 {
        s as u64
    }
}

/// The seed of `stream` (a [`Stream`], or any number) at `epoch` of a run seeded `seed`:
/// splitmix64 over the three words.
pub fn derive_seed(seed: u64, stream: impl Into<u64>, epoch: u64) -> u64 {
    let stream: u64 = stream.into();
    let mut z = seed
        ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ epoch.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
