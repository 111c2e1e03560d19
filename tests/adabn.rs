//! evaluate's `adabn`: transductive scoring, off by default. With it on, the scores change,
//! metrics.json, the model card and the report say the figures are transductive, and
//! `predict` says it cannot repeat it.

mod common;

use std::fs;

use common::Ws;
use serde_json::Value;

fn config(extra: &str) -> String {
    format!(
        "{}  train:
    kind: train
    needs: [split, preprocess]
    params: {{batch_size: 4, eval_every: 1, max_iterations: 3}}
  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {{bootstrap: 20{extra}}}
  ensemble:
    kind: ensemble
    needs: [split, evaluate]
    params: {{bootstrap: 20}}
",
        common::DATA_32
    )
}

fn json(ws: &Ws, rel: &str) -> Value {
    serde_json::from_slice(&fs::read(ws.path().join(rel)).unwrap()).unwrap()
}

fn probabilities(ws: &Ws) -> Vec<String> {
    fs::read_to_string(ws.path().join("build/evaluate/predictions.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(5).unwrap().to_string())
        .collect()
}

#[test]
fn adabn_is_marked_transductive_everywhere_and_changes_the_scores() {
    let ws = Ws::generated(&config(""));
    ws.ok(&["run"]);
    let plain = probabilities(&ws);
    for stage in ["evaluate", "ensemble"] {
        let metrics = json(&ws, &format!("build/{stage}/metrics.json"));
        assert!(metrics.get("transductive").is_none(), "{stage}: {metrics}");
    }

    // written out at its default, adabn changes no key
    ws.set_config(&config(", adabn: false"));
    let r = ws.ok(&["run"]);
    assert!(r.stages("ran").is_empty(), "{}", r.stderr());

    ws.set_config(&config(", adabn: true"));
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["evaluate", "ensemble"], "{}", r.stderr());
    assert_ne!(probabilities(&ws), plain, "AdaBN changed no probability");
    let metrics = json(&ws, "build/evaluate/metrics.json");
    assert!(
        metrics["transductive"]
            .as_str()
            .is_some_and(|t| t.starts_with("AdaBN") && t.contains("transductive")),
        "{metrics}"
    );
    assert_eq!(json(&ws, "build/evaluate/model/model.json")["adabn"], true);
    // an ensemble over transductive scores is transductive, and says which member made it so
    let combined = json(&ws, "build/ensemble/metrics.json");
    assert!(
        combined["transductive"]
            .as_str()
            .is_some_and(|t| t.contains("(evaluate)") && t.contains("transductive")),
        "{combined}"
    );

    let film = ws
        .path()
        .join("data/chest_xray/val/PNEUMONIA/person100_bacteria_100.jpeg");
    let out = ws
        .cmd(&["predict", film.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("evaluated with AdaBN") && stderr.contains("training statistics"),
        "{stderr}"
    );
}
