//! What the queue says: one `squeue` call lists every job of this user, read at most once per
//! poll interval however many stages are waiting (Nextflow's and Snakemake's executors poll the
//! same way; `sacct` would need slurmdbd, which many clusters do not expose).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One job as `squeue` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    pub id: String,
    pub name: String,
    /// PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, ...
    pub state: String,
    /// The batch script's path.
    pub command: String,
}

impl QueuedJob {
    /// Still to run or running: a driver waits for it (or reattaches to it).
    pub fn is_active(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "COMPLETED"
                | "FAILED"
                | "CANCELLED"
                | "TIMEOUT"
                | "NODE_FAIL"
                | "OUT_OF_MEMORY"
                | "PREEMPTED"
                | "BOOT_FAIL"
                | "DEADLINE"
                | "REVOKED"
                | "SPECIAL_EXIT"
        )
    }
}

const FORMAT: &str = "%i|%j|%T|%o";

/// Parses `squeue -h -o '%i|%j|%T|%o'` output.
pub fn parse(text: &str) -> Vec<QueuedJob> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(4, '|');
            Some(QueuedJob {
                id: f.next()?.trim().to_string(),
                name: f.next()?.trim().to_string(),
                state: f.next()?.trim().to_string(),
                command: f.next()?.trim().to_string(),
            })
        })
        .filter(|j| !j.id.is_empty())
        .collect()
}

/// This user's jobs, by id, in one call.
pub fn list() -> anyhow::Result<BTreeMap<String, QueuedJob>> {
    let out = Command::new("squeue")
        .args(["--me", "-h", "-a", "-t", "all", "-o", FORMAT])
        .output()
        .context("running `squeue` (is Slurm's client installed and on PATH?)")?;
    if !out.status.success() {
        bail!(
            "`squeue` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .map(|j| (j.id.clone(), j))
        .collect())
}

/// The queue as last read, refreshed when older than the poll interval.
pub struct Queue {
    poll: Duration,
    seen: Mutex<Option<(Instant, BTreeMap<String, QueuedJob>)>>,
}

impl Queue {
    pub fn new(poll: Duration) -> Queue {
        Queue {
            poll,
            seen: Mutex::new(None),
        }
    }

    /// The jobs, read now unless the last reading is younger than the poll interval and
    /// was taken after `since` (a reading from before a submission cannot show that job).
    pub fn jobs(&self, since: Instant) -> anyhow::Result<BTreeMap<String, QueuedJob>> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match &*seen {
            Some((at, jobs)) if *at >= since && at.elapsed() < self.poll => Ok(jobs.clone()),
            _ => {
                let jobs = list()?;
                *seen = Some((Instant::now(), jobs.clone()));
                Ok(jobs)
            }
        }
    }

    pub fn poll(&self) -> Duration {
        self.poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_squeue_lines_and_tells_active_from_ended() {
        let jobs = parse(
            "12|pneumo-ab12|RUNNING|/w/.pneumo/slurm/ab/job.sh\n 13|other|COMPLETED|/x|y\n\n",
        );
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].name, "pneumo-ab12");
        assert!(jobs[0].is_active());
        // a command holding the separator stays whole
        assert_eq!(jobs[1].command, "/x|y");
        assert!(!jobs[1].is_active());
    }
}
