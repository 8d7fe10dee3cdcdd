//! The host kernels' loops compiled for AVX2 where the CPU has it, chosen at run time: the
//! crate is built for the x86-64 baseline (SSE2, four `f32` lanes), so a loop the compiler
//! vectorises runs at half the width it could on every x86 CPU of the last decade.
//!
//! [`vectorised`] runs a closure inside a function compiled with AVX2 enabled; the closure (mark
//! it `#[inline(always)]`: left to itself, the compiler calls it, compiled for the baseline) and
//! the iterator code it calls are inlined there and compiled for it. No FMA: the rounding of
//! every result is the one the baseline build computes, on every CPU.

/// Runs `kernel`, compiled for AVX2 where the CPU has it (checked once, cached by the
/// standard library), as the baseline build otherwise. Pass a closure marked
/// `#[inline(always)]`.
#[inline(always)]
pub(super) fn vectorised<R>(kernel: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked on the line above.
        return unsafe { avx2(kernel) };
    }
    kernel()
}

/// `kernel()` inside a function compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2<R>(kernel: impl FnOnce() -> R) -> R {
    kernel()
}

/// Lanes of the partial sums in [`sum_by`] and [`pair_sum`]: eight, one AVX2 register.
const LANES: usize = 8;

/// `Σ f(x)` over `x`, in [`LANES`] partial sums (element `i` into sum `i % 8`, the tail into
/// one more) added in a fixed order: the loop vectorises, and the result is the same on every
/// CPU. A plain `.sum()` of `f32` cannot vectorise: the compiler keeps its order.
#[inline(always)]
pub(super) fn sum_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    let mut acc = [0.0f32; LANES];
    for c in chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    fold(acc) + tail
}

/// `Σ a_i b_i` over the shorter length, summed as [`sum_by`] does.
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    pair_sum(a, b, |x, y| x * y)
}

/// `Σ f(x_i, y_i)` over the shorter length, in [`LANES`] partial sums (element `i` into sum
/// `i % 8`, the tail into one more) added in a fixed order, as [`sum_by`] does; in `f32`
/// ([`dot`]) or in `f64` (batch norm's sums: four `f64` lanes to an AVX2 register, where one
/// running `f64` sum waits for each addition before the next). One sum per call: two sums in
/// one loop are left at two lanes a register.
#[inline(always)]
pub(super) fn pair_sum<T>(x: &[f32], y: &[f32], f: impl Fn(f32, f32) -> T) -> T
where
    T: Copy + Default + std::ops::Add<Output = T> + std::ops::AddAssign + std::iter::Sum,
{
    let n = x.len().min(y.len());
    let (xs, ys) = (x[..n].chunks_exact(LANES), y[..n].chunks_exact(LANES));
    let tail: T = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(&a, &b)| f(a, b))
        .sum();
    let mut acc = [T::default(); LANES];
    for (a, b) in xs.zip(ys) {
        for l in 0..LANES {
            acc[l] += f(a[l], b[l]);
        }
    }
    fold(acc) + tail
}

/// The largest of `x` (`-inf` when empty; NaNs are passed over, as by `f32::max`), in
/// [`LANES`] partial maxima: the loop vectorises, where a fold through `f32::max` waits for each
/// comparison in turn. The maximum does not depend on the order (zeros' signs aside).
#[inline(always)]
pub(super) fn max_of(x: &[f32]) -> f32 {
    let chunks = x.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut acc = [f32::NEG_INFINITY; LANES];
    for c in chunks {
        for l in 0..LANES {
            acc[l] = acc[l].max(c[l]);
        }
    }
    acc.iter().fold(tail, |m, &v| m.max(v))
}

/// The partial sums added pairwise, in a fixed order.
#[inline(always)]
fn fold<T: Copy + std::ops::Add<Output = T>>(acc: [T; LANES]) -> T {
    let quads = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (quads[0] + quads[2]) + (quads[1] + quads[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lane sums agree with `f64` sums (the tail included), and with AVX2 as without; the
    /// lane maximum is the maximum.
    #[test]
    fn lane_sums_are_sums() {
        for n in [0, 1, 7, 8, 9, 31, 64, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
            assert!((f64::from(dot(&a, &b)) - exact).abs() < 1e-5, "dot of {n}");
            let squares: f64 = a.iter().map(|&x| f64::from(x * x)).sum();
            assert!(
                (f64::from(sum_by(&a, |x| x * x)) - squares).abs() < 1e-5,
                "sum of {n}"
            );
            let plain: f64 = a.iter().map(|&x| f64::from(x)).sum();
            let (sa, sab) = (
                pair_sum(&a, &a, |x, _| f64::from(x)),
                pair_sum(&a, &b, |x, y| f64::from(x * y)),
            );
            assert!((sa - plain).abs() < 1e-12, "f64 sum of {n}");
            assert!((sab - exact).abs() < 1e-12, "f64 dot of {n}");
            let max = a.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            assert_eq!(max_of(&a), max, "max of {n}");
            assert_eq!(
                vectorised(
                    #[inline(always)]
                    || dot(&a, &b)
                )
                .to_bits(),
                dot(&a, &b).to_bits()
            );
        }
    }
}
