//! One function per subcommand. Each returns the process exit code.

use std::path::Path;

use anyhow::Context;

use pneumo_pipeline::pipeline::cache::{Cache, Lookup};
use pneumo_pipeline::pipeline::decl::ExecutorKind;
use pneumo_pipeline::pipeline::job::StageJob;
use pneumo_pipeline::pipeline::lockfile;
use pneumo_pipeline::pipeline::remote::Remote;
use pneumo_pipeline::pipeline::report::Reporter;
use pneumo_pipeline::pipeline::runlock::RunLock;
use pneumo_pipeline::pipeline::runner::{Engine, Freshness, Outcome, Selection, StageResult};
use pneumo_pipeline::pipeline::slurm::{self, Slurm};
use pneumo_pipeline::pipeline::stage::Registry;
use pneumo_pipeline::pipeline::{self, LoadError, Pipeline};
use pneumo_pipeline::pipeline::{dag, exec};
use pneumo_pipeline::stages;

use super::progress::Terminal;

/// Exit code for an invalid pipeline.yaml.
pub const EXIT_CONFIG: i32 = 2;

/// A loaded pipeline and the stage kinds it was checked against.
pub(super) struct Loaded {
    pipeline: Pipeline,
    registry: Registry,
    /// Set when built-in stages run as Slurm jobs ([`Loaded::executor`]).
    slurm: Option<Slurm>,
    /// The shared cache ([`Loaded::remote`]).
    remote: Option<Remote>,
}

impl Loaded {
    /// Loads the pipeline, printing config errors; `Err(code)` when it cannot be used.
    pub(super) fn open(workspace: &Path) -> Result<Loaded, i32> {
        let registry = stages::registry();
        match pipeline::load(workspace, &registry) {
            Ok(pipeline) => Ok(Loaded {
                pipeline,
                registry,
                slurm: None,
                remote: None,
            }),
            Err(LoadError::Config(errors)) => {
                eprintln!("{errors}");
                Err(EXIT_CONFIG)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Err(EXIT_CONFIG)
            }
        }
    }

    pub(super) fn engine<'a>(
        &'a self,
        workspace: &'a Path,
        reporter: &'a dyn Reporter,
    ) -> Engine<'a> {
        Engine {
            jobs: 1,
            lock_file: pneumo_pipeline::pipeline::lockfile::path(workspace),
            link: true,
            workspace,
            pipeline: &self.pipeline,
            registry: &self.registry,
            reporter,
            slurm: self.slurm.as_ref(),
            remote: self.remote.as_ref(),
        }
    }

    /// Opens the remote cache: `url` (`run --remote`), else pipeline.yaml's `cache: {remote}`.
    pub(super) fn remote(&mut self, url: Option<&str>) -> anyhow::Result<()> {
        if let Some(url) = url.or(self.pipeline.remote.as_deref()) {
            self.remote = Some(Remote::open(url)?);
        }
        Ok(())
    }

    /// Chooses where built-in stages run: `choice` (`run --executor`), else pipeline.yaml's
    /// `executor:`. For Slurm, Ctrl-C cancels the jobs this run waits for.
    pub(super) fn executor(&mut self, choice: Option<&str>) -> anyhow::Result<()> {
        let kind = match choice {
            Some("slurm") => ExecutorKind::Slurm,
            Some(_) => ExecutorKind::Local,
            None => self.pipeline.executor.kind,
        };
        if kind == ExecutorKind::Slurm {
            self.slurm = Some(Slurm::new(&self.pipeline.executor)?);
            // a second handler (an experiment after a run in one process) is refused; the
            // first one already does this
            let _ = ctrlc::set_handler(|| {
                let ids = slurm::cancel_all();
                if !ids.is_empty() {
                    eprintln!("interrupted: cancelled Slurm jobs {}", ids.join(", "));
                }
                std::process::exit(130);
            });
        }
        Ok(())
    }
}

/// How `run` runs.
pub struct RunOptions {
    /// Wait for another run holding the workspace (else fail).
    pub wait: bool,
    pub quiet: bool,
    pub jobs: usize,
    /// `local` or `slurm`; `None`: pipeline.yaml's choice.
    pub executor: Option<String>,
    /// The remote cache's URL; `None`: pipeline.yaml's `cache: {remote}`, if any.
    pub remote: Option<String>,
    /// The stages' outcomes as JSON on stdout.
    pub json: bool,
}

pub fn run(workspace: &Path, sel: Selection, o: RunOptions) -> anyhow::Result<i32> {
    let mut loaded = match Loaded::open(workspace) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    loaded.executor(o.executor.as_deref())?;
    loaded.remote(o.remote.as_deref())?;
    let reporter = Terminal::new(o.quiet);
    let _lock = RunLock::acquire(workspace, o.wait, |msg| reporter.info(msg))?;
    let mut engine = loaded.engine(workspace, &reporter);
    engine.jobs = o.jobs;
    let results = engine.run(&sel)?;
    print_results(&reporter, &results, o.json)?;
    Ok(0)
}

