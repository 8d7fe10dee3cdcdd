//! dynunc's host Adam and AdamW (`train::ops::adam`) against Burn's `Adam` and `AdamW`: the
//! same parameters and moments, bit for bit, over several steps, with and without a penalty or
//! decay, and Burn's own path where a tensor is not on flex (autodiff tensors stand in for
//! another backend).

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{
    AdamConfig, AdamState, AdamWConfig, AdamWState, AdaptiveMomentumState, Optimizer,
};
use burn::prelude::*;
use dynunc::train::ops::adam::{HostAdam, HostAdamW};

use crate::ops::{random, values};

/// An optimizer state that holds Adam's moments.
trait Moments {
    fn moments(&self) -> &AdaptiveMomentumState<2>;
}

impl Moments for AdamState<2> {
    fn moments(&self) -> &AdaptiveMomentumState<2> {
        &self.momentum
    }
}

impl Moments for AdamWState<2> {
    fn moments(&self) -> &AdaptiveMomentumState<2> {
        &self.momentum
    }
}

/// Four steps of `optim` on one parameter, a new gradient each step; every step's parameter
/// and moments.
fn steps<O>(optim: &O, device: &Device) -> Vec<Vec<f32>>
where
    O: Optimizer,
    O::State<2>: Moments,
{
    let mut tensor = random([37, 300], 1.0, 1, device);
    let mut state = None;
    let mut seen = Vec::new();
    for step in 0..4 {
        let grad = random([37, 300], 0.1 * (step + 1) as f32, 10 + step, device);
        let lr = [1e-3, 2e-3, 5e-4, 1e-2][step as usize];
        let (t, s) = optim.step(lr, tensor, grad, state);
        let s = s.expect("Adam keeps a state");
        let m = s.moments();
        seen.push(values(t.clone()));
        seen.push(values(m.moment_1.clone()));
        seen.push(values(m.moment_2.clone()));
        seen.push(vec![m.time as f32]);
        (tensor, state) = (t, Some(s));
    }
    seen
}

fn bits(runs: &[Vec<f32>]) -> Vec<Vec<u32>> {
    runs.iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn host_adam_is_bit_equal_to_burns() {
    let flex = Device::flex();
    for (eps, decay) in [
        (None, None),
        (Some(1e-8), Some(5e-4)),
        (Some(1e-6), Some(0.05)),
    ] {
        let wd = || decay.map(WeightDecayConfig::new);
        let mut burn = AdamConfig::new().with_weight_decay(wd());
        if let Some(e) = eps {
            burn = burn.with_epsilon(e);
        }
        let host = HostAdam::new(eps, wd());
        let (ours, theirs) = (steps(&host, &flex), steps(&burn.build(), &flex));
        assert_eq!(
            bits(&ours),
            bits(&theirs),
            "epsilon {eps:?}, decay {decay:?}"
        );
        // The parameter moved: the comparison is not of two copies of the input.
        assert_ne!(
            bits(&ours[..1]),
            bits(&[values(random([37, 300], 1.0, 1, &flex))])
        );
    }
}

#[test]
fn host_adam_takes_burns_path_off_flex() {
    // Autodiff tensors are not plain flex tensors: Burn's Adam runs, with the same result.
    let d = Device::flex().autodiff();
    let host = HostAdam::new(None, None);
    let burn = AdamConfig::new().build();
    assert_eq!(bits(&steps(&host, &d)), bits(&steps(&burn, &d)));
}

#[test]
fn host_adamw_is_bit_equal_to_burns() {
    let flex = Device::flex();
    for (eps, decay) in [(None, 0.0), (Some(1e-8), 0.05), (Some(1e-6), 1e-4)] {
        let mut burn = AdamWConfig::new().with_weight_decay(decay);
        if let Some(e) = eps {
            burn = burn.with_epsilon(e);
        }
        let host = HostAdamW::new(eps, decay);
        let (ours, theirs) = (steps(&host, &flex), steps(&burn.build(), &flex));
        assert_eq!(bits(&ours), bits(&theirs), "epsilon {eps:?}, decay {decay}");
    }
    let d = Device::flex().autodiff();
    let (host, burn) = (
        HostAdamW::new(None, 0.05),
        AdamWConfig::new().with_weight_decay(0.05),
    );
    assert_eq!(bits(&steps(&host, &d)), bits(&steps(&burn.build(), &d)));
}
