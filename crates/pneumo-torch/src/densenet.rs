//! DenseNet-121 exactly as torchvision builds it (`densenet121(num_classes=1)`: growth 32,
//! blocks of 6, 12, 24 and 16 layers, bottleneck width 4 x 32, no dropout), with
//! torchvision's parameter names (`features.denseblock1.denselayer1.norm1.weight`). The
//! spelling of its published ImageNet file (`...denselayer1.norm.1.weight`) is renamed on load
//! by `weights`, as torchvision's own loader does.

use tch::Tensor;
use tch::nn::{self, ModuleT};

use crate::net::Network;
use crate::resnet::{bn, conv_init};

const GROWTH: i64 = 32;
const BN_SIZE: i64 = 4;
const BLOCKS: [usize; 4] = [6, 12, 24, 16];

/// torchvision's DenseNet init: Kaiming-normal over the input fan.
fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    conv_init(
        p,
        (c_in, c_out, k),
        stride,
        padding,
        nn::init::FanInOut::FanIn,
    )
}

/// Batch norm, ReLU, convolution: every DenseNet unit's order.
fn norm_relu_conv(x: &Tensor, norm: &nn::BatchNorm, c: &nn::Conv2D, train: bool) -> Tensor {
    let mut h = x.apply_t(norm, train);
    let _ = h.relu_();
    h.apply(c)
}

/// One dense layer: the concatenation of everything before it, squeezed to 128 channels by
/// a 1x1 convolution, then 32 new channels from a 3x3.
#[derive(Debug)]
struct DenseLayer {
    norm1: nn::BatchNorm,
    conv1: nn::Conv2D,
    norm2: nn::BatchNorm,
    conv2: nn::Conv2D,
}

/// A transition between blocks: channels halved by a 1x1 convolution, the side by pooling.
#[derive(Debug)]
struct Transition {
    norm: nn::BatchNorm,
    conv: nn::Conv2D,
}

#[derive(Debug)]
pub struct DenseNet {
    conv0: nn::Conv2D,
    norm0: nn::BatchNorm,
    blocks: Vec<(Vec<DenseLayer>, Option<Transition>)>,
    norm5: nn::BatchNorm,
    classifier: nn::Linear,
    /// Dropout probability before `classifier` in training mode (0: torchvision's network).
    pub dropout: f64,
}

impl DenseNet {
    pub fn densenet121(p: &nn::Path, num_classes: i64) -> Self {
        let f = p / "features";
        // created in torchvision's order (stem, blocks, head), as ResNet's
        let conv0 = conv(&f / "conv0", 3, 64, 7, 2, 3);
        let norm0 = bn(&f / "norm0", 64);
        let mut c = 64;
        let mut blocks = Vec::new();
        for (i, &n) in BLOCKS.iter().enumerate() {
            let b = &f / format!("denseblock{}", i + 1);
            let layers = (0..n)
                .map(|j| {
                    let l = &b / format!("denselayer{}", j + 1);
                    let c_in = c + j as i64 * GROWTH;
                    DenseLayer {
                        norm1: bn(&l / "norm1", c_in),
                        conv1: conv(&l / "conv1", c_in, BN_SIZE * GROWTH, 1, 1, 0),
                        norm2: bn(&l / "norm2", BN_SIZE * GROWTH),
                        conv2: conv(&l / "conv2", BN_SIZE * GROWTH, GROWTH, 3, 1, 1),
                    }
                })
                .collect();
            c += n as i64 * GROWTH;
            let transition = (i + 1 < BLOCKS.len()).then(|| {
                let t = &f / format!("transition{}", i + 1);
                let tr = Transition {
                    norm: bn(&t / "norm", c),
                    conv: conv(&t / "conv", c, c / 2, 1, 1, 0),
                };
                c /= 2;
                tr
            });
            blocks.push((layers, transition));
        }
        let head = nn::LinearConfig {
            bs_init: Some(nn::Init::Const(0.0)),
            ..Default::default()
        };
        Self {
            conv0,
            norm0,
            blocks,
            norm5: bn(&f / "norm5", c),
            classifier: nn::linear(p / "classifier", c, num_classes, head),
            dropout: 0.0,
        }
    }
}

impl Network for DenseNet {
    fn batch_norms(&self) -> Vec<&nn::BatchNorm> {
        let mut all = vec![&self.norm0];
        for (layers, transition) in &self.blocks {
            all.extend(layers.iter().flat_map(|l| [&l.norm1, &l.norm2]));
            all.extend(transition.as_ref().map(|t| &t.norm));
        }
        all.push(&self.norm5);
        all
    }

    /// torchvision's `features`: through norm5, before the head's ReLU (Grad-CAM's layer, as
    /// pytorch-grad-cam's `model.features[-1]`).
    fn features_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs.apply(&self.conv0).apply_t(&self.norm0, train);
        let _ = h.relu_();
        let mut h = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for (layers, transition) in &self.blocks {
            let mut all = vec![h];
            for l in layers {
                let x = Tensor::cat(&all, 1);
                let bottleneck = norm_relu_conv(&x, &l.norm1, &l.conv1, train);
                all.push(norm_relu_conv(&bottleneck, &l.norm2, &l.conv2, train));
            }
            h = Tensor::cat(&all, 1);
            if let Some(t) = transition {
                h = norm_relu_conv(&h, &t.norm, &t.conv, train).avg_pool2d(
                    [2, 2],
                    [2, 2],
                    [0, 0],
                    false,
                    true,
                    None,
                );
            }
        }
        h.apply_t(&self.norm5, train) // [B, 1024, side/32, side/32]
    }

    fn head_t(&self, features: &Tensor, train: bool) -> Tensor {
        // out of place: `features` is what Grad-CAM differentiates against
        let h = features.relu();
        crate::net::pool_dropout_linear(&h, self.dropout, train, &self.classifier)
    }

    fn set_dropout(&mut self, p: f64) {
        self.dropout = p;
    }
}

impl ModuleT for DenseNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.head_t(&self.features_t(xs, train), train)
    }
}
