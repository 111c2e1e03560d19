//! The networks `train` can fit, behind one trait: torchvision's ResNet-18 (the write-up's),
//! ResNet-34, ResNet-50 and DenseNet-121, each with a one-logit head and torchvision's
//! parameter names, so its `.pth` files load by name. Grad-CAM, AdaBN, scoring and training
//! see only [`Network`].

use tch::Tensor;
use tch::nn::{self, ModuleT, VarStore};

use pneumo_contract::choices::Arch;

use crate::densenet::DenseNet;
use crate::resnet::ResNet;

/// A classifier split where Grad-CAM looks: `features_t` (the last convolutional block's
/// activations) then `head_t` (pooling and the linear layer).
pub trait Network: ModuleT {
    /// The last convolutional block's activations, `[B, C, side/32, side/32]`.
    fn features_t(&self, xs: &Tensor, train: bool) -> Tensor;

    /// Logits from those activations.
    fn head_t(&self, features: &Tensor, train: bool) -> Tensor;

    /// Logits from the activations, eval mode.
    fn head(&self, features: &Tensor) -> Tensor {
        self.head_t(features, false)
    }

    /// Every batch norm, in forward order (AdaBN rewrites their running statistics).
    fn batch_norms(&self) -> Vec<&nn::BatchNorm>;

    /// Dropout probability before the head in training mode (0: torchvision's network).
    fn set_dropout(&mut self, p: f64);
}

/// `arch` with a `num_classes`-logit head, its variables in `p`.
pub fn build(arch: Arch, p: &nn::Path, num_classes: i64) -> Box<dyn Network> {
    match arch {
        Arch::ResNet18 => Box::new(ResNet::resnet18(p, num_classes)),
        Arch::ResNet34 => Box::new(ResNet::resnet34(p, num_classes)),
        Arch::ResNet50 => Box::new(ResNet::resnet50(p, num_classes)),
        Arch::DenseNet121 => Box::new(DenseNet::densenet121(p, num_classes)),
    }
}

/// The torchvision head: global average pooling, flatten, (dropout when training), linear.
pub(crate) fn pool_dropout_linear(
    features: &Tensor,
    dropout: f64,
    train: bool,
    fc: &nn::Linear,
) -> Tensor {
    let pooled = features
        .adaptive_avg_pool2d([1, 1]) // [B, C, 1, 1]
        .flatten(1, -1); // [B, C]
    let pooled = if train && dropout > 0.0 {
        pooled.dropout(dropout, true)
    } else {
        pooled
    };
    pooled.apply(fc) // [B, num_classes]
}

/// NCHW values with NHWC strides: PyTorch's channels_last, which oneDNN's fast convolutions
/// want (tch 0.24 has no memory-format API, so the layout is built by permuting).
pub fn channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Puts every convolution weight of `vs` in the channels-last layout.
pub fn to_channels_last(vs: &VarStore) {
    for (_, mut v) in vs.variables() {
        if v.dim() == 4 {
            let c = channels_last(&v);
            tch::no_grad(|| v.set_data(&c));
        }
    }
}
