//! The model side that needs no libtorch: reading PyTorch checkpoints, metrics and their
//! statistics, Grad-CAM read-outs. The network itself lives in the `pneumo-torch` crate
//! (crates/pneumo-torch), so the engine binary never loads libtorch.

pub mod calibration;
pub mod explain;
pub mod metrics;
pub mod pickle;
pub mod pth;
pub mod recalibrate;
pub mod stats;

pub use pneumo_contract::defined;
