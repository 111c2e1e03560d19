//! Starting the `pneumo-torch` worker, the one binary that loads libtorch.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

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

/// Runs the worker with `args`, its output on our stderr; an error if it fails.
pub fn run<I, S>(what: &str, args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let worker = binary()?;
    let status = Command::new(&worker)
        .args(args)
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("starting {}", worker.display()))?;
    if !status.success() {
        bail!("the {what} worker failed ({status})");
    }
    Ok(())
}
