//! The pipeline-wide settings and a stage's `resources:`: the executor, its defaults, the
//! remote cache.

use super::Validator;
use crate::pipeline::config::{RawExecutor, RawResources};
use crate::pipeline::decl::{Executor, ExecutorKind, Resources};

impl Validator<'_> {
    /// `resources:` checked; `at` is where it is written.
    pub(super) fn resources(&mut self, raw: Option<&RawResources>, at: &[&str]) -> Resources {
        let Some(r) = raw else {
            return Resources::default();
        };
        fn field<'a>(at: &[&'a str], f: &'a str) -> Vec<&'a str> {
            at.iter().copied().chain([f]).collect()
        }
        if r.cpus == Some(0) {
            self.error(
                &field(at, "cpus"),
                "invalid value `0` for `cpus`",
                "a stage needs at least one core",
            );
        }
        let time_ok = |t: &str| {
            let t = t.split_once('-').map_or(t, |(d, rest)| {
                if d.chars().all(|c| c.is_ascii_digit()) {
                    rest
                } else {
                    "x"
                }
            });
            !t.is_empty()
                && t.split(':').count() <= 3
                && t.split(':')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        };
        if let Some(t) = &r.time
            && !time_ok(t)
        {
            self.error(
                &field(at, "time"),
                format!("invalid value `{t}` for `time`"),
                "Slurm's spelling: minutes (`90`), `HH:MM:SS` or `D-HH:MM:SS`",
            );
        }
        if let Some(m) = &r.mem {
            let digits = m.trim_end_matches(['K', 'M', 'G', 'T']);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                self.error(
                    &field(at, "mem"),
                    format!("invalid value `{m}` for `mem`"),
                    "Slurm's spelling: a number with an optional unit, `500M` or `8G`",
                );
            }
        }
        Resources {
            cpus: r.cpus,
            mem: r.mem.clone(),
            gpus: r.gpus,
            time: r.time.clone(),
            partition: r.partition.clone(),
        }
    }

    /// `executor:` checked; its `resources:` become every stage's defaults.
    pub(super) fn executor(&mut self, raw: Option<&RawExecutor>) -> Executor {
        let Some(raw) = raw else {
            return Executor::default();
        };
        let kind = match raw.kind.as_str() {
            "local" => ExecutorKind::Local,
            "slurm" => ExecutorKind::Slurm,
            other => {
                self.error(
                    &["executor", "kind"],
                    format!("unknown executor `{other}`"),
                    "expected `local` or `slurm`",
                );
                ExecutorKind::Local
            }
        };
        let poll = raw.poll.unwrap_or(5.0);
        if !(poll.is_finite() && poll > 0.0) {
            self.error(
                &["executor", "poll"],
                format!("invalid value `{poll}` for `poll`"),
                "seconds between two looks at the queue, more than 0",
            );
        }
        self.defaults = self.resources(raw.resources.as_ref(), &["executor", "resources"]);
        Executor {
            kind,
            poll,
            sbatch_args: raw.sbatch_args.clone(),
        }
    }
}
