//! The network of pneumo-pipeline on libtorch through tch: torchvision's ResNet-18 (and
//! ResNet-34/50, DenseNet-121) and loading torchvision-format weights. Kept out of the engine crate so that only the
//! commands that train or score load libtorch.

pub mod adabn;
pub mod augment;
pub mod batches;
pub mod checkpoint;
pub mod dataset;
pub mod densenet;
pub mod fused;
pub mod gradcam;
pub mod infer;
pub mod net;
pub mod optim;
pub mod precision;
pub mod predict;
pub mod resnet;
pub mod robust;
pub mod runtime;
pub mod say;
pub mod train;
pub mod weights;
