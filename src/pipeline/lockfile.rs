//! `pipeline.lock`: the key and outputs of each stage's last successful run, as YAML a
//! person can read and diff. Written atomically after every stage.

use fs_err as fs;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cache::OutFile;
use super::key::CACHE_SCHEMA;
use crate::contract::atomic::write_atomic;
use crate::contract::runtime::Runtime;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    pub schema: u32,
    pub stages: BTreeMap<String, LockedStage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedStage {
    pub kind: String,
    /// The key digest; the full key is in the cache entry of that name.
    pub key: String,
    pub params: Value,
    /// How many input files and their combined digest.
    pub inputs: InputsSummary,
    /// Upstream stage -> key digest.
    pub upstream: BTreeMap<String, String>,
    /// Output file -> size and hash.
    pub outs: BTreeMap<String, OutFile>,
    /// Where the outputs were computed, for stages whose figures depend on the machine
    /// (their `runtime.json`): CPU, libtorch, kernels, threads, device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputsSummary {
    pub files: usize,
    pub bytes: u64,
    pub digest: String,
}

const HEADER: &str =
    "# pipeline.lock: written by pneumo-pipeline after each stage; do not edit it\n";

pub fn path(workspace: &Path) -> PathBuf {
    workspace.join("pipeline.lock")
}

/// Reads the workspace's lock file. Missing is empty; unreadable is an error the caller may
/// downgrade.
pub fn load(workspace: &Path) -> Result<LockFile, String> {
    load_at(&path(workspace))
}

/// Reads the lock file at `p` (an experiment's, say).
pub fn load_at(p: &Path) -> Result<LockFile, String> {
    let p = p.to_path_buf();
    match fs::read_to_string(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LockFile {
            schema: CACHE_SCHEMA,
            ..Default::default()
        }),
        Err(e) => Err(format!("{}: {e}", p.display())),
        Ok(text) => {
            let lock: LockFile =
                serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            if lock.schema != CACHE_SCHEMA {
                return Err(format!(
                    "{}: schema {} (this tool writes {CACHE_SCHEMA})",
                    p.display(),
                    lock.schema
                ));
            }
            Ok(lock)
        }
    }
}

pub fn save(workspace: &Path, lock: &LockFile) -> io::Result<()> {
    save_at(&path(workspace), lock)
}

pub fn save_at(p: &Path, lock: &LockFile) -> io::Result<()> {
    let yaml = serde_yaml_ng::to_string(lock).map_err(io::Error::other)?;
    write_atomic(p, format!("{HEADER}{yaml}").as_bytes())
}
