//! The network side: reading PyTorch checkpoints (and, next, the ResNet-18 trainer on tch).

pub mod pth;
