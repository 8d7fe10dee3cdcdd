//! Elementwise functions written branch-free, so that a loop over a slice vectorises (libm's
//! `erff` and glibc's `expf` are scalar calls): GELU's `erf` and the `e^t` of GELU's density
//! and of softmax.

/// erf(x) in `f32`, branch-free: the rational approximation XLA and Eigen vectorise (an odd
/// degree-13 polynomial over an even degree-8 one) on `x` clamped to [-4, 4], beyond which erf
/// is ±1 in `f32`. Within 4.5e-7 of erf (tested against libm's `f64` erf).
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    const NUMERATOR: [f64; 7] = [
        -2.726_142_258_013_06e-10,
        2.770_681_424_959_02e-8,
        -2.101_024_020_825_08e-6,
        -5.692_506_394_623_46e-5,
        -7.349_906_303_268_55e-4,
        -2.954_599_808_540_25e-3,
        -1.609_603_332_624_15e-2,
    ];
    const DENOMINATOR: [f64; 5] = [
        -1.456_607_184_649_96e-5,
        -2.133_740_552_789_05e-4,
        -1.682_826_974_382_03e-3,
        -7.373_329_167_204_68e-3,
        -1.426_473_905_141_89e-2,
    ];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = NUMERATOR.iter().fold(0.0, |p, &c| p * x2 + c as f32);
    let q = DENOMINATOR.iter().fold(0.0, |q, &c| q * x2 + c as f32);
    x * p / q
}

/// e^t for t <= 0 in `f32`, branch-free: t = n ln 2 + r with |r| <= ln 2 / 2 (n rounded by
/// adding 1.5 * 2^23), e^r by its Taylor series to degree 7 (truncation below 1e-8), times 2^n
/// written into the exponent bits. Arguments below -87 give e^-87 (where `f32`'s normal range
/// ends; GELU multiplies it by x, so it stands for 0 within 1e-36). Within 2 ulp of e^t
/// (tested).
#[inline(always)]
pub(super) fn exp_nonpositive(t: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    const LN2_HIGH: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LOW: f32 = f32::from_bits(0x35bf_be8e);
    let t = t.max(-87.0);
    let shifted = t * core::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (t - n * LN2_HIGH) - n * LN2_LOW;
    let taylor = (1..=7)
        .rev()
        .fold(1.0, |acc, k| 1.0 + acc * r * (1.0 / k as f32));
    let exponent = (shifted.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23;
    taylor * f32::from_bits(exponent as u32)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Arguments every 1e-5 over [-7, 7] and the extremes.
    pub fn grid() -> impl Iterator<Item = f32> {
        let extremes = [
            0.0, -0.0, 1e-30, -1e-30, 12.0, -12.0, 40.0, -40.0, 1e30, -1e30,
        ];
        (-700_000..=700_000)
            .map(|i| i as f32 * 1e-5)
            .chain(extremes)
    }

    #[test]
    fn erf_is_within_4_5e_7_of_erf() {
        let worst = grid()
            .map(|x| (erf(x) as f64 - libm::erf(x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 4.5e-7, "{worst:e}");
        assert_eq!((erf(0.0), erf(40.0), erf(-40.0)), (0.0, 1.0, -1.0));
    }

    #[test]
    fn exp_nonpositive_is_within_2_ulp_of_exp() {
        for t in (0..=8_700_000).map(|i| i as f32 * -1e-5) {
            let (got, want) = (exp_nonpositive(t) as f64, (t as f64).exp());
            assert!(
                (got - want).abs() <= 2.0 * f32::EPSILON as f64 * want,
                "e^{t}: {got:e}, want {want:e}"
            );
        }
        let floor = exp_nonpositive(-87.0);
        assert_eq!(exp_nonpositive(-1e30), floor);
        assert!(floor > 0.0 && floor < 2e-38, "{floor:e}");
    }
}
