//! One function per subcommand. Each returns the process exit code.

use std::path::Path;

use anyhow::Context;

use pneumo_pipeline::pipeline::dag;
use pneumo_pipeline::pipeline::report::Reporter;
use pneumo_pipeline::pipeline::runlock::RunLock;
use pneumo_pipeline::pipeline::runner::{Engine, Freshness, Outcome, Selection};
use pneumo_pipeline::pipeline::{self, LoadError, Pipeline};
use pneumo_pipeline::stages;

use super::progress::Terminal;

/// Exit code for an invalid pipeline.yaml.
pub const EXIT_CONFIG: i32 = 2;

/// Loads the pipeline, printing config errors; `Err(code)` when it cannot be used.
fn load(workspace: &Path) -> Result<Pipeline, i32> {
    match pipeline::load(workspace, &stages::registry()) {
        Ok(p) => Ok(p),
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

pub fn run(workspace: &Path, sel: Selection, wait: bool, quiet: bool) -> anyhow::Result<i32> {
    let pipeline = match load(workspace) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let reporter = Terminal::new(quiet);
    let _lock = RunLock::acquire(workspace, wait, |msg| reporter.info(msg))?;
    let registry = stages::registry();
    let engine = Engine {
        workspace,
        pipeline: &pipeline,
        registry: &registry,
        reporter: &reporter,
    };
    let results = engine.run(&sel)?;
    for r in &results {
        let what = match r.outcome {
            Outcome::Fresh => "fresh, skipped".to_string(),
            Outcome::Restored => format!("restored from cache in {:.2}s", r.seconds),
            Outcome::Ran => format!("ran in {:.2}s", r.seconds),
        };
        reporter.info(&format!("{:<12} {what}", r.stage));
    }
    Ok(0)
}

pub fn status(workspace: &Path, sel: Selection, json: bool) -> anyhow::Result<i32> {
    let pipeline = match load(workspace) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let registry = stages::registry();
    let reporter = Terminal::new(false);
    let engine = Engine {
        workspace,
        pipeline: &pipeline,
        registry: &registry,
        reporter: &reporter,
    };
    let plan = engine.plan(&sel)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(0);
    }
    for p in &plan {
        match &p.freshness {
            Freshness::Fresh => println!("{:<12} fresh", p.stage),
            Freshness::Cached { why } => {
                println!("{:<12} stale, in cache (restored without running)", p.stage);
                for w in why {
                    println!("{:<12}   - {w}", "");
                }
            }
            Freshness::Stale { why } => {
                println!("{:<12} stale", p.stage);
                for w in why {
                    println!("{:<12}   - {w}", "");
                }
            }
        }
    }
    Ok(0)
}

pub fn show_dag(workspace: &Path, dot: bool) -> anyhow::Result<i32> {
    let pipeline = match load(workspace) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    if dot {
        print!("{}", dag::render_dot(&pipeline.stages));
    } else {
        print!("{}", dag::render(&pipeline.stages));
    }
    Ok(0)
}

pub fn clean(workspace: &Path, wait: bool) -> anyhow::Result<i32> {
    let pipeline = match load(workspace) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let reporter = Terminal::new(false);
    let _lock = RunLock::acquire(workspace, wait, |msg| reporter.info(msg))?;
    let registry = stages::registry();
    let engine = Engine {
        workspace,
        pipeline: &pipeline,
        registry: &registry,
        reporter: &reporter,
    };
    let (n, bytes) = engine.clean().context("cleaning the cache")?;
    println!(
        "removed {n} cache entr{} ({:.1} MB) not referenced by pipeline.lock",
        if n == 1 { "y" } else { "ies" },
        bytes as f64 / 1e6
    );
    Ok(0)
}
