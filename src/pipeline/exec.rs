//! Running one [`StageJob`]: the same code whether the engine runs it in process or
//! `exec-stage` runs its file in a fresh process (or on a cluster node).

use anyhow::{Context, bail};

use super::report::Reporter;
use super::stage::{Registry, StageContext, Upstream};
use crate::pipeline::job::StageJob;

/// Runs `job`'s stage, writing its outputs into `job.out_dir`.
pub fn run_job(job: &StageJob, registry: &Registry, reporter: &dyn Reporter) -> anyhow::Result<()> {
    let stage = registry.get(&job.kind).with_context(|| {
        format!(
            "stage kind `{}` is not built into this pneumo-pipeline",
            job.kind
        )
    })?;
    if stage.version() != job.version {
        bail!(
            "the job of stage `{}` is for {} v{}, this build has v{}: outputs would not match the key; run it with the build that planned it",
            job.name,
            job.kind,
            job.version,
            stage.version()
        );
    }
    fs_err::create_dir_all(&job.out_dir)?;
    let upstreams = job
        .upstreams
        .iter()
        .map(|u| Upstream {
            name: &u.name,
            kind: &u.kind,
            dir: u.dir.clone(),
        })
        .collect();
    let ctx = StageContext {
        name: &job.name,
        workspace: &job.workspace,
        params: &job.params,
        out_dir: &job.out_dir,
        scratch_dir: &job.scratch_dir,
        inputs: &job.inputs,
        upstreams,
        threads: job.threads,
        reporter,
    };
    match job.threads {
        // rayon's work (decoding, hashing) on that many threads; the worker is told too
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .context("starting the stage's threads")?
            .install(|| stage.run(&ctx)),
        None => stage.run(&ctx),
    }
}
