//! The whole pipeline on real data at 64 px: train -> evaluate -> gradcam -> charts -> report,
//! the keys between them, and `predict` on files.

mod common;

use std::fs;

use common::Ws;
use serde_json::Value;

const CONFIG: &str = "\
stages:
  index:
    kind: index
  split:
    kind: split
    needs: [index]
  preprocess:
    kind: preprocess
    needs: [index]
    params: {size: 64}
  train:
    kind: train
    needs: [split, preprocess]
    params: {batch_size: 16, eval_every: 4, max_iterations: 8, patience: 5, seed: 3}
  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {threshold: youden, bootstrap: 300}
  gradcam:
    kind: gradcam
    needs: [split, preprocess, evaluate]
    params: {per_outcome: 2, deletion_images: 6, deletion_steps: 8}
  charts:
    kind: charts
    needs: [train, evaluate, gradcam]
    params: {width: 640, height: 400}
  report:
    kind: report
    needs: [index, split, preprocess, train, evaluate, gradcam, charts]
    out: reports
";

/// Floats rounded to 3 decimals, so snapshots survive last-digit noise.
fn rounded(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            serde_json::json!((x * 1000.0).round() / 1000.0)
        }
        Value::Array(a) => Value::Array(a.iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), rounded(v))).collect()),
        other => other.clone(),
    }
}

fn json(ws: &Ws, rel: &str) -> Value {
    serde_json::from_slice(&fs::read(ws.path().join(rel)).unwrap()).unwrap()
}

