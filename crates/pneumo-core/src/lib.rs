//! What the engine and the libtorch worker both compute: image decoding, resizing and
//! equalisation (`data`), metrics, statistics, Grad-CAM read-outs and weights files (`model`),
//! and the parquet tables between stages (`tables`). Depends on the contract, never on the
//! engine.

pub mod data;
pub mod model;
pub mod tables;
