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
