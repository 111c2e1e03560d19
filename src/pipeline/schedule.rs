//! Carrying out a plan: stages start as soon as what they need is done, up to `run -j`
//! at once and within the machine's cores. Each stage costs its `resources: {cpus}`, or
//! every core for a kind that uses them all (training, preprocessing) and one for the rest,
//! so two trainings never share cores unless asked to: their thread counts, and so their
//! digits, are the same as in a run one after the other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;

use super::cache::{Cache, Lookup};
use super::decl::{StageDecl, StageKind};
use super::lockfile::LockFile;
use super::plan::{FORCED, Freshness, Planned};
use super::runner::{Engine, Outcome, StageResult};

/// Jobs in flight at most on Slurm without `-j`.
pub const SLURM_JOBS: usize = 64;

/// The cores this machine offers.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Engine<'_> {
    /// Cores a stage occupies while it runs.
    pub(super) fn cost(&self, decl: &StageDecl) -> usize {
        let all = cores();
        let default = match decl.kind {
            StageKind::Builtin(k) if self.registry.get(k).is_some_and(|s| s.uses_all_cores()) => {
                all
            }
            _ => 1,
        };
        decl.resources.cpus.unwrap_or(default).min(all)
    }

    /// Fetches `p`'s entry from the remote cache, if there is one and it has it; a remote
    /// that fails or holds a damaged entry is a warning, and the stage runs.
    fn pull(
        &self,
        decl: &StageDecl,
        p: &Planned,
        cache: &Cache,
        lock: &Mutex<LockFile>,
    ) -> anyhow::Result<Option<Outcome>> {
        let Some(remote) = self.remote else {
            return Ok(None);
        };
        match remote.pull(&p.key, cache) {
            Ok(Some(entry)) => {
                self.materialize(decl, &entry)?;
                self.record(lock, decl, p, &entry)?;
                Ok(Some(Outcome::Pulled))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.reporter.warn(&format!(
                    "could not pull `{}` from the remote cache ({e:#}); running it",
                    p.stage
                ));
                Ok(None)
            }
        }
    }

    pub(super) fn run_plan(
        &self,
        plan: &[Planned],
        cache: &Cache,
        lock: &Mutex<LockFile>,
    ) -> anyhow::Result<Vec<StageResult>> {
        let entries: BTreeMap<String, std::path::PathBuf> = plan
            .iter()
            .map(|p| (p.stage.clone(), cache.entry_dir(&p.key).join("out")))
            .collect();
        let planned: BTreeSet<&str> = plan.iter().map(|p| p.stage.as_str()).collect();
        // on a cluster the scheduler shares the nodes: `-j` only caps the jobs in flight
        let (jobs, all) = match self.slurm {
            None => (self.jobs.max(1), cores()),
            Some(_) if self.jobs > 1 => (self.jobs, usize::MAX),
            Some(_) => (SLURM_JOBS, usize::MAX),
        };
        let mut results: Vec<Option<StageResult>> = vec![None; plan.len()];
        let mut pending: Vec<usize> = (0..plan.len()).collect();
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let (mut running, mut used) = (0usize, 0usize);
        let mut failed: Option<anyhow::Error> = None;
        let (tx, rx) = mpsc::channel::<(usize, usize, f64, anyhow::Result<()>)>();
        std::thread::scope(|scope| -> anyhow::Result<()> {
            loop {
                let mut i = 0;
                while i < pending.len() && failed.is_none() {
                    let idx = pending[i];
                    let p = &plan[idx];
                    let decl = self
                        .pipeline
                        .stage(&p.stage)
                        .context("planned stage vanished from the pipeline")?;
                    let ready = decl
                        .needs
                        .iter()
                        .all(|n| !planned.contains(n.as_str()) || done.contains(n.as_str()));
                    if !ready {
                        i += 1;
                        continue;
                    }
                    // fresh and restorable stages take no time: settled here, in plan order
                    let start = Instant::now();
                    let quick = match &p.freshness {
                        Freshness::Fresh => Some(Outcome::Fresh),
                        Freshness::Cached { .. } => match cache.lookup(&p.key, true) {
                            Lookup::Hit(entry) => {
                                self.materialize(decl, &entry)?;
                                self.record(lock, decl, p, &entry)?;
                                // made before the remote was set up, or pushed by a run
                                // that failed to: shared now
                                self.share(&decl.name, &entry, &p.full_key);
                                Some(Outcome::Restored)
                            }
                            Lookup::Corrupt(why) => {
                                self.reporter.warn(&format!(
                                    "cache entry of `{}` is damaged ({why}); re-running it",
                                    p.stage
                                ));
                                None
                            }
                            Lookup::Miss => None,
                        },
                        Freshness::Stale { .. } => None,
                    };
                    let forced = matches!(&p.freshness, Freshness::Stale { why } if why.iter().any(|w| w == FORCED));
                    let quick = match quick {
                        None if !forced => self.pull(decl, p, cache, lock)?,
                        q => q,
                    };
                    if let Some(outcome) = quick {
                        results[idx] = Some(StageResult {
                            stage: p.stage.clone(),
                            outcome,
                            seconds: start.elapsed().as_secs_f64(),
                        });
                        done.insert(&p.stage);
                        pending.remove(i);
                        continue;
                    }
                    let cost = self.cost(decl);
                    if running > 0 && (running >= jobs || used.saturating_add(cost) > all) {
                        i += 1; // a later stage may fit in what is left
                        continue;
                    }
                    if let Freshness::Stale { why } = &p.freshness {
                        self.reporter
                            .info(&format!("{}: running ({})", p.stage, why.join("; ")));
                    }
                    let (tx, entries) = (tx.clone(), &entries);
                    scope.spawn(move || {
                        let r = self.execute(decl, p, cache, entries, lock);
                        let _ = tx.send((idx, cost, start.elapsed().as_secs_f64(), r));
                    });
                    running += 1;
                    used += cost;
                    pending.remove(i);
                }
                if running == 0 {
                    return Ok(());
                }
                let (idx, cost, seconds, r) = rx.recv().context("a stage thread vanished")?;
                running -= 1;
                used -= cost;
                match r {
                    Ok(()) => {
                        results[idx] = Some(StageResult {
                            stage: plan[idx].stage.clone(),
                            outcome: Outcome::Ran,
                            seconds,
                        });
                        done.insert(&plan[idx].stage);
                    }
                    // the others running finish; nothing new starts
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(results.into_iter().flatten().collect())
    }
}
