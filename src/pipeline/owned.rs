//! What a `cmd` stage may delete before it runs: only files pneumo-pipeline wrote. A
//! declared output that already exists is removed only when every file in it is one a lock
//! file records for that stage, byte for byte (so the cache holds it), or one that a run of
//! that stage was writing when it was killed (its in-flight record says so). Anything else —
//! a user's file, a dataset folder, a file edited since — stops the run before anything is
//! touched, with the path and what to do.

use fs_err as fs;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::cache::{Cache, Entry, Lookup, OutFile};
use super::confine;
use super::decl::StageDecl;
use super::inputs::hash_file;
use super::lockfile::{self, LockFile};
use super::out_paths::components_key;
use super::runner::{Engine, lock_of, remove_path};
use crate::contract::atomic::write_atomic;

/// Where in-flight records live.
pub const DIR: &str = ".pneumo/running";

/// A `cmd` stage's run in progress: written before its command starts, removed once its
/// outputs are committed or cleared. Found by a later run after a kill, it makes the outputs
/// that run left half-written the engine's to remove.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlight {
    pub stage: String,
    pub outs: Vec<String>,
}

impl InFlight {
    fn path(workspace: &Path, stage: &str) -> PathBuf {
        let name = blake3::hash(stage.as_bytes()).to_hex();
        workspace.join(DIR).join(format!("{}.json", &name[..32]))
    }

    /// The record of a run of `stage` in flight, this one's or one a kill left behind (an
    /// unreadable one counts as none: it only widens what may be removed, so ignoring it is
    /// the safe side).
    pub fn recorded(workspace: &Path, stage: &str) -> Option<InFlight> {
        let bytes = fs::read(Self::path(workspace, stage)).ok()?;
        serde_json::from_slice::<InFlight>(&bytes)
            .ok()
            .filter(|r| r.stage == stage)
    }

    /// Records that `stage` is about to write `outs`.
    pub fn begin(workspace: &Path, stage: &str, outs: &[String]) -> anyhow::Result<()> {
        let record = InFlight {
            stage: stage.to_string(),
            outs: outs.to_vec(),
        };
        let path = Self::path(workspace, stage);
        fs::create_dir_all(workspace.join(DIR))?;
        write_atomic(&path, &serde_json::to_vec_pretty(&record)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The run of `stage` is over (its outputs committed, restored or cleared).
    pub fn end(workspace: &Path, stage: &str) {
        let _ = fs::remove_file(Self::path(workspace, stage));
    }
}

/// What the engine knows it wrote for one stage: the outputs recorded in lock files (the
/// workspace's and the run's own), and the outputs of a killed run.
pub struct Written {
    pub stage: String,
    pub recorded: Vec<BTreeMap<String, OutFile>>,
    pub in_flight: Option<InFlight>,
}

impl Written {
    /// Fails, naming the file and what to do, unless everything at `path` (the resolved
    /// location of the declared output `out`) is the engine's own. A missing path is fine.
    pub fn check(&self, out: &str, path: &Path) -> anyhow::Result<()> {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return Ok(());
        };
        let key = components_key(out.trim_end_matches('/'));
        if let Some(f) = &self.in_flight
            && f.outs
                .iter()
                .any(|o| components_key(o.trim_end_matches('/')) == key)
        {
            return Ok(());
        }
        if meta.file_type().is_symlink() {
            // removing a link loses nothing it points to; still, the engine never made one
            // at a command's output, so it is not assumed to be ours
            return self.refuse(out, path, "is a link pneumo-pipeline did not make");
        }
        if meta.is_file() {
            return self.file_is_ours(out, path, &key);
        }
        for e in walkdir::WalkDir::new(path).min_depth(1) {
            let e = e.with_context(|| format!("reading {}", path.display()))?;
            let below = e.path().strip_prefix(path).unwrap_or(e.path());
            let rel = format!("{key}/{}", components_key(&below.to_string_lossy()));
            if e.file_type().is_dir() {
                continue;
            }
            if !e.file_type().is_file() {
                return self.refuse(out, e.path(), "is not a file pneumo-pipeline wrote");
            }
            self.file_is_ours(out, e.path(), &rel)?;
        }
        Ok(())
    }

    fn file_is_ours(&self, out: &str, path: &Path, rel: &str) -> anyhow::Result<()> {
        let meta = fs::metadata(path)?;
        let candidates: Vec<&OutFile> = self.recorded.iter().filter_map(|m| m.get(rel)).collect();
        if candidates.is_empty() {
            return self.refuse(
                out,
                path,
                "exists, and no run of this stage wrote it (pipeline.lock records no such output)",
            );
        }
        let sized: Vec<&&OutFile> = candidates.iter().filter(|f| f.size == meta.len()).collect();
        if !sized.is_empty() {
            let hash = hash_file(path).with_context(|| format!("reading {}", path.display()))?;
            if sized.iter().any(|f| f.blake3 == hash) {
                return Ok(());
            }
        }
        self.refuse(
            out,
            path,
            "was changed since this stage wrote it (it is not the bytes pipeline.lock records)",
        )
    }

    fn refuse(&self, out: &str, path: &Path, why: &str) -> anyhow::Result<()> {
        bail!(
            "stage `{}`: {} {why}; the command would replace its output `{out}`, so it did not run and nothing was deleted; move it away (or delete it yourself) and run again",
            self.stage,
            path.display()
        )
    }
}

impl Engine<'_> {
    /// After a command ran (and failed, or ran for an experiment): what it wrote in the
    /// workspace goes, and the outputs pipeline.lock records come back from the cache, so
    /// neither a failure nor an experiment changes the workspace's files.
    pub(super) fn restore_last_good(
        &self,
        decl: &StageDecl,
        outs: &[String],
        cache: &Cache,
        lock: &Mutex<LockFile>,
        failed: bool,
    ) {
        // only what a command of this run may have written: a run that never started its
        // command (confinement or ownership refused it) leaves every path as it was
        if InFlight::recorded(self.workspace, &decl.name).is_none() {
            return;
        }
        for out in outs {
            if let Ok(path) = confine::inside(self.workspace, out) {
                let _ = remove_path(&path);
            }
        }
        let locked = if self.link {
            lock_of(lock).stages.get(&decl.name).cloned()
        } else {
            lockfile::load(self.workspace)
                .ok()
                .and_then(|l| l.stages.get(&decl.name).cloned())
        };
        let Some(locked) = locked else {
            return;
        };
        let Lookup::Hit(entry) = cache.lookup(&locked.key, true) else {
            return;
        };
        match (self.copy_out(&entry), failed) {
            (Ok(()), true) => self.reporter.warn(&format!(
                "stage `{}` failed; its last good outputs are back in place",
                decl.name
            )),
            (Ok(()), false) => {}
            (Err(e), _) => self.reporter.warn(&format!(
                "the outputs of stage `{}` that pipeline.lock records could not be put back: {e:#}",
                decl.name
            )),
        }
    }

