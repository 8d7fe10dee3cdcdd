//! The integration tests, linked as one binary: Burn makes every test binary large, and one
//! link instead of ten keeps a clean build's time and disk use down.

mod common;

mod adam;
mod attention;
mod autoaugment;
#[cfg(any(feature = "wgpu", feature = "tch"))]
mod backends;
mod channels_last;
mod cifar;
mod cli;
mod crop;
mod cross_arch;
mod download;
mod end_to_end;
mod errors;
mod eval;
mod faults;
mod fuzz;
mod imagefolder;
mod interop;
mod mapping;
mod margins;
mod models;
mod newer;
mod ops;
mod parallel;
mod protocols;
mod python;
mod recipe;
mod reliability;
mod report;
mod scorers;
mod select;
mod stability;
mod stop;
mod store;
mod strategies;
#[cfg(feature = "tch")]
mod tch;
mod tdds;
mod transfer;
#[cfg(feature = "wgpu")]
mod wgpu;
