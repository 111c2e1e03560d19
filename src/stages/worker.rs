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

/// Set for the worker when the run is quiet (`run -q`): it then prints errors only.
pub const QUIET_ENV: &str = "PNEUMO_QUIET";

/// Runs the worker with `args`, its output on our stderr; an error if it fails. With
/// `quiet`, the worker prints only errors.
pub fn run<I, S>(what: &str, quiet: bool, args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let worker = binary()?;
    let mut command = Command::new(&worker);
    if quiet {
        command.env(QUIET_ENV, "1");
    }
    let status = command
        .args(args)
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("starting {}", worker.display()))?;
    if !status.success() {
        bail!("the {what} worker failed ({status})");
    }
    Ok(())
}
