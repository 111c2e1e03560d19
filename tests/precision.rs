//! `precision: auto` trains in bf16 where the device runs it natively and in fp32 elsewhere
//! (the detection overridden here through `PNEUMO_NATIVE_BF16`), writes the same weights as
//! the precision it resolved to, and records the choice in runtime.json.

mod common;

use common::Ws;

fn config(precision: &str) -> String {
    format!(
        "{}  train:
    kind: train
    needs: [split, preprocess]
    params: {{batch_size: 4, eval_every: 1, max_iterations: 3, precision: {precision}}}
",
        common::DATA_32
    )
}

/// Trains with `precision`, native bf16 forced to `native`; (weights, runtime.json's precision).
fn train(precision: &str, native: &str) -> (Vec<u8>, String) {
    let ws = Ws::generated(&config(precision));
    let out = ws
        .cmd(&["run"])
        .env("PNEUMO_NATIVE_BF16", native)
        .output()
        .unwrap();
    let r = common::Run(out);
    assert!(r.0.status.success(), "{}", r.stderr());
    let dir = ws.path().join("build/train");
    let rt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("runtime.json")).unwrap()).unwrap();
    (
        std::fs::read(dir.join("best.safetensors")).unwrap(),
        rt["precision"].as_str().unwrap().to_string(),
    )
}

#[test]
fn auto_resolves_to_bf16_only_where_it_is_native() {
    let (fp32, p) = train("fp32", "1");
    assert_eq!(p, "fp32");
    let (bf16, p) = train("bf16", "0");
    assert_eq!(p, "bf16");
    assert_ne!(fp32, bf16, "bf16 autocast changed nothing");
    let (auto_off, p) = train("auto", "0");
    assert_eq!(p, "fp32");
    assert!(auto_off == fp32, "auto without native bf16 is not fp32");
    let (auto_on, p) = train("auto", "1");
    assert_eq!(p, "bf16");
    assert!(auto_on == bf16, "auto with native bf16 is not bf16");
}

/// Trains in fp32, then evaluates with `precision`, native bf16 forced to `native`;
/// (the probability of every scored image, evaluate's runtime.json precision, predict's
/// probability for the val PNEUMONIA film).
fn evaluate(precision: &str, native: &str) -> (Vec<f64>, String, f64) {
    let config = format!(
        "{}  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {{bootstrap: 20, precision: {precision}}}
",
        config("fp32")
    );
    let ws = Ws::generated(&config);
    let run = |args: &[&str]| {
        let out = ws
            .cmd(args)
            .env("PNEUMO_NATIVE_BF16", native)
            .output()
            .unwrap();
        let r = common::Run(out);
        assert!(r.0.status.success(), "{}", r.stderr());
        r
    };
    run(&["run"]);
    let dir = ws.path().join("build/evaluate");
    let rt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("runtime.json")).unwrap()).unwrap();
    let csv = std::fs::read_to_string(dir.join("predictions.csv")).unwrap();
    let probability = |line: &str| line.split(',').nth(5).unwrap().parse::<f64>().unwrap();
    let probs: Vec<f64> = csv.lines().skip(1).map(probability).collect();
    let film = "val/PNEUMONIA/person100_bacteria_100.jpeg";
    let evaluated = probability(csv.lines().find(|l| l.starts_with(film)).unwrap());
    let file = ws.path().join("data/chest_xray").join(film);
    let out = run(&["predict", "--json", file.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.0.stdout).unwrap();
    let predicted = v[0]["probability"].as_f64().unwrap();
    // predict scores as evaluate did (one image against evaluate's batch: bf16 rounding)
    assert!(
        (predicted - evaluated).abs() < 1e-2,
        "{precision}: predict {predicted} vs evaluate {evaluated}"
    );
    (
        probs,
        rt["precision"].as_str().unwrap().to_string(),
        predicted,
    )
}

#[test]
fn scoring_runs_in_bf16_where_auto_resolves_to_it_and_predict_follows() {
    let (fp32, p, _) = evaluate("fp32", "1");
    assert_eq!(p, "fp32");
    let (auto_off, p, _) = evaluate("auto", "0");
    assert_eq!(p, "fp32");
    assert_eq!(auto_off, fp32, "auto without native bf16 is not fp32");
    let (bf16, p, _) = evaluate("auto", "1");
    assert_eq!(p, "bf16");
    assert_ne!(bf16, fp32, "bf16 autocast changed no probability");
    let worst = bf16
        .iter()
        .zip(&fp32)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 0.02, "bf16 scoring moved a probability by {worst}");
}
