//! Evaluate's operating-point options, after the pipeline of `full_pipeline.rs` has run in
//! `ws` with `threshold: {sensitivity: 0.9}`: Platt recalibration and a cost-based threshold,
//! the threshold's fragility in metrics.json and the report, then test-time augmentation.
//! Leaves all three on, so `predict::checks` afterwards holds predict to evaluate with them.

use super::*;

pub fn checks(ws: &Ws) {
    // Platt recalibration on validation and a cost-based threshold: arithmetic on the costs
    // (odds 1/3: 0.25 on the calibrated scale), never read off the scores' tails; the AUC is
    // unchanged (monotone map), the card carries the map, and `predict` below applies it
    let before = json(ws, "results/eval/metrics.json");
    ws.edit_config(
        "threshold: {sensitivity: 0.9}",
        "threshold: {cost: {fn: 3, fp: 1}}, calibration: platt",
    );
    assert_eq!(
        ws.ok(&["run"]).stages("ran"),
        ["evaluate", "gradcam", "charts", "calibrate", "report"]
    );
    let m = json(ws, "results/eval/metrics.json");
    assert!((m["threshold"]["value"].as_f64().unwrap() - 0.25).abs() < 1e-12);
    assert_eq!(m["calibration"]["method"], "platt");
    let auc = |v: &Value| v["roles"]["val"]["roc_auc"].as_f64().unwrap();
    assert!((auc(&m) - auc(&before)).abs() < 1e-9);
    let f = &m["threshold"]["fragility"];
    let (lo, hi) = (f["low"].as_f64().unwrap(), f["high"].as_f64().unwrap());
    assert!(lo < 0.25 && 0.25 <= hi, "{f}");
    assert_eq!(
        json(ws, "results/eval/model/model.json")["calibration"],
        m["calibration"]
    );
    let md = fs::read_to_string(ws.path().join("reports/report.md")).unwrap();
    assert!(
        md.contains("Probabilities are recalibrated on validation (Platt scaling"),
        "{md}"
    );
    assert!(
        md.contains("How fragile the operating point is, on validation"),
        "{md}"
    );

    // test-time augmentation: two seeded views averaged with the image; recorded in the card,
    // so `predict` below gives evaluate's probabilities with it too
    ws.edit_config("calibration: platt", "calibration: platt, tta: 2");
    assert_eq!(
        ws.ok(&["run"]).stages("ran"),
        ["evaluate", "gradcam", "charts", "calibrate", "report"]
    );
    let card = json(ws, "results/eval/model/model.json");
    assert_eq!(card["tta"], serde_json::json!({"views": 2, "seed": 0}));
    assert_ne!(
        json(ws, "results/eval/metrics.json")["roles"]["val"]["brier"],
        m["roles"]["val"]["brier"]
    );
}
