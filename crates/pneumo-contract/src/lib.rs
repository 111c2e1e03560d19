//! The contract: every type that crosses a file or a process boundary, in one place, each
//! file written through one type and read back through the same type.
//!
//! | file / stream | type | written by | read by |
//! |---|---|---|---|
//! | `.pneumo/jobs/<key>.json` | [`job::StageJob`] | the engine | the engine, `exec-stage` |
//! | `<scratch>/worker-<task>.json` | [`task::WorkerTask`] | train, evaluate, gradcam | `pneumo-torch exec` |
//! | the worker's stdout | [`event::Event`] (JSON lines) | `pneumo-torch exec` | the engine's reporter |
//! | evaluate's `scores.csv` | [`scores::ScoreRow`] | `pneumo-torch exec` (score) | evaluate |
//! | `model.json` | [`card::ModelCard`] | the worker (train), evaluate | evaluate, report, `predict` |
//! | train's `summary.json` | [`summary::TrainSummary`] | the worker | train, charts, report |
//! | train's `history.csv` | [`summary::Evaluation`] rows | the worker | charts, report |
//! | a remote cache's `entries/<key>.json` | [`remote::RemoteEntry`] | `run` after a stage ran | `run` before running a stage |
//!
//! Each JSON file carries a `format` number: a reader refuses a newer format by name
//! instead of misreading it.

pub mod atomic;
pub mod augment;
pub mod calibrate;
pub mod calibrator;
pub mod card;
pub mod charts;
pub mod choices;
pub mod csv;
pub mod defined;
pub mod event;
pub mod gradcam;
pub mod index;
pub mod label;
pub mod metrics;
pub mod predictions;
pub mod preprocess;
pub mod runtime;
pub mod scores;
pub mod split;
pub mod summary;
pub mod task;
pub mod train;

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::atomic::write_atomic;

/// Reads `path` as JSON into `T`; errors name the file and what it should have been.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let bytes = fs_err::read(path)?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid {what}", path.display()))
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// A JSON file with a `format` number, read and written through [`load`] and [`save`].
pub trait Versioned: Serialize + DeserializeOwned + Clone {
    /// What the file is, for messages ("model card").
    const WHAT: &'static str;
    /// The format this build writes (and the newest it reads).
    const FORMAT: u32;
    fn format(&self) -> u32;
    fn set_format(&mut self, format: u32);
}

/// Reads `path` as `T`, refusing a newer format by name.
pub fn load<T: Versioned>(path: &Path) -> anyhow::Result<T> {
    let value: T = read_json(path, T::WHAT)?;
    check_format(path, T::WHAT, value.format(), T::FORMAT)?;
    Ok(value)
}

/// Writes `value` to `path` in the current format, atomically.
pub fn save<T: Versioned>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut value = value.clone();
    value.set_format(T::FORMAT);
    write_json(path, &value)
}

/// Implements [`Versioned`] for a type with a `format: u32` field.
#[macro_export]
macro_rules! versioned {
    ($t:ty, $what:literal, $format:expr) => {
        impl $crate::Versioned for $t {
            const WHAT: &'static str = $what;
            const FORMAT: u32 = $format;
            fn format(&self) -> u32 {
                self.format
            }
            fn set_format(&mut self, format: u32) {
                self.format = format;
            }
        }
    };
}

/// The `format` of a file written before it carried one.
pub fn format_one() -> u32 {
    1
}

/// Refuses a file written in a newer `format` than this build reads.
pub fn check_format(path: &Path, what: &str, found: u32, supported: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        found <= supported,
        "{} is a {what} of format {found}, newer than this build reads ({supported}): update pneumo-pipeline",
        path.display()
    );
    Ok(())
}
