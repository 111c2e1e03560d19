//! The Slurm executor against a real single-node Slurm (`scripts/slurm.sh up`, which `.ci/run`
//! runs): stages run as batch jobs give the lock of a local run; a driver killed while a job
//! runs reattaches to it when run again (one submission); a job that fails shows its log.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Ws;
use serde_json::Value;

/// After `common::DATA_32`: a short training matrix, its evaluations and their ensemble.
const REST: &str = "  train:
    kind: train
    needs: [split, preprocess]
    matrix: {seed: [0, 1]}
    params: {seed: '${item.seed}', batch_size: 4, eval_every: 1, max_iterations: 3}
  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {bootstrap: 10}
  ensemble:
    kind: ensemble
    needs: [split, evaluate]
    params: {bootstrap: 10}
";

const SLURM: &str = "executor: {kind: slurm, poll: 0.2}\n";

/// Slurm answers, or is brought up by the repository's script (root, Debian packages).
fn slurm_up() {
    let idle = || {
        Command::new("sinfo")
            .args(["-h", "-o", "%t"])
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
    };
    if idle() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm.sh");
    let st = Command::new(script)
        .arg("up")
        .status()
        .expect("run scripts/slurm.sh");
    assert!(
        st.success() && idle(),
        "no Slurm here: `scripts/slurm.sh up` failed"
    );
}

fn config(slurm: bool) -> String {
    let head = if slurm { SLURM } else { "" };
    format!("{head}{}{REST}", common::DATA_32)
}

/// Stage -> (key, outputs with their hashes), without what holds wall times.
fn lock(ws: &Ws) -> BTreeMap<String, (String, Value)> {
    let text = std::fs::read_to_string(ws.path().join("pipeline.lock")).unwrap();
    let v: Value = serde_yaml_ng::from_str(&text).unwrap();
    v["stages"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, s)| {
            let mut outs = s["outs"].clone();
            if let Some(o) = outs.as_object_mut() {
                o.retain(|f, _| {
                    !["summary.json", "history.csv", "runtime.json"].contains(&f.as_str())
                });
            }
            (name.clone(), (s["key"].as_str().unwrap().to_string(), outs))
        })
        .collect()
}

