//! Runs the plan (`plan.rs`): skips fresh stages, restores cached ones, runs the rest in
//! dependency order, and records each in pipeline.lock.

use fs_err as fs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, bail};
use serde::Serialize;

use super::cache::{Cache, Entry, Pending};
use super::cmd;
use super::confine;
use super::decl::{Pipeline, StageDecl, StageKind};
use super::exec;
use super::inputs::HashCache;
use super::key::{CACHE_SCHEMA, StageKey};
use super::lockfile::{self, InputsSummary, LockFile, LockedStage};
use super::owned::InFlight;
use super::remote::Remote;
use super::report::Reporter;
use super::slurm::{self, Slurm};
use super::stage::Registry;
use super::verify;
use crate::contract::atomic::temp_sibling;
use crate::contract::runtime::Runtime;
use crate::pipeline::job::{self, JobUpstream, StageJob};

pub use super::plan::{Freshness, Planned, Selection};

/// What happened to one stage in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Fresh,
    Restored,
    /// Fetched from the remote cache.
    Pulled,
    Ran,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageResult {
    pub stage: String,
    pub outcome: Outcome,
    pub seconds: f64,
}

pub struct Engine<'a> {
    /// Stages run at once at most (`run -j`); 0 or 1: one after the other.
    pub jobs: usize,
    /// The lock file this run reads and records into: the workspace's `pipeline.lock`, or an
    /// experiment's.
    pub lock_file: PathBuf,
    /// Whether outputs appear in the workspace (`build/<stage>` links, command outputs); an
    /// experiment leaves the workspace as it is and keeps its outputs in the cache only.
    pub link: bool,
    pub workspace: &'a Path,
    pub pipeline: &'a Pipeline,
    pub registry: &'a Registry,
    pub reporter: &'a dyn Reporter,
    /// Built-in stages run as Slurm jobs when set; in this process otherwise.
    pub slurm: Option<&'a Slurm>,
    /// The shared cache: entries are pulled before running and pushed after.
    pub remote: Option<&'a Remote>,
}

