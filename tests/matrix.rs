//! Matrix stages: expansion and naming, followers, combining, errors pointing into the
//! matrix, and a changed value re-running only its member.

mod common;

use common::Ws;

/// After `common::DATA_32`.
const MATRIX_REST: &str = "  train:
    kind: train
    needs: [split, preprocess]
    matrix:
      seed: [0, 1]
      lr: [0.01]
    params: {seed: '${item.seed}', lr: '${item.lr}', batch_size: 4, eval_every: 1, max_iterations: 2}
  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {bootstrap: 10}
  ensemble:
    kind: ensemble
    needs: [split, evaluate]
    params: {bootstrap: 10}
  solo:
    kind: ensemble
    needs: [split, 'evaluate@seed=0,lr=0.01']
    params: {bootstrap: 10}
";

fn matrix() -> String {
    format!("{}{MATRIX_REST}", common::DATA_32)
}

#[test]
fn a_matrix_expands_into_named_members_and_followers_follow_it() {
    let ws = Ws::generated(&matrix());
    let dag = ws.ok(&["dag"]).stdout();
    for member in [
        "train@seed=0,lr=0.01",
        "train@seed=1,lr=0.01",
        "evaluate@seed=0,lr=0.01",
        "evaluate@seed=1,lr=0.01",
    ] {
        assert!(dag.contains(member), "{member} in\n{dag}");
    }
    let first = ws.ok(&["run"]);
    assert_eq!(
        first.stages("ran"),
        [
            "index",
            "split",
            "preprocess",
            "train@seed=0,lr=0.01",
            "train@seed=1,lr=0.01",
            "evaluate@seed=0,lr=0.01",
            "evaluate@seed=1,lr=0.01",
            "ensemble",
            "solo"
        ],
        "{}",
        first.stderr()
    );
    // the ensemble combines every member; an ensemble of one is that member
    let members: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path().join("build/ensemble/members.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        members["members"],
        serde_json::json!(["evaluate@seed=0,lr=0.01", "evaluate@seed=1,lr=0.01"])
    );
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(ws.path().join(p)).unwrap()).unwrap()
    };
    let (one, member) = (
        read("build/solo/metrics.json"),
        read("build/evaluate@seed=0,lr=0.01/metrics.json"),
    );
    assert_eq!(one["roles"], member["roles"]);
    assert_eq!(one["threshold"], member["threshold"]);
    assert_eq!(one["checkpoint"], "ensemble of 1 (mean probability)");
    let summary = std::fs::read_to_string(ws.path().join("build/ensemble/summary.md")).unwrap();
    assert!(summary.contains("| mean ± SD (2 members) |"), "{summary}");
    assert!(
        summary.contains("| ensemble (mean probability) |"),
        "{summary}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("build/solo/predictions.csv")).unwrap(),
        std::fs::read_to_string(
            ws.path()
                .join("build/evaluate@seed=0,lr=0.01/predictions.csv")
        )
        .unwrap()
    );
    // each member has its own params and output; the follower reads its own member
    let lock = pneumo_pipeline::pipeline::lockfile::load(ws.path()).unwrap();
    let t1 = &lock.stages["train@seed=1,lr=0.01"];
    assert_eq!(t1.params["seed"], 1);
    assert_eq!(t1.params["lr"], 0.01);
    let e1 = &lock.stages["evaluate@seed=1,lr=0.01"];
    assert_eq!(e1.upstream["train@seed=1,lr=0.01"], t1.key);
    assert!(
        ws.path()
            .join("build/train@seed=0,lr=0.01/best.safetensors")
            .exists()
    );

    // a new value runs only its own members; the others stay
    ws.edit_config("seed: [0, 1]", "seed: [0, 2]");
    let second = ws.ok(&["run"]);
    assert_eq!(
        second.stages("ran"),
        [
            "train@seed=2,lr=0.01",
            "evaluate@seed=2,lr=0.01",
            "ensemble"
        ],
        "{}",
        second.stderr()
    );
    assert!(
        second
            .stages("fresh")
            .contains(&"train@seed=0,lr=0.01".to_string())
    );
}

#[test]
fn matrix_mistakes_are_reported_in_the_matrix_entry() {
    let ws = Ws::generated(
        &matrix()
            .replace("lr: [0.01]", "lr: [0.01]\n      unused: [1, 2]")
            .replace("'${item.lr}'", "'${item.rate}'"),
    );
    let r = ws.run(&["status"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    let err = r.stderr();
    assert!(
        err.contains("`${item.rate}` names no matrix key (the matrix has lr, seed, unused)"),
        "{err}"
    );
    assert!(
        err.contains("matrix key `unused` is not used in `params`"),
        "{err}"
    );
    // located at the matrix's own lines
    assert!(err.contains("pipeline.yaml:17:7"), "{err}");

    let two = matrix().replace(
        "    params: {size: 32}",
        "    matrix: {size: [32, 40]}\n    params: {size: '${item.size}'}",
    );
    let r = Ws::generated(&two).run(&["status"]);
    assert_eq!(r.code(), 2);
    assert!(
        r.stderr().contains(
            "stage `train` has its own `matrix` and needs `preprocess`, which has one too"
        ),
        "{}",
        r.stderr()
    );
}

#[test]
fn run_j_over_a_matrix_writes_what_a_sequential_run_writes() {
    let config = matrix()
        .replace("seed: [0, 1]", "seed: [0, 1, 2]")
        .replace(
            "    params: {seed: '${item.seed}'",
            "    resources: {cpus: 1}\n    params: {seed: '${item.seed}'",
        )
        .replace(
            "    needs: [split, preprocess, train]\n",
            "    needs: [split, preprocess, train]\n    resources: {cpus: 1}\n",
        );
    let (seq, par) = (Ws::generated(&config), Ws::generated(&config));
    seq.ok(&["run"]);
    let r = par.ok(&["run", "-j", "4"]);
    assert_eq!(r.stages("ran").len(), 3 + 3 + 3 + 2, "{}", r.stderr());
    let (a, b) = (
        pneumo_pipeline::pipeline::lockfile::load(seq.path()).unwrap(),
        pneumo_pipeline::pipeline::lockfile::load(par.path()).unwrap(),
    );
    assert_eq!(
        a.stages.keys().collect::<Vec<_>>(),
        b.stages.keys().collect::<Vec<_>>()
    );
    for (name, s) in &a.stages {
        let t = &b.stages[name];
        assert_eq!(s.key, t.key, "{name}");
        for (file, meta) in &s.outs {
            // wall times differ; everything computed is the same
            if !(file.ends_with("summary.json") || file.ends_with("history.csv")) {
                assert_eq!(meta, &t.outs[file], "{name}: {file}");
            }
        }
    }
    // every entry the lock names is in the cache, and nothing is re-run
    assert!(par.ok(&["run", "-j", "4"]).stages("ran").is_empty());
    let bad = Ws::generated(&config.replace("cpus: 1}\n    params", "cpus: 0}\n    params"));
    let r = bad.run(&["status"]);
    assert_eq!(r.code(), 2);
    assert!(
        r.stderr().contains("invalid value `0` for `cpus`"),
        "{}",
        r.stderr()
    );
}
