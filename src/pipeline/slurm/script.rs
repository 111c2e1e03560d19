//! The batch script of one stage run: `#SBATCH` lines from the stage's resources, then
//! `pneumo-pipeline exec-stage JOB.json`, then the exit code written to a file beside it. The
//! driver trusts that file and the outputs, never the scheduler's state alone (as Nextflow's
//! `.command.run` and `.exitcode` do).

use std::fmt::Write as _;
use std::path::Path;

use crate::pipeline::decl::Resources;

/// Exit code of a job that cannot see the workspace.
pub const NO_WORKSPACE: i32 = 97;

/// A path for `sh`, in single quotes.
pub fn quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

/// Everything the script is made of.
pub struct Script<'a> {
    pub job_name: &'a str,
    pub stage: &'a str,
    pub key: &'a str,
    pub workspace: &'a Path,
    pub exe: &'a Path,
    pub job_file: &'a Path,
    pub log: &'a Path,
    pub exit_file: &'a Path,
    pub resources: &'a Resources,
    pub extra: &'a [String],
}

impl Script<'_> {
    pub fn render(&self) -> String {
        let r = self.resources;
        let mut s = String::from("#!/bin/sh\n");
        let mut opt = |line: String| {
            let _ = writeln!(s, "#SBATCH {line}");
        };
        opt(format!("--job-name={}", self.job_name));
        opt(format!("--output={}", self.log.display()));
        if let Some(c) = r.cpus {
            opt(format!("--cpus-per-task={c}"));
        }
        if let Some(m) = &r.mem {
            opt(format!("--mem={m}"));
        }
        if let Some(g) = r.gpus.filter(|g| *g > 0) {
            opt(format!("--gres=gpu:{g}"));
        }
        if let Some(t) = &r.time {
            opt(format!("--time={t}"));
        }
        if let Some(p) = &r.partition {
            opt(format!("--partition={p}"));
        }
        for a in self.extra {
            opt(a.clone());
        }
        let ws = quote(self.workspace);
        let exit = quote(self.exit_file);
        let _ = write!(
            s,
            "# stage `{stage}`, key {key}; written by pneumo-pipeline's Slurm executor\n\
             if ! cd {ws} 2>/dev/null; then\n\
             \x20   echo \"pneumo-pipeline: the workspace {ws} is not visible on $(hostname): the Slurm executor needs the workspace and its cache on a filesystem the nodes share\" >&2\n\
             \x20   exit {NO_WORKSPACE}\n\
             fi\n\
             {exe} exec-stage {job} -q\n\
             rc=$?\n\
             echo $rc > {exit}.tmp && mv {exit}.tmp {exit}\n\
             exit $rc\n",
            stage = self.stage,
            key = self.key,
            exe = quote(self.exe),
            job = quote(self.job_file),
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn resources_become_sbatch_lines_and_paths_are_quoted() {
        let r = Resources {
            cpus: Some(4),
            mem: Some("8G".into()),
            gpus: Some(1),
            time: Some("02:00:00".into()),
            partition: Some("gpu".into()),
        };
        let ws = PathBuf::from("/w/it's here");
        let s = Script {
            job_name: "pneumo-abc",
            stage: "train@seed=0",
            key: "abc",
            workspace: &ws,
            exe: Path::new("/bin/pneumo-pipeline"),
            job_file: Path::new("/w/job.json"),
            log: Path::new("/w/log"),
            exit_file: Path::new("/w/exitcode"),
            resources: &r,
            extra: &["--qos=short".into()],
        }
        .render();
        for line in [
            "#SBATCH --job-name=pneumo-abc",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=8G",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --time=02:00:00",
            "#SBATCH --partition=gpu",
            "#SBATCH --qos=short",
            "cd '/w/it'\\''s here'",
            "'/bin/pneumo-pipeline' exec-stage '/w/job.json' -q",
        ] {
            assert!(s.contains(line), "{line} not in\n{s}");
        }
        // nothing but #SBATCH lines before the first command
        let first_cmd = s.lines().position(|l| !l.starts_with('#')).unwrap();
        assert!(s.lines().take(first_cmd).all(|l| l.starts_with('#')));
    }
}
