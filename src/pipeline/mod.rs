//! The pipeline engine: config, DAG, keys, cache, lock file and runner.
//!
//! It knows stages only through the [`stage::Stage`] trait and never touches images,
//! tables or tensors.

pub mod cache;
pub mod clean;
pub mod cmd;
pub mod config;
pub mod confine;

pub mod dag;
pub mod decl;
pub mod error;
pub mod exec;
pub mod expand;
pub mod inputs;
pub mod job;
pub mod key;
pub mod locate;
pub mod lockfile;
pub mod matrix;
pub mod out_paths;
pub mod owned;
pub mod plan;
pub mod remote;
pub mod remote_entry;
pub mod report;
pub mod runlock;
pub mod runner;
pub mod schedule;
pub mod schema;
pub mod slurm;
pub mod stage;
pub mod validate;
pub mod verify;

use std::path::{Path, PathBuf};

pub use decl::Pipeline;
pub use error::ConfigErrors;

/// The config file's name inside a workspace.
pub const CONFIG_FILE: &str = "pipeline.yaml";

/// Why a workspace could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "no {CONFIG_FILE} in {0}\n  hint: run from the folder holding {CONFIG_FILE}, or pass --workspace DIR"
    )]
    NoConfig(PathBuf),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigErrors),
}

/// Reads and checks `<workspace>/pipeline.yaml`.
pub fn load(workspace: &Path, registry: &stage::Registry) -> Result<Pipeline, LoadError> {
    let file = workspace.join(CONFIG_FILE);
    let src = match std::fs::read_to_string(&file) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::NoConfig(workspace.to_path_buf()));
        }
        Err(source) => return Err(LoadError::Io { path: file, source }),
    };
    Ok(validate::parse(&src, Path::new(CONFIG_FILE), registry)?)
}
