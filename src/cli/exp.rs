//! `exp run|show|diff`, `params diff`, `metrics diff`: experiments (`pneumo_pipeline::exp`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use pneumo_pipeline::contract;
use pneumo_pipeline::exp::{self, ExpRecord, table};
use pneumo_pipeline::pipeline::decl::ExecutorKind;
use pneumo_pipeline::pipeline::lockfile;
use pneumo_pipeline::pipeline::remote::Remote;
use pneumo_pipeline::pipeline::report::Reporter;
use pneumo_pipeline::pipeline::runlock::RunLock;
use pneumo_pipeline::pipeline::runner::{Engine, Selection};
use pneumo_pipeline::pipeline::slurm::Slurm;
use pneumo_pipeline::pipeline::validate;
use pneumo_pipeline::stages;

use super::commands::{EXIT_CONFIG, print_results};
use super::progress::Terminal;

/// Options of `exp run`.
pub struct RunOptions {
    pub sets: Vec<String>,
    pub name: Option<String>,
    pub jobs: usize,
    pub quiet: bool,
    pub wait: bool,
    /// The stages' outcomes as JSON on stdout.
    pub json: bool,
}

/// `exp run --set STAGE.PARAM=VALUE...`: the variant runs in this workspace and cache, and is
/// recorded under `.pneumo/exps/<name>/`; `build/` and pipeline.lock stay the last run's.
pub fn run(workspace: &Path, o: RunOptions) -> anyhow::Result<i32> {
    let config = workspace.join(pneumo_pipeline::pipeline::CONFIG_FILE);
    let src = fs_err::read_to_string(&config)?;
    // a bad `-S` is a config error like any other (exit 2), not a failed run
    let variant = match exp::apply_sets(&src, &o.sets) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(EXIT_CONFIG);
        }
    };
    let registry = stages::registry();
    let label = format!("pipeline.yaml with {}", o.sets.join(" "));
    let pipeline = match validate::parse(&variant, Path::new(&label), &registry) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(EXIT_CONFIG);
        }
    };
    // the name is taken and its folder made under the workspace's lock: two `exp run`s cannot
    // record under one name, and one killed while waiting leaves nothing behind
    let reporter = Terminal::new(o.quiet);
    let _lock = RunLock::acquire(workspace, o.wait, |msg| reporter.info(msg))?;
    let name = match o.name {
        Some(n) => n,
        None => (1..)
            .map(|i| format!("exp-{i}"))
            .find(|n| !exp::dir(workspace, n).exists())
            .context("no free experiment name")?,
    };
    exp::check_name(&name)?;
    let dir = exp::dir(workspace, &name);
    if dir.join(exp::RECORD).exists() {
        bail!("experiment `{name}` exists; pick another --name (or look at it: exp show)");
    }
    fs_err::create_dir_all(&dir)?;
    pneumo_pipeline::contract::atomic::write_atomic(
        &dir.join(pneumo_pipeline::pipeline::CONFIG_FILE),
        variant.as_bytes(),
    )?;
    // pipeline.yaml's executor: members of an experiment fan out as Slurm jobs there too
    let slurm = match pipeline.executor.kind {
        ExecutorKind::Slurm => Some(Slurm::new(&pipeline.executor)?),
        ExecutorKind::Local => None,
    };
    let remote = pipeline.remote.as_deref().map(Remote::open).transpose()?;
    let engine = Engine {
        jobs: o.jobs,
        lock_file: lockfile::path(&dir),
        link: false,
        workspace,
        pipeline: &pipeline,
        registry: &registry,
        reporter: &reporter,
        slurm: slurm.as_ref(),
        remote: remote.as_ref(),
    };
    let results = engine.run(&Selection::default())?;
    print_results(&reporter, &results, o.json)?;
    let lock = lockfile::load_at(&lockfile::path(&dir)).map_err(anyhow::Error::msg)?;
    let record = ExpRecord::of_run(
        &name,
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        o.sets,
        pipeline
            .stages
            .iter()
            .map(|s| (s.name.clone(), s.params.clone()))
            .collect(),
        workspace,
        &lock,
    );
    contract::save(&dir.join(exp::RECORD), &record)?;
    reporter.info(&format!(
        "experiment `{name}` recorded in {}",
        dir.display()
    ));
    Ok(0)
}

/// Output formats of the tables.
#[derive(Clone, Copy)]
pub enum Format {
    Text,
    Json,
    Csv,
}

/// `exp show`: every experiment, its changes and headline metrics.
pub fn show(
    workspace: &Path,
    format: Format,
    sort: Option<&str>,
    all: bool,
) -> anyhow::Result<i32> {
    let (records, bad) = exp::list(workspace);
    for b in bad {
        eprintln!("warning: skipping {b}");
    }
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&records)?),
        Format::Csv => out!("{}", table::csv(&table::show(&records, sort, true)?)),
        Format::Text => {
            if records.is_empty() {
                eprintln!("no experiments yet: exp run --set STAGE.PARAM=VALUE");
            } else {
                out!("{}", table::text(&table::show(&records, sort, all)?));
            }
        }
    }
    Ok(0)
}

/// `exp diff A B`: their params that differ, then their metrics.
pub fn diff(workspace: &Path, a: &str, b: &str) -> anyhow::Result<i32> {
    let (a, b) = (exp::find(workspace, a)?, exp::find(workspace, b)?);
    out!("{}", table::text(&table::params_diff(&a, &b)));
    outln!();
    out!("{}", table::text(&table::metrics_diff(&a, &b)));
    Ok(0)
}

/// `params diff [EXP]` / `metrics diff [EXP]`: the last `run` against an experiment (default:
/// the newest).
pub fn against_workspace(
    workspace: &Path,
    exp_name: Option<&str>,
    params: bool,
) -> anyhow::Result<i32> {
    let other = match exp_name {
        Some(n) => exp::find(workspace, n)?,
        None => exp::list(workspace)
            .0
            .pop()
            .context("no experiments yet: exp run --set STAGE.PARAM=VALUE")?,
    };
    let base = exp::find(workspace, "workspace")?;
    let t = if params {
        table::params_diff(&base, &other)
    } else {
        table::metrics_diff(&base, &other)
    };
    out!("{}", table::text(&t));
    Ok(0)
}
