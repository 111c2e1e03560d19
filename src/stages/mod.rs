//! The built-in stage kinds, registered for the engine.

pub mod aggregate;
pub mod augment;
pub mod charts;
pub mod choices;
pub mod ensemble;
pub mod evaluate;
pub mod gradcam;
pub mod index;
pub mod predictions;
pub mod preprocess;
pub mod report;
pub mod split;
pub mod threshold;
pub mod train;
pub mod worker;

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
    r.register(Box::new(gradcam::Gradcam));
    r.register(Box::new(charts::Charts));
    r.register(Box::new(report::Report));
    r
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

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
        assert_eq!(kinds, 9);
        let index = registry.get("index").unwrap();
        let p = index.params(&json!({"data": "elsewhere/xray"})).unwrap();
        assert_eq!(index.inputs(&p).unwrap(), ["elsewhere/xray"]);
    }
}