/// One line per stage on stderr: what happened to it and how long it took; with `json`,
/// also the results as one JSON array on stdout (what scripts and tests read).
pub fn print_results(
    reporter: &Terminal,
    results: &[StageResult],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string(results)?);
    }
    for r in results {
        let what = match r.outcome {
            Outcome::Fresh => "fresh, skipped".to_string(),
            Outcome::Restored => format!("restored from cache in {:.2}s", r.seconds),
            Outcome::Pulled => format!("pulled from the remote cache in {:.2}s", r.seconds),
            Outcome::Ran => format!("ran in {:.2}s", r.seconds),
        };
        reporter.info(&format!("{:<12} {what}", r.stage));
    }
    Ok(())
}

pub fn status(workspace: &Path, sel: Selection, json: bool) -> anyhow::Result<i32> {
    let loaded = match Loaded::open(workspace) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let reporter = Terminal::new(false);
    let plan = loaded.engine(workspace, &reporter).plan(&sel)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(0);
    }
    // jobs a Slurm run submitted (this one's or a killed driver's), when there are any
    let queue: Vec<slurm::QueuedJob> = if workspace.join(slurm::DIR).is_dir() {
        slurm::queue::list()
            .map(|q| q.into_values().collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    for p in &plan {
        let (state, why) = match &p.freshness {
            Freshness::Fresh => ("fresh", &[][..]),
            Freshness::Cached { why } => ("stale, in cache (restored without running)", &why[..]),
            Freshness::Stale { why } => ("stale", &why[..]),
        };
        match slurm::queued(workspace, &p.key, &queue).filter(|j| j.is_active()) {
            Some(j) => outln!(
                "{:<12} {state}; Slurm job {} is {}",
                p.stage,
                j.id,
                j.state.to_lowercase()
            ),
            None => outln!("{:<12} {state}", p.stage),
        }
        for w in why {
            outln!("{:<12}   - {w}", "");
        }
    }
    Ok(0)
}

pub fn show_dag(workspace: &Path, dot: bool) -> anyhow::Result<i32> {
    let loaded = match Loaded::open(workspace) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let stages = &loaded.pipeline.stages;
    out!(
        "{}",
        if dot {
            dag::render_dot(stages)
        } else {
            dag::render(stages)
        }
    );
    Ok(0)
}

pub fn clean(workspace: &Path, wait: bool) -> anyhow::Result<i32> {
    let loaded = match Loaded::open(workspace) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let reporter = Terminal::new(false);
    let _lock = RunLock::acquire(workspace, wait, |msg| reporter.info(msg))?;
    // what experiments hold stays too; one that cannot be read stops the clean
    let keep = pneumo_pipeline::exp::pinned_keys(workspace)?;
    let (n, bytes) = loaded
        .engine(workspace, &reporter)
        .clean(&keep)
        .context("cleaning the cache")?;
    outln!(
        "removed {n} cache entr{} ({:.1} MB) not referenced by pipeline.lock",
        if n == 1 { "y" } else { "ies" },
        bytes as f64 / 1e6
    );
    Ok(0)
}

/// `push`: every entry pipeline.lock references, to the remote cache.
pub fn push(workspace: &Path, url: Option<&str>) -> anyhow::Result<i32> {
    let mut loaded = match Loaded::open(workspace) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    loaded.remote(url)?;
    let Some(remote) = &loaded.remote else {
        anyhow::bail!(
            "no remote cache: pass --remote URL or set `cache: {{remote: URL}}` in pipeline.yaml"
        );
    };
    let lock = lockfile::load(workspace).map_err(anyhow::Error::msg)?;
    let cache = Cache::new(workspace);
    let (mut entries, mut objects, mut bytes) = (0, 0, 0);
    for (stage, locked) in &lock.stages {
        let (Lookup::Hit(entry), Some(key)) =
            (cache.lookup(&locked.key, true), cache.key_of(&locked.key))
        else {
            eprintln!("warning: `{stage}` is not in the local cache (or damaged): not pushed");
            continue;
        };
        let pushed = remote
            .push(&entry, &key)
            .with_context(|| format!("pushing `{stage}` to {}", remote.url()))?;
        entries += usize::from(pushed.entry);
        objects += pushed.objects;
        bytes += pushed.bytes;
    }
    outln!(
        "pushed {entries} new entr{} ({objects} objects, {:.1} MB) to {}",
        if entries == 1 { "y" } else { "ies" },
        bytes as f64 / 1e6,
        remote.url()
    );
    Ok(0)
}

/// `exec-stage JOB.json`: one built-in stage from its job file alone, in this process, as a
/// cluster node runs it. It writes into the job's `out_dir`, which must be empty; committing
/// to the cache is the driver's part.
pub fn exec_stage(job: &Path, quiet: bool) -> anyhow::Result<i32> {
    let job = StageJob::load(job)?;
    if fs_err::read_dir(&job.out_dir).is_ok_and(|mut d| d.next().is_some()) {
        anyhow::bail!(
            "{} is not empty: a job writes into an empty folder (remove it, or point `out_dir` elsewhere)",
            job.out_dir.display()
        );
    }
    let reporter = Terminal::new(quiet || job.quiet);
    exec::run_job(&job, &stages::registry(), &reporter)
        .with_context(|| format!("stage `{}` failed", job.name))?;
    Ok(0)
}
