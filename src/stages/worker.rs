//! Starting the `pneumo-torch` worker, the one binary that loads libtorch: a stage writes a
//! [`WorkerTask`] file into its scratch folder, the worker runs it and speaks in
//! [`Event`]s on its stdout, which land in the stage's reporter.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::contract::event::Event;
use crate::contract::task::WorkerTask;
use crate::pipeline::report::Progress;
use crate::pipeline::stage::StageContext;

/// `pneumo-torch`, beside this binary (or `$PNEUMO_TORCH`).
pub fn binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("PNEUMO_TORCH") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("locating pneumo-pipeline")?;
    let worker = exe.with_file_name("pneumo-torch");
    if !worker.exists() {
        bail!(
            "this needs the pneumo-torch worker beside {} (build the workspace: scripts/setup.sh && cargo build --release)",
            exe.display()
        );
    }
    Ok(worker)
}

pub use crate::contract::task::THREADS_ENV;

/// Runs `task` in the worker for the stage of `ctx`: the task file goes into the stage's
/// scratch folder (kept when the stage fails, so it can be rerun by hand with
/// `pneumo-torch exec FILE`), the worker's events into the stage's reporter, its stderr
/// (libtorch's own messages, errors) to ours. An error if the worker fails.
pub fn run(ctx: &StageContext<'_>, what: &str, task: &WorkerTask) -> anyhow::Result<()> {
    let file = ctx.scratch_dir.join(format!("worker-{}.json", task.name()));
    task.write(&file)?;
    let worker = binary()?;
    let mut command = Command::new(&worker);
    if let Some(n) = ctx.threads {
        command.env(THREADS_ENV, n.to_string());
    }
    let mut child = command
        .arg("exec")
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", worker.display()))?;
    let stdout = child.stdout.take().context("the worker's stdout")?;
    let reporter = ctx.reporter;
    let mut bar: Option<(String, Box<dyn Progress + '_>)> = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the worker's output")?;
        match Event::parse(&line) {
            Some(Event::Progress {
                label,
                done,
                total,
                message,
            }) => {
                if bar.as_ref().is_none_or(|(l, _)| *l != label) {
                    bar = Some((label.clone(), reporter.progress(&label, total)));
                }
                if let Some((_, b)) = &bar {
                    b.set(done, &message);
                }
            }
            Some(Event::Info { text }) => reporter.info(&text),
            Some(Event::Warn { text }) => reporter.warn(&text),
            None => reporter.info(&line),
        }
    }
    drop(bar);
    let status = child.wait().context("waiting for the worker")?;
    if !status.success() {
        bail!(
            "the {what} worker failed ({status}); its task is in {}",
            file.display()
        );
    }
    Ok(())
}
