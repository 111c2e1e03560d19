//! The Slurm executor: each run of a built-in stage becomes one batch job running
//! `pneumo-pipeline exec-stage JOB.json` on a node; the driver polls the queue, trusts the
//! job's own exit-code file and the outputs' presence, and commits to the cache itself.
//!
//! Each run has a folder `.pneumo/slurm/<key>/` (workspace and cache on a filesystem the
//! nodes share, the HPC norm): `job.sh` (the batch script), `log`, `exitcode`,
//! `jobid` and `run/out/`, the outputs, renamed into the cache on success. The job's name
//! derives from the key, so a driver that was killed and started again finds the job still
//! queued or running and waits for it instead of submitting it twice; a job that finished
//! meanwhile is taken as it is.

pub mod queue;
mod script;

use fs_err as fs;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use queue::{Queue, QueuedJob};
use script::{NO_WORKSPACE, Script};

use super::decl::{Executor, StageDecl};
use super::report::Reporter;
use crate::pipeline::job::StageJob;

/// Where the runs' folders are, relative to the workspace.
pub const DIR: &str = ".pneumo/slurm";

/// The job name of the run with `key`.
pub fn job_name(key: &str) -> String {
    format!("pneumo-{}", &key[..key.len().min(16)])
}

/// The files of one stage run.
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn new(workspace: &Path, key: &str) -> RunDir {
        RunDir(workspace.join(DIR).join(key))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn script(&self) -> PathBuf {
        self.0.join("job.sh")
    }
    pub fn log(&self) -> PathBuf {
        self.0.join("log")
    }
    pub fn exit_file(&self) -> PathBuf {
        self.0.join("exitcode")
    }
    fn id_file(&self) -> PathBuf {
        self.0.join("jobid")
    }
    /// The folder renamed into the cache on success; `out/` inside it is the job's out_dir.
    pub fn run(&self) -> PathBuf {
        self.0.join("run")
    }

    fn exit_code(&self) -> Option<i32> {
        fs::read_to_string(self.exit_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// Job ids this process submitted and has not seen end: cancelled on Ctrl-C.
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Cancels every job this process is waiting for (`scancel`); returns their ids.
pub fn cancel_all() -> Vec<String> {
    let ids: Vec<String> = live().iter().cloned().collect();
    if !ids.is_empty() {
        let _ = Command::new("scancel").args(&ids).status();
    }
    ids
}

/// What the queue says about the run with `key` in `workspace`: its job, if one is there.
pub fn queued(workspace: &Path, key: &str, jobs: &[QueuedJob]) -> Option<QueuedJob> {
    let dir = RunDir::new(workspace, key);
    let script = std::path::absolute(dir.script()).ok()?;
    let name = job_name(key);
    jobs.iter()
        .find(|j| j.name == name && Path::new(&j.command) == script)
        .cloned()
}

pub struct Slurm {
    queue: Queue,
    sbatch_args: Vec<String>,
    exe: PathBuf,
}

impl Slurm {
    pub fn new(executor: &Executor) -> anyhow::Result<Slurm> {
        Ok(Slurm {
            queue: Queue::new(Duration::from_secs_f64(executor.poll)),
            sbatch_args: executor.sbatch_args.clone(),
            exe: std::env::current_exe().context("locating pneumo-pipeline")?,
        })
    }

    /// Runs `job` (its `out_dir` inside [`RunDir::run`]) as a Slurm job, or waits for the
    /// one already queued for its key; returns once it ended well with its outputs in place.
    pub fn run(
        &self,
        job: &StageJob,
        decl: &StageDecl,
        dir: &RunDir,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<()> {
        let jobs: Vec<QueuedJob> = self.queue.jobs(Instant::now())?.into_values().collect();
        let id = match queued(&job.workspace, &job.key, &jobs) {
            Some(j) if j.is_active() => {
                reporter.info(&format!(
                    "{}: reattached to Slurm job {} ({})",
                    job.name,
                    j.id,
                    j.state.to_lowercase()
                ));
                j.id
            }
            // it ended well while no driver watched: taken as it is, judged like any other
            _ if dir.exit_code() == Some(0) && job.out_dir.is_dir() => {
                fs::read_to_string(dir.id_file()).unwrap_or_default()
            }
            _ => self.submit(job, decl, dir, reporter)?,
        };
        live().insert(id.clone());
        let result = self.wait(&id, job, dir);
        live().remove(&id);
        if result.is_err() {
            // its log and script stay for a look; half-written outputs do not
            let _ = fs::remove_dir_all(dir.run());
        }
        result
    }

    fn submit(
        &self,
        job: &StageJob,
        decl: &StageDecl,
        dir: &RunDir,
        reporter: &dyn Reporter,
    ) -> anyhow::Result<String> {
        for f in [dir.exit_file(), dir.log(), dir.id_file()] {
            let _ = fs::remove_file(f);
        }
        if dir.run().exists() {
            fs::remove_dir_all(dir.run())?;
        }
        fs::create_dir_all(dir.run())?;
        // a GPU when the kind asks for one (`Stage::needs_gpu`, set at validation)
        let resources = decl.resources.clone();
        let text = Script {
            job_name: &job_name(&job.key),
            stage: &job.name,
            key: &job.key,
            workspace: &job.workspace,
            exe: &self.exe,
            // the engine's job file (`.pneumo/jobs/<key>.json`), written before this call
            job_file: &StageJob::path(&job.workspace, &job.key),
            log: &std::path::absolute(dir.log())?,
            exit_file: &std::path::absolute(dir.exit_file())?,
            resources: &resources,
            extra: &self.sbatch_args,
        }
        .render();
        let script = std::path::absolute(dir.script())?;
        fs::write(&script, text)?;
        let out = Command::new("sbatch")
            .arg("--parsable")
            .arg(&script)
            .current_dir(&job.workspace)
            .output()
            .context("running `sbatch` (is Slurm's client installed and on PATH?)")?;
        if !out.status.success() {
            bail!(
                "`sbatch {}` failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        // `--parsable` prints `id` or `id;cluster`
        let stdout = String::from_utf8_lossy(&out.stdout);
        let id = stdout.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() {
            bail!("`sbatch` printed no job id for {}", script.display());
        }
        fs::write(dir.id_file(), &id)?;
        reporter.info(&format!("{}: submitted as Slurm job {id}", job.name));
        Ok(id)
    }

    /// Polls until the job has left the queue (or ended), then judges it by its exit-code file
    /// and its outputs.
    fn wait(&self, id: &str, job: &StageJob, dir: &RunDir) -> anyhow::Result<()> {
        let since = Instant::now();
        loop {
            let jobs = self.queue.jobs(since)?;
            match jobs.get(id) {
                // the queue itself is read at most once per poll interval, for every stage
                Some(j) if j.is_active() => {
                    std::thread::sleep(self.queue.poll().min(Duration::from_millis(250)))
                }
                _ => break,
            }
        }
        // the exit-code file may reach a shared filesystem a moment after the job ends
        let mut code = dir.exit_code();
        for _ in 0..20 {
            if code.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
            code = dir.exit_code();
        }
        let failed = |why: String| -> anyhow::Error {
            anyhow::anyhow!(
                "stage `{}` failed as Slurm job {id}: {why}\nbatch script: {}\nlog: {}\n{}",
                job.name,
                dir.script().display(),
                dir.log().display(),
                tail(&dir.log(), 20)
            )
        };
        match code {
            Some(0) if job.out_dir.is_dir() => Ok(()),
            Some(0) => Err(failed(format!(
                "it exited 0 but its output folder {} is missing",
                job.out_dir.display()
            ))),
            Some(NO_WORKSPACE) => Err(failed(
                "the node could not see the workspace; the Slurm executor needs it on a shared filesystem".into(),
            )),
            Some(c) => Err(failed(format!("exit code {c}"))),
            None => Err(failed(format!(
                "it ended without writing {} (cancelled, out of time or memory, or the node cannot see the workspace)",
                dir.exit_file().display()
            ))),
        }
    }
}

/// The last `n` lines of a log, indented, or a note that there is none.
fn tail(log: &Path, n: usize) -> String {
    match fs::read_to_string(log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(n);
            let mut s = format!("last {} lines of the log:", lines.len() - from);
            for l in &lines[from..] {
                s.push_str("\n  | ");
                s.push_str(l);
            }
            s
        }
        Err(_) => "(no log was written)".into(),
    }
}