impl Engine<'_> {
    /// Brings the selected stages up to date. The caller holds the run lock (whose taking
    /// refused a linked `.pneumo`).
    pub fn run(&self, sel: &Selection) -> anyhow::Result<Vec<StageResult>> {
        let cache = Cache::new(self.workspace);
        if let Err(e) = cache.clear_tmp() {
            // leftovers of a killed run cost disk, not correctness: say so and go on
            self.reporter
                .warn(&format!("could not clear .pneumo/cache's tmp folder: {e}"));
        }
        let mut hashes = HashCache::load(&self.hash_cache_path());
        let lock = self.load_lock();
        let mut plan = self.plan_with(sel, &mut hashes, &lock)?;
        self.save_hashes(&mut hashes);
        verify::upstreams(&mut plan, self.pipeline, &cache, self.reporter);
        // before anything is deleted or written: every output this run may touch is inside,
        // and every existing command output it would replace is the engine's own
        for p in plan
            .iter()
            .filter(|p| !matches!(p.freshness, Freshness::Fresh))
        {
            if let Some(decl) = self.pipeline.stage(&p.stage) {
                let written =
                    matches!(decl.kind, StageKind::Cmd { .. }).then(|| self.written(decl, &lock));
                for out in decl.written_paths() {
                    let path = confine::inside(self.workspace, out)
                        .with_context(|| format!("stage `{}`", decl.name))?;
                    if let Some(written) = &written {
                        written.check(out, &path)?;
                    }
                }
            }
        }
        let lock = std::sync::Mutex::new(lock);
        let results = self.run_plan(&plan, &cache, &lock)?;
        self.save_hashes(&mut hashes);
        Ok(results)
    }

    pub(super) fn execute(
        &self,
        decl: &StageDecl,
        p: &Planned,
        cache: &Cache,
        entries: &BTreeMap<String, PathBuf>,
        lock: &Mutex<LockFile>,
    ) -> anyhow::Result<()> {
        // survives a killed run (unlike out_dir), so a stage can resume; keyed like the run
        let scratch = self.workspace.join(".pneumo/scratch").join(&p.key);
        let mut slurm_dir = None;
        let pending = match &decl.kind {
            StageKind::Builtin(kind) => match self.slurm {
                None => {
                    let pending = cache.begin(&p.key)?;
                    let job = self.job(decl, kind, p, &pending.out_dir(), &scratch, entries)?;
                    job.write(&StageJob::path(self.workspace, &p.key))?;
                    exec::run_job(&job, self.registry, self.reporter)
                        .with_context(|| format!("stage `{}` failed", decl.name))?;
                    pending
                }
                Some(slurm) => {
                    let heavy = self.registry.get(kind).is_some_and(|s| s.uses_all_cores());
                    if heavy && decl.resources.cpus.is_none() {
                        self.reporter.warn(&format!(
                            "stage `{}` declares no `resources: {{cpus: N}}`: Slurm gives it one CPU, while its threads follow the node's cores; set cpus (in the stage or the executor's `resources:`)",
                            decl.name
                        ));
                    }
                    let dir = slurm::RunDir::new(self.workspace, &p.key);
                    let job = self.job(decl, kind, p, &dir.run().join("out"), &scratch, entries)?;
                    job.write(&StageJob::path(self.workspace, &p.key))?;
                    slurm.run(&job, decl, &dir, self.reporter)?;
                    let pending = Pending::adopt(dir.run());
                    slurm_dir = Some(dir);
                    pending
                }
            },
            StageKind::Cmd { cmd, outs } => {
                // checked again here, just before (an upstream command may have written
                // there since the run began): a refusal touches nothing, no restore either
                let written = self.written(decl, &lock_of(lock));
                for out in outs {
                    written.check(out, &confine::inside(self.workspace, out)?)?;
                }
                let pending = cache.begin(&p.key)?;
                match cmd::run(self.workspace, decl, cmd, outs, &pending.out_dir(), entries) {
                    Ok(undeclared) => {
                        for f in undeclared {
                            self.reporter.warn(&format!(
                                "stage `{}` wrote `{f}`, which is not among its `outs`: it is not cached or restored",
                                decl.name
                            ));
                        }
                    }
                    Err(e) => {
                        self.restore_last_good(decl, outs, cache, lock, true);
                        InFlight::end(self.workspace, &decl.name);
                        return Err(e);
                    }
                }
                pending
            }
        };
        let entry = cache
            .commit(pending, &decl.name, &p.full_key)
            .with_context(|| format!("saving the output of `{}` to the cache", decl.name))?;
        if let StageKind::Cmd { outs, .. } = &decl.kind {
            if !self.link {
                // an experiment keeps its outputs in the cache; the workspace's files stay
                // the last `run`'s
                self.restore_last_good(decl, outs, cache, lock, false);
            }
            InFlight::end(self.workspace, &decl.name);
        }
        self.materialize(decl, &entry)?;
        self.share(&decl.name, &entry, &p.full_key);
        if let Some(dir) = slurm_dir {
            let _ = remove_path(dir.path());
        }
        if let Err(e) = remove_path(&scratch) {
            self.reporter
                .warn(&format!("could not remove {}: {e:#}", scratch.display()));
        }
        self.record(lock, decl, p, &entry)
    }

    /// Pushes a committed (or restored) entry to the remote cache, if there is one; a remote
    /// that fails costs sharing, not the run: a warning.
    pub(super) fn share(&self, stage: &str, entry: &Entry, key: &StageKey) {
        let Some(remote) = self.remote else {
            return;
        };
        match remote.push(entry, key) {
            Ok(pushed) if pushed.entry => self.reporter.info(&format!(
                "{stage}: pushed to {} ({} new objects, {} bytes)",
                remote.url(),
                pushed.objects,
                pushed.bytes
            )),
            Ok(_) => {}
            Err(e) => self.reporter.warn(&format!(
                "could not push `{stage}` to the remote cache: {e:#}"
            )),
        }
    }

    /// The job file of one run of a built-in stage: everything it needs, paths absolute.
    fn job(
        &self,
        decl: &StageDecl,
        kind: &str,
        p: &Planned,
        out_dir: &Path,
        scratch: &Path,
        entries: &BTreeMap<String, PathBuf>,
    ) -> anyhow::Result<StageJob> {
        let stage = self
            .registry
            .get(kind)
            .with_context(|| format!("stage kind `{kind}` is not registered"))?;
        let mut upstreams = Vec::new();
        for need in &decl.needs {
            let up = self.pipeline.stage(need).context("unknown upstream")?;
            if let Some(dir) = entries.get(need) {
                upstreams.push(JobUpstream {
                    name: up.name.clone(),
                    kind: up.kind.name().to_string(),
                    dir: std::path::absolute(dir)?,
                });
            }
        }
        Ok(StageJob {
            format: job::FORMAT,
            name: decl.name.clone(),
            kind: kind.to_string(),
            version: stage.version(),
            key: p.key.clone(),
            params: decl.params.clone(),
            workspace: std::path::absolute(self.workspace)?,
            inputs: p.inputs.clone(),
            upstreams,
            out_dir: std::path::absolute(out_dir)?,
            scratch_dir: std::path::absolute(scratch)?,
            threads: decl.resources.cpus,
            quiet: self.reporter.is_quiet(),
        })
    }

    /// Where a built-in stage's `out` link is (resolved inside the workspace) and what it
    /// should point to: the entry, relative to where the link really is (a link inside the
    /// workspace may have moved it).
    pub(super) fn out_link(&self, out: &str, entry: &Entry) -> anyhow::Result<(PathBuf, PathBuf)> {
        let link = confine::inside(self.workspace, out)?;
        let root = self.workspace.canonicalize()?;
        let at = link.strip_prefix(&root).unwrap_or(Path::new(out));
        let target = link_target(at, entry);
        Ok((link, target))
    }

    /// Makes the workspace show an entry's outputs: a link for built-in stages, file copies
    /// for external commands.
    pub(super) fn materialize(&self, decl: &StageDecl, entry: &Entry) -> anyhow::Result<()> {
        if !self.link {
            return Ok(());
        }
        match &decl.kind {
            StageKind::Builtin(_) => {
                let out = decl.out.as_deref().unwrap_or_default();
                let (link, target) = self.out_link(out, entry)?;
                if let Ok(meta) = fs::symlink_metadata(&link)
                    && !meta.file_type().is_symlink()
                {
                    bail!(
                        "{} exists and is not the link pneumo-pipeline made; move it away or change `out:` of stage `{}`",
                        link.display(),
                        decl.name
                    );
                }
                if let Some(parent) = link.parent() {
                    fs::create_dir_all(parent)?;
                }
                let tmp = temp_sibling(&link);
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(target, &tmp)?;
                fs::rename(&tmp, &link).with_context(|| format!("linking {}", link.display()))?;
            }
            StageKind::Cmd { .. } => self.copy_out(entry)?,
        }
        Ok(())
    }

    pub(super) fn record(
        &self,
        lock: &Mutex<LockFile>,
        decl: &StageDecl,
        p: &Planned,
        entry: &Entry,
    ) -> anyhow::Result<()> {
        let inputs = &p.full_key.inputs;
        let digest = blake3::hash(&serde_json::to_vec(inputs)?)
            .to_hex()
            .to_string();
        let mut lock = lock_of(lock);
        lock.stages.insert(
            decl.name.clone(),
            LockedStage {
                kind: decl.kind.name().to_string(),
                key: p.key.clone(),
                params: decl.params.clone(),
                inputs: InputsSummary {
                    files: inputs.len(),
                    bytes: p.inputs.files.values().map(|f| f.size).sum(),
                    digest,
                },
                upstream: p.full_key.upstream.clone(),
                outs: entry.meta.files.clone(),
                runtime: Runtime::read(&entry.out_dir())?,
            },
        );
        lockfile::save_at(&self.lock_file, &lock)
            .with_context(|| format!("writing {}", self.lock_file.display()))
    }
}

/// The relative link target from `out` (workspace-relative) to an entry's output folder.
fn link_target(out: &Path, entry: &Entry) -> PathBuf {
    let depth = out.components().count().saturating_sub(1);
    let mut t = PathBuf::new();
    for _ in 0..depth {
        t.push("..");
    }
    let digest = entry
        .dir
        .file_name()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    t.push(format!(".pneumo/cache/v{CACHE_SCHEMA}/runs/{digest}/out"));
    t
}

/// The lock file behind its mutex; a stage thread that panicked holding it left it whole
/// (every change is one insert), so its poison is ignored.
pub(super) fn lock_of(lock: &Mutex<LockFile>) -> std::sync::MutexGuard<'_, LockFile> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn remove_path(p: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(p) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
    }
}