#[test]
fn pipeline_from_training_to_report_and_predict() {
    let ws = Ws::linked(CONFIG, &common::kermany_dev());
    let first = ws.ok(&["run"]);
    assert_eq!(
        first.stages("ran"),
        [
            "index",
            "split",
            "preprocess",
            "train",
            "evaluate",
            "gradcam",
            "charts",
            "report"
        ],
        "{}",
        first.stderr()
    );

    // evaluate: metrics with intervals, predictions for every val and test image
    let metrics = json(&ws, "build/evaluate/metrics.json");
    insta::assert_json_snapshot!("metrics_64px_writeup", rounded(&metrics));
    let val = &metrics["roles"]["val"];
    let (tp, fp, tn, fn_) = (
        val["tp"].as_u64().unwrap(),
        val["fp"].as_u64().unwrap(),
        val["tn"].as_u64().unwrap(),
        val["fn"].as_u64().unwrap(),
    );
    assert_eq!(tp + fp + tn + fn_, 624);
    // the four write-up metrics follow from the confusion matrix
    let acc = (tp + tn) as f64 / 624.0;
    assert!((val["accuracy"].as_f64().unwrap() - acc).abs() < 1e-12);
    for key in ["accuracy", "recall", "specificity", "npv", "precision"] {
        let ci = val["ci"][key].as_array().unwrap();
        let v = val[key].as_f64().unwrap();
        assert!(
            ci[0].as_f64().unwrap() <= v && v <= ci[1].as_f64().unwrap(),
            "{key}"
        );
    }
    let csv = fs::read_to_string(ws.path().join("build/evaluate/predictions.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "file,role,patient,label,subtype,probability,prediction,outcome"
    );
    assert_eq!(csv.lines().count(), 1 + 624 + 16);
    let card = json(&ws, "build/evaluate/model/model.json");
    assert_eq!(card["threshold"], metrics["threshold"]["value"]);

    // gradcam: overlays named by outcome, shares summing to one, a deletion curve
    let g = json(&ws, "build/gradcam/gradcam.json");
    assert_eq!(g["images"], 16);
    for o in g["overlays"].as_array().unwrap() {
        let file = o["file"].as_str().unwrap();
        assert!(file.starts_with(&format!("gradcam/{}-", o["outcome"].as_str().unwrap())));
        let img = image::open(ws.path().join("build/gradcam").join(file)).unwrap();
        assert_eq!((img.width(), img.height()), (128, 64));
    }
    for (_, r) in g["by_outcome"].as_object().unwrap() {
        let s = &r["shares"];
        let total: f64 = ["upper_left", "upper_right", "lower_left", "lower_right"]
            .iter()
            .map(|k| s[*k].as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
    }
    let deletion = fs::read_to_string(ws.path().join("build/gradcam/deletion.csv")).unwrap();
    assert_eq!(deletion.lines().count(), 1 + 9);

    // charts: every figure is a real PNG of the asked size
    let charts = json(&ws, "build/charts/charts.json");
    let names: Vec<&str> = charts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "training-loss",
            "training-metrics",
            "roc",
            "pr",
            "reliability",
            "confusion",
            "mean-cam",
            "deletion"
        ]
    );
    let roc = image::open(ws.path().join("build/charts/roc.png")).unwrap();
    assert_eq!((roc.width(), roc.height()), (640, 400));
    assert!(
        fs::read_to_string(ws.path().join("build/charts/roc.svg"))
            .unwrap()
            .contains("<svg")
    );

    // report: Markdown snapshot (timings redacted), HTML self-contained
    let md = fs::read_to_string(ws.path().join("reports/report.md")).unwrap();
    let stable: String = md
        .lines()
        .map(|l| match l.find(" iterations in ") {
            Some(i) => {
                let rest = &l[i + " iterations in ".len()..];
                let after = rest.find(" s ").map_or("", |j| &rest[j..]);
                format!("{} iterations in [seconds]{after}", &l[..i])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("report_64px_writeup", stable);
    // every Markdown table row has as many cells as its header
    let mut width = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            width = None;
            continue;
        }
        let cells = line.replace("\\|", "").matches('|').count();
        match width {
            None => width = Some(cells),
            Some(w) => assert_eq!(cells, w, "ragged table row: {line}"),
        }
    }
    let html = fs::read_to_string(ws.path().join("reports/report.html")).unwrap();
    assert!(html.contains("data:image/png;base64,"));
    assert!(!html.contains("src=\"images/"), "every image is embedded");
    for f in md
        .lines()
        .filter_map(|l| l.strip_prefix("!["))
        .filter_map(|l| l.split("](").nth(1))
    {
        let file = f.trim_end_matches(')');
        assert!(ws.path().join("reports").join(file).exists(), "{file}");
    }

    // keys: nothing re-runs; a chart param re-renders charts and report; the threshold rule
    // re-runs evaluate and what reads it, never training
    assert!(ws.ok(&["run"]).stages("ran").is_empty());
    ws.edit_config("width: 640", "width: 700");
    assert_eq!(ws.ok(&["run"]).stages("ran"), ["charts", "report"]);
    ws.edit_config("threshold: youden", "threshold: {sensitivity: 0.9}");
    assert_eq!(
        ws.ok(&["run"]).stages("ran"),
        ["evaluate", "gradcam", "charts", "report"]
    );

    // predict: the model from evaluate, one line per file, a clear error for a bad one
    let data = common::kermany_dev();
    let normal = data.join("val/NORMAL/NORMAL2-IM-1427-0001.jpeg");
    let sick = data.join("val/PNEUMONIA/person1946_bacteria_4874.jpeg");
    let bad = ws.path().join("broken.jpeg");
    fs::write(&bad, b"not a jpeg").unwrap();
    let heat = ws.path().join("heat");
    let out = ws
        .cmd(&[
            "predict",
            normal.to_str().unwrap(),
            bad.to_str().unwrap(),
            sick.to_str().unwrap(),
            "--heatmap",
            heat.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("NORMAL2-IM-1427-0001.jpeg\t"), "{stdout}");
    assert!(
        stderr.contains("broken.jpeg: not a usable image"),
        "{stderr}"
    );
    assert!(heat.join("person1946_bacteria_4874-gradcam.png").exists());
    // a full-size original (2 to 4 Mpx grayscale JPEG) goes through the same decode and resize
    let original = common::shared("data/kermany-fullres/PNEUMONIA/person1501_virus_2611.jpeg");
    let out = ws
        .cmd(&[
            "predict",
            "--json",
            sick.to_str().unwrap(),
            original.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v[1]["probability"]
            .as_f64()
            .is_some_and(|p| (0.0..=1.0).contains(&p)),
        "{v}"
    );
    let p = v[0]["probability"].as_f64().unwrap();
    let expected = if p >= card_threshold(&ws) {
        "PNEUMONIA"
    } else {
        "NORMAL"
    };
    assert_eq!(v[0]["label"], expected);
    // the probability is the one evaluate computed for the same cached image
    let line = fs::read_to_string(ws.path().join("build/evaluate/predictions.csv"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("val/PNEUMONIA/person1946_bacteria_4874.jpeg,"))
        .map(str::to_string)
        .unwrap();
    let evaluated: f64 = line.split(',').nth(5).unwrap().parse().unwrap();
    assert!((p - evaluated).abs() < 1e-3, "{p} vs {evaluated}");
}

fn card_threshold(ws: &Ws) -> f64 {
    json(ws, "build/evaluate/model/model.json")["threshold"]
        .as_f64()
        .unwrap()
}

/// The shipped example config is valid and draws the full graph.
#[test]
fn patient_protocol_example_is_a_valid_pipeline() {
    let example = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/patient-protocol.yaml"
    ))
    .unwrap();
    let ws = Ws::new(&example);
    let dag = ws.ok(&["dag"]).stdout();
    for stage in [
        "index",
        "split",
        "preprocess",
        "train",
        "evaluate",
        "gradcam",
        "charts",
        "report",
    ] {
        assert!(dag.contains(stage), "{dag}");
    }
}
