//! Learning-rate schedules with linear warm-up, as a pure function of the step.

/// The shape of the schedule after warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The peak rate throughout.
    Constant,
    /// Half a cosine from the peak rate down to `min_lr` over the steps after warm-up
    /// (PyTorch's `CosineAnnealingLR` with `eta_min`, stepped every iteration).
    Cosine {
        /// The rate at the end.
        min_lr: f64,
    },
    /// Multiply by `gamma` every `every_epochs` epochs (counted from the start of training).
    Step {
        /// Period in epochs.
        every_epochs: usize,
        /// Factor.
        gamma: f64,
    },
}

/// [`rate`], with the warm-up rising linearly from `warmup_lr` (timm's `warmup_lr_init`: the
/// rate at step 0, `warmup_lr + (peak - warmup_lr) step / warmup` after) when given.
pub fn rate_from(
    warmup_lr: Option<f64>,
    (schedule, peak): (Schedule, f64),
    step: usize,
    (total, per_epoch, warmup): (usize, usize, usize),
) -> f64 {
    match warmup_lr {
        Some(start) if step < warmup => start + (peak - start) * step as f64 / warmup as f64,
        _ => rate(schedule, peak, step, total, per_epoch, warmup),
    }
}

/// The rate at optimizer step `step` (0-based) of `total` steps with `per_epoch` steps per
/// epoch: linear warm-up from `peak / warmup` to `peak` over `warmup` steps, then `schedule`.
pub fn rate(
    schedule: Schedule,
    peak: f64,
    step: usize,
    total: usize,
    per_epoch: usize,
    warmup: usize,
) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    match schedule {
        Schedule::Constant => peak,
        Schedule::Cosine { min_lr } => {
            let span = total.saturating_sub(warmup).max(1) as f64;
            let t = (step - warmup) as f64 / span;
            min_lr + 0.5 * (peak - min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
        }
        Schedule::Step {
            every_epochs,
            gamma,
        } => {
            let epoch = step / per_epoch.max(1);
            peak * gamma.powi((epoch / every_epochs.max(1)) as i32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        // 10 steps, 2 of warm-up: 0.5, 1.0, then cosine over 8 steps: t = 0, 1/8, ... 7/8.
        let r: Vec<f64> = (0..10)
            .map(|s| rate(Schedule::Cosine { min_lr: 0.0 }, 1.0, s, 10, 5, 2))
            .collect();
        assert!((r[0] - 0.5).abs() < 1e-12 && (r[1] - 1.0).abs() < 1e-12);
        assert!((r[2] - 1.0).abs() < 1e-12);
        // t = 4/8: 0.5 (1 + cos(pi/2)) = 0.5
        assert!((r[6] - 0.5).abs() < 1e-12);
        // t = 7/8: 0.5 (1 + cos(7pi/8)) = 0.5 (1 - 0.923880) = 0.038060
        assert!((r[9] - 0.038060).abs() < 1e-6);
    }

    #[test]
    fn warmup_from_a_start_rate() {
        // 10 steps, 4 of warm-up from 0.2 to 1.0: 0.2, 0.4, 0.6, 0.8, then the peak.
        let r = |s| rate_from(Some(0.2), (Schedule::Constant, 1.0), s, (10, 5, 4));
        for (s, want) in [(0, 0.2), (1, 0.4), (2, 0.6), (3, 0.8), (4, 1.0), (9, 1.0)] {
            assert!((r(s) - want).abs() < 1e-12, "step {s}: {}", r(s));
        }
        // Without a start rate, the warm-up is rate()'s.
        let plain = rate_from(None, (Schedule::Constant, 1.0), 0, (10, 5, 4));
        assert!((plain - 0.25).abs() < 1e-12);
    }

    #[test]
    fn step_decay() {
        let s = Schedule::Step {
            every_epochs: 2,
            gamma: 0.1,
        };
        // 3 steps per epoch: epochs 0-1 at 1.0, 2-3 at 0.1, 4 at 0.01.
        assert_eq!(rate(s, 1.0, 5, 15, 3, 0), 1.0);
        assert!((rate(s, 1.0, 6, 15, 3, 0) - 0.1).abs() < 1e-12);
        assert!((rate(s, 1.0, 12, 15, 3, 0) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn cosine_ends_at_its_floor() {
        // 10 steps, 2 of warm-up, floor 0.25: half-way (t = 4/8) 0.25 + 0.375 (1 + 0) = 0.625;
        // the last step (t = 7/8) just above the floor.
        let r = |s| rate(Schedule::Cosine { min_lr: 0.25 }, 1.0, s, 10, 5, 2);
        assert!((r(2) - 1.0).abs() < 1e-12);
        assert!((r(6) - 0.625).abs() < 1e-12);
        let last = 0.25 + 0.375 * (1.0 + (std::f64::consts::PI * 7.0 / 8.0).cos());
        assert!((r(9) - last).abs() < 1e-12 && r(9) > 0.25);
    }
}
