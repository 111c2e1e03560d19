//! The built-in stage kinds, registered for the engine.

pub mod aggregate;
pub mod calibrate;
pub mod charts;
pub mod ensemble;
pub mod evaluate;
pub mod gradcam;
pub mod index;
pub mod preprocess;
pub mod report;
pub mod split;
pub mod threshold;
pub mod train;
pub mod worker;

pub use calibrate::Calibrate;
pub use charts::Charts;
pub use ensemble::Ensemble;
pub use evaluate::Evaluate;
pub use gradcam::Gradcam;
pub use index::Index;
pub use preprocess::Preprocess;
pub use report::Report;
pub use split::Split;
pub use train::Train;

use crate::pipeline::stage::Registry;

/// Every built-in stage kind.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.register(Box::new(index::Index));
    r.register(Box::new(split::Split));
    r.register(Box::new(preprocess::Preprocess));
    r.register(Box::new(train::Train));
    r.register(Box::new(evaluate::Evaluate));
    r.register(Box::new(ensemble::Ensemble));
    r.register(Box::new(calibrate::Calibrate));
    r.register(Box::new(gradcam::Gradcam));
    r.register(Box::new(charts::Charts));
    r.register(Box::new(report::Report));
    r
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    /// What the engine does per kind is declared by the kind: a GPU for `device: cuda` (a
    /// cluster executor asks for it, unless `resources: {gpus}` says otherwise), the model
    /// `predict` finds, the metrics `exp` reads.
    #[test]
    fn per_kind_behaviour_is_declared_by_the_kind() {
        let registry = super::registry();
        let yaml = "stages:
  index: {kind: index}
  split: {kind: split, needs: [index]}
  preprocess: {kind: preprocess, needs: [index]}
  train: {kind: train, needs: [split, preprocess], params: {device: cuda}}
  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {device: cuda}
    resources: {gpus: 0}
  gradcam: {kind: gradcam, needs: [split, preprocess, evaluate]}
";
        let p = crate::pipeline::validate::parse(
            yaml,
            std::path::Path::new("pipeline.yaml"),
            &registry,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let gpus = |name: &str| {
            p.stages
                .iter()
                .find(|s| s.name == name)
                .unwrap()
                .resources
                .gpus
        };
        assert_eq!(gpus("train"), Some(1));
        assert_eq!(gpus("evaluate"), Some(0), "the user's `gpus` stands");
        assert_eq!(gpus("gradcam"), None, "device: cpu");
        assert_eq!(gpus("index"), None);
        let declared = |f: &dyn Fn(&dyn crate::pipeline::stage::Stage) -> Option<&'static str>| {
            registry
                .kinds()
                .filter_map(|k| Some((k, f(registry.get(k)?)?)))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            declared(&|s| s.model_dir()),
            [("evaluate", "model"), ("train", "")]
        );
        assert_eq!(
            declared(&|s| s.metrics_file()),
            [("ensemble", "metrics.json"), ("evaluate", "metrics.json")]
        );
    }

    /// Every kind's canonical params read back to themselves, so a key always carries its
    /// inputs (a kind whose params did not read back used to hash no input files at all).
    #[test]
    fn canonical_params_round_trip_for_every_kind() {
        let registry = super::registry();
        let mut kinds = 0;
        for kind in registry.kinds() {
            let stage = registry.get(kind).unwrap();
            for raw in [Value::Null, json!({})] {
                let canonical = stage.params(&raw).unwrap_or_else(|e| panic!("{kind}: {e}"));
                assert_eq!(stage.params(&canonical).unwrap(), canonical, "{kind}");
                assert!(stage.inputs(&canonical).is_ok(), "{kind}");
            }
            // params that do not read back are an error, not an empty input list
            assert!(
                stage.inputs(&json!({"no such param": 1})).is_err(),
                "{kind}"
            );
            kinds += 1;
        }
        assert_eq!(kinds, 10);
        let index = registry.get("index").unwrap();
        let p = index.params(&json!({"data": "elsewhere/xray"})).unwrap();
        assert_eq!(index.inputs(&p).unwrap(), ["elsewhere/xray"]);
    }

    /// Every param that takes one of a set of words is in its kind's `choices()`, so a typo
    /// there is reported with the allowed words beside every other bad value (the list is
    /// kept by hand: `split.protocol`, `preprocess.equalize`, `evaluate.calibration` had
    /// drifted out of it). Found by setting each top-level param to a word no enum has.
    #[test]
    fn every_enumerated_param_is_checked_as_a_choice() {
        let registry = super::registry();
        let mut missing = Vec::new();
        for kind in registry.kinds() {
            let stage = registry.get(kind).unwrap();
            // every field, optional ones included: serde lists them for an unknown one
            let msg = stage.params(&json!({"no such field": 1})).unwrap_err();
            let fields: Vec<String> = msg
                .split_once("expected")
                .map(|(_, list)| {
                    list.split('`')
                        .skip(1)
                        .step_by(2)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            assert!(!fields.is_empty(), "{kind}: {msg}");
            for key in &fields {
                let raw = json!({ key.as_str(): "no-such-word" });
                let Err(msg) = stage.params(&raw) else {
                    continue;
                };
                let listed = stage.choices().iter().any(|(name, _)| name == key);
                if msg.starts_with("unknown variant") && !listed {
                    missing.push(format!("{kind}.{key}"));
                }
                if listed {
                    let (_, words) = stage.choices().iter().find(|(n, _)| n == key).unwrap();
                    // the words listed are the type's own, as serde names them
                    let mut theirs: Vec<&str> = msg
                        .split_once("expected")
                        .map(|(_, l)| l.split('`').skip(1).step_by(2).collect())
                        .unwrap_or_default();
                    let mut ours = words.to_vec();
                    theirs.sort_unstable();
                    ours.sort_unstable();
                    assert_eq!(ours, theirs, "{kind}.{key}: {msg}");
                    for w in *words {
                        let ok = stage.params(&json!({ key.as_str(): w }));
                        assert!(
                            ok.is_ok(),
                            "{kind}.{key}: `{w}` is listed but refused: {ok:?}"
                        );
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "enumerated params not in choices(): {missing:?}"
        );
    }
}
