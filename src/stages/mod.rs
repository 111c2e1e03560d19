//! The built-in stage kinds, registered for the engine.

pub mod index;
pub mod preprocess;
pub mod split;
pub mod train;

use crate::pipeline::stage::Registry;

/// Every built-in stage kind.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.register(Box::new(index::Index));
    r.register(Box::new(split::Split));
    r.register(Box::new(preprocess::Preprocess));
    r.register(Box::new(train::Train));
    r
}
