//! Baseline scoring methods, one file each. Each is registered in `score::REGISTRY`.

pub mod acc_margin;
pub mod aum;
pub mod dual;
pub mod el2n;
pub mod forgetting;
pub mod random;
pub mod uncertainty;
