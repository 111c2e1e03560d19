//! The command line: the only place that prints to stdout or stderr.

pub mod commands;
pub mod exp;
pub mod progress;
