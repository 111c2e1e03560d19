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
//!
//! Each JSON file carries a `format` number: a reader refuses a newer format by name
//! instead of misreading it.

pub mod card;
pub mod event;
pub mod job;
pub mod scores;
pub mod summary;
pub mod task;

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::pipeline::atomic::write_atomic;

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

/// Refuses a file written in a newer `format` than this build reads.
pub fn check_format(path: &Path, what: &str, found: u32, supported: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        found <= supported,
        "{} is a {what} of format {found}, newer than this build reads ({supported}): update pneumo-pipeline",
        path.display()
    );
    Ok(())
}
