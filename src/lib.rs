//! dynunc: dataset pruning with dynamic uncertainty (He, Yang, Huang, Zhao 2023).
//!
//! The modules follow the pipeline: [`config`] -> [`data`] -> [`train`] (recording
//! [`dynamics`]) -> [`score`] (Dyn-Unc and the [`score::baselines`]) -> [`select`] -> retrain ->
//! [`report`]. [`experiment`] runs the whole pipeline from one experiment file; [`cli`] is the
//! command line over it.

pub mod atomic;
pub mod cli;
pub mod config;
pub mod data;
pub mod dynamics;
pub mod eval;
pub mod experiment;
pub mod fault;
pub mod interop;
pub mod options;
pub mod report;
pub mod score;
pub mod select;
pub mod train;