/// Waits until `stage`'s job of workspace `ws` runs on the node; its id.
fn running_job(ws: &Ws, stage: &str) -> String {
    let key_dir = ws.path().join(".pneumo/slurm");
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{stage} never started"
        );
        let running = Command::new("squeue")
            .args(["--me", "-h", "-t", "RUNNING", "-o", "%i|%o"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&running.stdout).to_string();
        let ours = text.lines().find(|l| {
            l.contains(&*key_dir.to_string_lossy()) && {
                let script = l.split('|').nth(1).unwrap_or("");
                std::fs::read_to_string(script)
                    .is_ok_and(|s| s.contains(&format!("stage `{stage}`")))
            }
        });
        if let Some(l) = ours {
            return l.split('|').next().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The state `squeue` gives job `id` (it keeps ended jobs a while), or "" once it is gone.
fn state(id: &str) -> String {
    let o = Command::new("squeue")
        .args(["-h", "-t", "all", "-j", id, "-o", "%T"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn submitted(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("submitted as Slurm job"))
        .map(String::from)
        .collect()
}

#[test]
fn stages_run_as_slurm_jobs_give_the_lock_of_a_local_run() {
    slurm_up();
    let local = Ws::generated(&config(false));
    local.ok(&["run"]);
    let cluster = Ws::generated(&config(true));
    let r = cluster.ok(&["run"]);
    // every built-in stage went through the queue
    let subs = submitted(&r.stderr());
    assert_eq!(subs.len(), 8, "{}", r.stderr());
    // training without `resources: {cpus}` would get one CPU from Slurm and use every core
    assert!(
        r.stderr()
            .contains("stage `train@seed=0` declares no `resources: {cpus: N}`"),
        "{}",
        r.stderr()
    );
    assert_eq!(lock(&cluster), lock(&local));
    // the run's folders are gone once committed, and a second run has nothing to do
    let left = std::fs::read_dir(cluster.path().join(".pneumo/slurm"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
    let again = cluster.ok(&["run"]);
    assert!(submitted(&again.stderr()).is_empty());
    assert_eq!(again.stages("fresh").len(), 8);
}

#[test]
fn a_killed_driver_reattaches_to_its_running_job_instead_of_submitting_again() {
    slurm_up();
    let ws = Ws::generated(&config(true).replace("max_iterations: 3", "max_iterations: 400"));
    let mut driver = ws
        .cmd(&["run", "train@seed=0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let train_job = running_job(&ws, "train@seed=0");
    driver.kill().unwrap(); // SIGKILL: no chance to cancel anything
    driver.wait().unwrap();
    let status = ws.ok(&["status", "train@seed=0"]).stdout();
    assert!(
        status.contains(&format!("Slurm job {train_job} is running")),
        "{status}"
    );
    let again = ws.ok(&["run", "train@seed=0"]);
    let err = again.stderr();
    assert!(
        err.contains(&format!(
            "train@seed=0: reattached to Slurm job {train_job}"
        )),
        "{err}"
    );
    assert!(submitted(&err).is_empty(), "{err}");
    assert_eq!(again.stages("ran"), ["train@seed=0"]);
    assert!(
        ws.path()
            .join("build/train@seed=0/best.safetensors")
            .exists()
    );
}

#[test]
fn a_failing_job_shows_its_log_and_script() {
    slurm_up();
    let ws = Ws::generated(&config(true));
    // the job inherits the driver's environment (sbatch's default): its worker cannot start
    let r = ws
        .cmd(&["run", "train@seed=0"])
        .env("PNEUMO_TORCH", "/nonexistent/pneumo-torch")
        .output()
        .unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("stage `train@seed=0` failed as Slurm job"),
        "{err}"
    );
    assert!(err.contains("exit code 1"), "{err}");
    assert!(err.contains("job.sh"), "{err}");
    assert!(
        err.contains("last ") && err.contains("/nonexistent/pneumo-torch"),
        "{err}"
    );
    // the failed run's log and script stay for a look; its outputs do not
    let runs: Vec<_> = std::fs::read_dir(ws.path().join(".pneumo/slurm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].join("log").exists() && runs[0].join("job.sh").exists());
    assert!(!runs[0].join("run").exists());
}

#[test]
fn ctrl_c_cancels_the_jobs_the_driver_waits_for() {
    slurm_up();
    let ws = Ws::generated(&config(true).replace("max_iterations: 3", "max_iterations: 400"));
    let driver = ws
        .cmd(&["run", "train@seed=1"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let id = running_job(&ws, "train@seed=1");
    let st = Command::new("kill")
        .args(["-INT", &driver.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cancelled Slurm jobs {id}")), "{err}");
    let start = Instant::now();
    while !matches!(state(&id).as_str(), "CANCELLED" | "") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "job {id}: {}",
            state(&id)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_bad_executor_or_resources_entry_is_a_config_error_at_its_line() {
    let ws = Ws::generated(&format!(
        "executor: {{kind: slurmm, poll: 0}}\n{}{REST}",
        common::DATA_32
    ));
    ws.edit_config(
        "    matrix: {seed: [0, 1]}\n",
        "    matrix: {seed: [0, 1]}\n    resources: {mem: 8GB, time: '1:x'}\n",
    );
    let r = ws.run(&["status"]);
    assert_eq!(r.code(), 2);
    let err = r.stderr();
    for (msg, line) in [
        ("unknown executor `slurmm`", ":1:"),
        ("invalid value `0` for `poll`", ":1:"),
        ("invalid value `8GB` for `mem`", ":16:"),
        ("invalid value `1:x` for `time`", ":16:"),
    ] {
        let lines: Vec<&str> = err.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.contains(msg))
            .unwrap_or_else(|| panic!("{msg}: {err}"));
        assert!(lines[i + 1].contains(line), "{msg} at {line}: {err}");
    }
}
