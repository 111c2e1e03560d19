//! `clean`: what the lock files no longer reference goes — cache entries, their job files,
//! the checkpoints of interrupted runs.

use fs_err as fs;

use anyhow::Context;

use super::cache::Cache;
use super::lockfile;
use super::runner::{Engine, remove_path};
use crate::pipeline::job;

impl Engine<'_> {
    /// Deletes cache entries the lock file does not reference; returns (entries, bytes).
    /// Entries named in `also` (an experiment's) are kept too.
    pub fn clean(&self, also: &[String]) -> anyhow::Result<(usize, u64)> {
        let cache = Cache::new(self.workspace);
        cache.clear_tmp()?;
        let lock = lockfile::load(self.workspace).map_err(anyhow::Error::msg)?;
        let keep: std::collections::BTreeSet<&str> = lock
            .stages
            .values()
            .map(|s| s.key.as_str())
            .chain(also.iter().map(String::as_str))
            .collect();
        let (mut n, mut bytes) = (0, 0);
        // only what the engine made: an entry is a folder named by a key digest
        for d in cache.digests()? {
            if is_digest(&d) && !keep.contains(&d.as_str()) {
                bytes += cache.remove(&d)?;
                n += 1;
            }
        }
        // job files of runs whose outputs are gone
        if let Ok(dir) = fs::read_dir(self.workspace.join(job::JOBS_DIR)) {
            for f in dir.filter_map(Result::ok) {
                let name = f.file_name().to_string_lossy().into_owned();
                let Some(key) = name.strip_suffix(".json").filter(|k| is_digest(k)) else {
                    continue;
                };
                if !keep.contains(&key) {
                    remove_path(&f.path())?;
                }
            }
        }
        // checkpoints of interrupted runs (a `run` would have resumed from them)
        remove_path(&self.workspace.join(".pneumo/scratch")).context("removing .pneumo/scratch")?;
        Ok((n, bytes))
    }
}

/// A key digest as the engine names entries and job files: 64 lowercase hex digits.
fn is_digest(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
