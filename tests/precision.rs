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
