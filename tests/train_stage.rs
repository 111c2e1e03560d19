//! The train stage on real data at a small size: it runs the pneumo-torch worker, writes its
//! outputs, is deterministic on the CPU, and is keyed like every stage.

mod common;

use std::fs;

use common::Ws;

use common::TRAIN_64 as CONFIG;

fn workspace() -> Ws {
    let ws = Ws::linked(CONFIG, &common::kermany_dev());
    let worker = std::path::Path::new(common::BIN).with_file_name("pneumo-torch");
    assert!(
        worker.exists(),
        "{} is missing: run the workspace's tests (cargo test --workspace)",
        worker.display()
    );
    ws
}

#[test]
fn train_stage_writes_history_checkpoints_and_is_deterministic() {
    let a = workspace();
    let r = a.ok(&["run"]);
    assert!(
        r.stages("ran").contains(&"train".to_string()),
        "{}",
        r.stderr()
    );
    let out = a.path().join("build/train");
    let history = fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "{history}"); // header + evaluations at 4 and 8
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["iterations"], 8);
    assert_eq!(summary["stop_reason"], "reached the iteration budget (8)");
    let card: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(card["input_side"], 64);
    assert_eq!(card["threshold"], 0.5);
    // the checkpoint holds every torchvision tensor name, readable without libtorch
    let bytes = fs::read(out.join("best.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("fc.weight").unwrap().shape(), [1, 512]);
    assert_eq!(
        st.tensor("layer4.1.bn2.running_var").unwrap().shape(),
        [512]
    );

    let b = workspace();
    b.ok(&["run"]);
    let again = fs::read_to_string(b.path().join("build/train/history.csv")).unwrap();
    assert_eq!(
        strip_seconds(&history),
        strip_seconds(&again),
        "two CPU runs with one seed must agree (seconds aside)"
    );
    for file in ["best.safetensors", "latest.safetensors", "runtime.json"] {
        assert!(
            fs::read(out.join(file)).unwrap()
                == fs::read(b.path().join("build/train").join(file)).unwrap(),
            "{file}: two runs on one machine must be byte-identical"
        );
    }

    let second = a.ok(&["run"]);
    assert!(second.stages("ran").is_empty());
    a.edit_config("seed: 3", "seed: 4");
    let third = a.ok(&["run"]);
    assert_eq!(third.stages("ran"), ["train"]);
}

fn strip_seconds(h: &str) -> Vec<String> {
    h.lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(k, _)| k).to_string())
        .collect()
}

