//! The network side that needs no libtorch: reading PyTorch checkpoints. The network itself
//! lives in the `pneumo-torch` crate (crates/pneumo-torch), so this binary never loads libtorch.

pub mod metrics;
pub mod pth;
