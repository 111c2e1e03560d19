//! Experiments: `exp run` runs a variant in the same workspace and cache (shared stages are
//! not run again) without touching the last run's outputs; `exp show`, `exp diff`,
//! `params diff` and `metrics diff` read what it recorded.

mod common;

use std::fs;

use common::Ws;

/// After `common::DATA_32`.
const CONFIG_REST: &str = "  train:
    kind: train
    needs: [split, preprocess]
    params: {batch_size: 4, eval_every: 1, max_iterations: 2}
  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {bootstrap: 10}
";

fn config() -> String {
    format!("{}{CONFIG_REST}", common::DATA_32)
}

/// Whether a line of `text` is exactly these cells.
fn has_row(text: &str, cells: &[&str]) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == cells)
}

#[test]
fn experiments_run_beside_the_workspace_and_compare() {
    let ws = Ws::generated(&config());
    ws.ok(&["run"]);
    let lock_before = fs::read(ws.path().join("pipeline.lock")).unwrap();
    let link_before = fs::read_link(ws.path().join("build/train")).unwrap();

    let r = ws.ok(&["exp", "run", "--set", "train.lr=0.02", "--name", "fast"]);
    assert_eq!(r.stages("ran"), ["train", "evaluate"], "{}", r.stderr());
    assert!(r.stages("ran").iter().all(|s| s != "preprocess"));
    // the last run's outputs and lock are as they were
    assert_eq!(
        fs::read(ws.path().join("pipeline.lock")).unwrap(),
        lock_before
    );
    assert_eq!(
        fs::read_link(ws.path().join("build/train")).unwrap(),
        link_before
    );

    let q = ws.ok(&[
        "exp",
        "run",
        "-q",
        "-S",
        "train.lr=0.05",
        "-S",
        "evaluate.threshold=youden",
    ]);
    assert_eq!(q.stderr(), "", "-q");
    let show = ws
        .ok(&["exp", "show", "--sort", "evaluate:val:roc_auc"])
        .stdout();
    let lines: Vec<&str> = show.lines().collect();
    assert_eq!(lines.len(), 3, "{show}");
    assert!(lines[0].starts_with("experiment  changes"), "{show}");
    let names: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(
        names.contains(&"fast") && names.contains(&"exp-1"),
        "{show}"
    );
    assert!(
        show.contains("train.lr=0.05 evaluate.threshold=youden"),
        "{show}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ws.ok(&["exp", "show", "--json"]).stdout()).unwrap();
    assert_eq!(json[0]["name"], "fast");
    assert_eq!(json[0]["params"]["train"]["lr"], 0.02);
    assert!(json[1]["metrics"]["evaluate:test:roc_auc"].is_number());
    let csv = ws.ok(&["exp", "show", "--csv"]).stdout();
    assert!(
        csv.starts_with("experiment,changes,evaluate:test:accuracy,"),
        "{csv}"
    );

    let diff = ws.ok(&["exp", "diff", "fast", "exp-1"]).stdout();
    assert!(has_row(&diff, &["train.lr", "0.02", "0.05"]), "{diff}");
    assert!(
        has_row(&diff, &["evaluate.threshold", "0.5", "youden"]),
        "{diff}"
    );
    assert!(diff.contains("evaluate:val:roc_auc"), "{diff}");
    // against the last run: the newest experiment by default, or one by name
    let params = ws.ok(&["params", "diff"]).stdout();
    assert!(has_row(&params, &["train.lr", "0.001", "0.05"]), "{params}");
    let metrics = ws.ok(&["metrics", "diff", "fast"]).stdout();
    assert!(metrics.starts_with("metric "), "{metrics}");
    assert!(
        metrics.contains("workspace") && metrics.contains("fast"),
        "{metrics}"
    );
    let r = ws.run(&["exp", "diff", "fast", "nope"]);
    assert!(
        r.stderr()
            .contains("no experiment `nope` (recorded: fast, exp-1"),
        "{}",
        r.stderr()
    );

    // clean keeps what experiments recorded: running one again runs nothing
    ws.ok(&["clean"]);
    let again = ws.ok(&[
        "exp",
        "run",
        "--set",
        "train.lr=0.02",
        "--name",
        "fast-again",
    ]);
    assert!(again.stages("ran").is_empty(), "{}", again.stderr());
    let r = ws.run(&["exp", "run", "--set", "train.lr=0.02", "--name", "fast"]);
    assert!(
        r.stderr().contains("experiment `fast` exists"),
        "{}",
        r.stderr()
    );
    let r = ws.run(&["exp", "run", "--set", "trian.lr=1"]);
    assert!(
        r.stderr()
            .contains("no stage `trian` (stages: index, split"),
        "{}",
        r.stderr()
    );
    let r = ws.run(&["exp", "run", "--set", "train.optimizer=adam"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(
        r.stderr().contains("invalid value `adam` for `optimizer`"),
        "{}",
        r.stderr()
    );
}

/// `exp show` reads one small file per experiment: 100 of them answer well under a second.
#[test]
fn exp_show_over_a_hundred_experiments_is_quick() {
    let ws = Ws::new(&config());
    let record = |i: usize| {
        serde_json::json!({
            "format": 1, "name": format!("e{i}"), "created": i, "changes": [format!("train.lr={i}")],
            "params": {"train": {"lr": i}}, "keys": {"train": "k"},
            "metrics": {"evaluate:val:roc_auc": (i as f64) / 100.0, "evaluate:val:accuracy": 0.9}
        })
    };
    for i in 0..100 {
        let dir = ws.path().join(format!(".pneumo/exps/e{i}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("exp.json"), record(i).to_string()).unwrap();
    }
    let start = std::time::Instant::now();
    let out = ws
        .ok(&["exp", "show", "--sort", "evaluate:val:roc_auc"])
        .stdout();
    let took = start.elapsed();
    assert_eq!(out.lines().count(), 101);
    assert!(out.lines().nth(1).unwrap().starts_with("e99 "), "{out}");
    assert!(took.as_secs_f64() < 1.0, "{took:?}");
    eprintln!("exp show over 100 experiments: {took:?}");
}

/// The name is taken under the workspace's lock: an `exp run` that finds another run busy
/// (here, a lock this test holds) leaves no experiment folder behind.
#[test]
fn exp_run_refused_by_a_busy_workspace_leaves_nothing() {
    let ws = Ws::new(&config());
    fs::create_dir_all(ws.path().join(".pneumo")).unwrap();
    let held = fs::File::create(ws.path().join(".pneumo/run.lock")).unwrap();
    held.lock().unwrap();
    let r = ws.run(&[
        "exp",
        "run",
        "--no-wait",
        "--set",
        "train.lr=0.02",
        "--name",
        "busy",
    ]);
    assert_ne!(r.code(), 0, "{}", r.stderr());
    assert!(
        r.stderr().contains("another pneumo-pipeline run"),
        "{}",
        r.stderr()
    );
    assert!(!ws.path().join(".pneumo/exps/busy").exists());
    assert!(!ws.path().join(".pneumo/exps").exists());
}