    /// What the engine knows it wrote for `decl`: the outputs its lock records (and the
    /// workspace's, for an experiment), and those of a killed run.
    pub(super) fn written(&self, decl: &StageDecl, lock: &LockFile) -> Written {
        let mut recorded: Vec<_> = lock
            .stages
            .get(&decl.name)
            .map(|s| s.outs.clone())
            .into_iter()
            .collect();
        if self.lock_file != lockfile::path(self.workspace)
            && let Some(s) = lockfile::load(self.workspace)
                .ok()
                .and_then(|l| l.stages.get(&decl.name).cloned())
        {
            recorded.push(s.outs);
        }
        Written {
            stage: decl.name.clone(),
            recorded,
            in_flight: InFlight::recorded(self.workspace, &decl.name),
        }
    }

    /// A command's outputs, copied from its entry into the workspace (each file replaced by
    /// a rename, so a hard link to it elsewhere keeps its bytes).
    pub(super) fn copy_out(&self, entry: &Entry) -> anyhow::Result<()> {
        for rel in entry.meta.files.keys() {
            let dst = confine::inside(self.workspace, rel)?;
            let bytes = fs::read(entry.out_dir().join(rel))?;
            write_atomic(&dst, &bytes).with_context(|| format!("writing {}", dst.display()))?;
            fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o644))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(files: &[(&str, &[u8])]) -> BTreeMap<String, OutFile> {
        files
            .iter()
            .map(|(rel, bytes)| {
                (
                    rel.to_string(),
                    OutFile {
                        size: bytes.len() as u64,
                        blake3: blake3::hash(bytes).to_hex().to_string(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn only_recorded_bytes_or_a_killed_runs_outputs_are_ours() {
        let ws = tempfile::tempdir().unwrap();
        let w = ws.path();
        fs::write(w.join("a.csv"), "mine").unwrap();
        fs::create_dir_all(w.join("notes")).unwrap();
        fs::write(w.join("notes/n.txt"), "note").unwrap();
        let rec = record(&[("a.csv", b"mine"), ("notes/n.txt", b"note")]);
        let written = Written {
            stage: "s".into(),
            recorded: vec![rec],
            in_flight: None,
        };
        written.check("a.csv", &w.join("a.csv")).unwrap();
        written.check("notes/", &w.join("notes")).unwrap();
        written.check("missing", &w.join("missing")).unwrap();
        // edited since, an extra file in a folder, a file never recorded
        fs::write(w.join("a.csv"), "edit").unwrap();
        let err = written.check("a.csv", &w.join("a.csv")).unwrap_err();
        assert!(err.to_string().contains("was changed since"), "{err}");
        fs::write(w.join("notes/extra.txt"), "user").unwrap();
        let err = written.check("notes", &w.join("notes")).unwrap_err();
        assert!(err.to_string().contains("extra.txt"), "{err}");
        fs::write(w.join("b.csv"), "b").unwrap();
        assert!(written.check("b.csv", &w.join("b.csv")).is_err());
        // what a killed run was writing is ours whatever it holds
        InFlight::begin(w, "s", &["b.csv".into()]).unwrap();
        let killed = Written {
            stage: "s".into(),
            recorded: vec![],
            in_flight: InFlight::recorded(w, "s"),
        };
        killed.check("./b.csv", &w.join("b.csv")).unwrap();
        assert!(InFlight::recorded(w, "t").is_none());
        InFlight::end(w, "s");
        assert!(InFlight::recorded(w, "s").is_none());
    }
}