/// The careful options (AdamW, one-cycle, balanced sampler, augmentation, AUC monitor,
/// pos_weight) through a crash and a resume: the resumed run ends exactly where an
/// uninterrupted one does.
#[test]
fn crashed_training_resumes_from_its_checkpoint_and_matches_an_uninterrupted_run() {
    let careful = "params: {batch_size: 16, eval_every: 2, max_iterations: 8, patience: 50, seed: 3, \
        optimizer: adamw, lr: 0.0003, weight_decay: 0.01, schedule: onecycle, sampler: balanced, \
        monitor: auc, pos_weight: 0.5, augment: {rotate: 7, scale: 0.1, shift: 0.05, brightness: 0.1, contrast: 0.1}}";
    let whole = workspace();
    whole.edit_config(
        "params: {batch_size: 16, eval_every: 4, max_iterations: 8, patience: 5, seed: 3}",
        careful,
    );
    whole.ok(&["run"]);

    let crashed = workspace();
    crashed.edit_config(
        "params: {batch_size: 16, eval_every: 4, max_iterations: 8, patience: 5, seed: 3}",
        careful,
    );
    let out = crashed
        .cmd(&["run"])
        .env("PNEUMO_TORCH_CRASH_AFTER_ITERATION", "5")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the worker was told to abort");
    let ckpts: Vec<String> = fs::read_dir(crashed.path().join(".pneumo/scratch"))
        .unwrap()
        .flatten()
        .flat_map(|d| fs::read_dir(d.path()).unwrap().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ckpt-"))
        .collect();
    assert_eq!(ckpts, ["ckpt-4"], "evaluations at 2 and 4, the newest kept");

    let r = crashed.ok(&["run"]);
    assert!(
        r.stderr()
            .contains("resuming from the checkpoint at iteration 4"),
        "{}",
        r.stderr()
    );
    let read = |ws: &Ws, f: &str| fs::read(ws.path().join("build/train").join(f)).unwrap();
    let history = String::from_utf8(read(&whole, "history.csv")).unwrap();
    assert_eq!(history.lines().count(), 5, "{history}");
    assert_eq!(
        strip_seconds(&history),
        strip_seconds(&String::from_utf8(read(&crashed, "history.csv")).unwrap())
    );
    assert!(read(&whole, "best.safetensors") == read(&crashed, "best.safetensors"));
    assert!(read(&whole, "latest.safetensors") == read(&crashed, "latest.safetensors"));
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&crashed, "summary.json")).unwrap();
    assert_eq!(summary["resumed_from"], 4);
    assert_eq!(summary["monitor"], "auc");
    // a success leaves no checkpoints behind
    assert_eq!(
        fs::read_dir(crashed.path().join(".pneumo/scratch"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn kill_9_during_training_stops_the_worker_and_run_again_trains() {
    let ws = workspace();
    ws.edit_config("max_iterations: 8", "max_iterations: 100000");
    ws.edit_config("patience: 5", "patience: 100000");
    ws.edit_config("eval_every: 4", "eval_every: 1");
    // the worker inherits this file as its stderr and outlives the killed run for a moment
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = ws
        .cmd(&["run"])
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    // wait until the worker is training (it has written its first checkpoint)
    let scratch = ws.path().join(".pneumo/scratch");
    loop {
        let training = fs::read_dir(&scratch)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                fs::read_dir(e.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|c| c.file_name().to_string_lossy().starts_with("ckpt-"))
            });
        if training {
            break;
        }
        assert!(start.elapsed().as_secs() < 120, "training never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // the orphaned worker notices and exits: no process keeps the workspace's temp folder open
    let gone = std::time::Instant::now();
    loop {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &format!("pneumo-torch exec {}/", ws.path().display())])
            .output()
            .unwrap();
        if out.stdout.is_empty() {
            break;
        }
        assert!(gone.elapsed().as_secs() < 10, "the worker outlived its run");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let said = fs::read_to_string(stderr.path()).unwrap();
    assert!(
        said.contains("the pipeline run that started this worker is gone"),
        "{said}"
    );
    assert!(
        !said.contains("INTERNAL ASSERT"),
        "the dying worker must exit quietly: {said}"
    );
    // the same params resume from the checkpoint; other params start over
    ws.edit_config("max_iterations: 100000", "max_iterations: 8");
    ws.edit_config("eval_every: 1", "eval_every: 4");
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["train"]);
    assert!(!r.stderr().contains("resuming"), "{}", r.stderr());
    assert!(ws.path().join("build/train/history.csv").exists());
}

fn summary(ws: &Ws) -> serde_json::Value {
    serde_json::from_slice(&fs::read(ws.path().join("build/train/summary.json")).unwrap()).unwrap()
}

/// `monitor_from_epoch`: evaluations before it are recorded but neither kept nor counted
/// against `patience`, so a run with patience 1 cannot stop (or keep a checkpoint) before it.
/// The write-up split's 2,214 train images in batches of 16 are 138 iterations an epoch:
/// 0.05 epochs start at iteration 7, so the first evaluation that counts is at 8.
#[test]
fn monitor_from_epoch_delays_the_best_checkpoint_and_early_stopping() {
    let ws = workspace();
    let eager = "params: {batch_size: 16, eval_every: 2, max_iterations: 12, patience: 1, seed: 3}";
    ws.edit_config(
        "params: {batch_size: 16, eval_every: 4, max_iterations: 8, patience: 5, seed: 3}",
        eager,
    );
    ws.ok(&["run"]);
    let plain = summary(&ws);
    ws.edit_config("seed: 3}", "seed: 3, monitor_from_epoch: 0.05}");
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["train"], "{}", r.stderr());
    let late = summary(&ws);
    let kept = late["best"]["iteration"].as_u64().unwrap();
    let ran = late["iterations"].as_u64().unwrap();
    assert!(
        kept >= 8,
        "kept iteration {kept}, before the monitored part"
    );
    assert!(
        ran >= 10,
        "stopped at {ran}: patience counted before iteration 7"
    );
    let history = fs::read_to_string(ws.path().join("build/train/history.csv")).unwrap();
    assert_eq!(
        history.lines().count() as u64,
        ran / 2 + 1,
        "every evaluation recorded: {history}"
    );
    // with patience 1 the unmonitored run stopped or kept earlier: the option did something
    assert!(
        plain["iterations"].as_u64().unwrap() < 10
            || plain["best"]["iteration"].as_u64().unwrap() < 8,
        "{plain}"
    );
    ws.edit_config("monitor_from_epoch: 0.05", "monitor_from_epoch: -1");
    let r = ws.run(&["run"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(
        r.stderr().contains("`monitor_from_epoch`"),
        "{}",
        r.stderr()
    );
}
