//! ResNet-18, -34 and -50 exactly as torchvision builds them (`resnet18(num_classes=1)`), on
//! libtorch through tch. Parameter names match a torchvision state_dict one for one
//! (`layer2.0.downsample.1.running_var`), so `.pth` files load by name.

use tch::Tensor;
use tch::nn::{self, ModuleT};

use crate::net::Network;

/// torchvision's convolution: no bias, Kaiming-normal (ReLU gain) over `fan`: the output
/// fan in its ResNet init, the input fan in its DenseNet init.
pub(crate) fn conv_init(
    p: nn::Path,
    (c_in, c_out, k): (i64, i64, i64),
    stride: i64,
    padding: i64,
    fan: nn::init::FanInOut,
) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ws_init: nn::Init::Kaiming {
            dist: nn::init::NormalOrUniform::Normal,
            fan,
            non_linearity: nn::init::NonLinearity::ReLU,
        },
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    conv_init(
        p,
        (c_in, c_out, k),
        stride,
        padding,
        nn::init::FanInOut::FanOut,
    )
}

pub(crate) fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

/// A residual block: the 3x3 basic block (two convolutions, ResNet-18/34) or the bottleneck
/// (1x1 down, 3x3 with the stride, 1x1 up by 4; ResNet-50, torchvision's "v1.5"), then the
/// (projected) input added and a ReLU.
#[derive(Debug)]
struct Block {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn new(p: nn::Path, c_in: i64, planes: i64, stride: i64, bottleneck: bool) -> Self {
        let c_out = if bottleneck { planes * 4 } else { planes };
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let d = &p / "downsample";
            (
                conv(&d / "0", c_in, c_out, 1, stride, 0),
                bn(&d / "1", c_out),
            )
        });
        let unit = |i: usize, c_in: i64, c_out: i64, k: i64, stride: i64| {
            (
                conv(&p / format!("conv{i}"), c_in, c_out, k, stride, k / 2),
                bn(&p / format!("bn{i}"), c_out),
            )
        };
        let convs = if bottleneck {
            vec![
                unit(1, c_in, planes, 1, 1),
                unit(2, planes, planes, 3, stride),
                unit(3, planes, c_out, 1, 1),
            ]
        } else {
            vec![
                unit(1, c_in, planes, 3, stride),
                unit(2, planes, planes, 3, 1),
            ]
        };
        Self { convs, downsample }
    }

    /// In-place ReLU and residual add, as torchvision (`ReLU(inplace=True)`, `out += identity`):
    /// fewer allocations; autograd allows it because batch norm's backward does not need its
    /// output.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut h = xs.shallow_clone();
        for (i, (c, b)) in self.convs.iter().enumerate() {
            h = h.apply(c).apply_t(b, train);
            if i < last {
                let _ = h.relu_();
            }
        }
        let shortcut = match &self.downsample {
            Some((c, b)) => xs.apply(c).apply_t(b, train),
            None => xs.shallow_clone(),
        };
        let _ = h.g_add_(&shortcut);
        let _ = h.relu_();
        h
    }
}

/// torchvision's ResNet with a `num_classes`-logit head.
#[derive(Debug)]
pub struct ResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layers: [Vec<Block>; 4],
    fc: nn::Linear,
    /// Dropout probability before `fc` in training mode (0: none, torchvision's network).
    pub dropout: f64,
}

impl ResNet {
    pub fn resnet18(p: &nn::Path, num_classes: i64) -> Self {
        Self::new(p, [2, 2, 2, 2], false, num_classes)
    }

    pub fn resnet34(p: &nn::Path, num_classes: i64) -> Self {
        Self::new(p, [3, 4, 6, 3], false, num_classes)
    }

    pub fn resnet50(p: &nn::Path, num_classes: i64) -> Self {
        Self::new(p, [3, 4, 6, 3], true, num_classes)
    }

    /// torchvision's `_make_layer`: a stage's first block takes the stride (and a projected
    /// shortcut where the shape changes), the others keep the shape.
    fn new(p: &nn::Path, blocks: [usize; 4], bottleneck: bool, num_classes: i64) -> Self {
        // created in torchvision's order (stem, stages, head), so a seed draws the same weights
        let conv1 = conv(p / "conv1", 3, 64, 7, 2, 3);
        let bn1 = bn(p / "bn1", 64);
        let expansion = if bottleneck { 4 } else { 1 };
        let mut c_in = 64;
        let mut stage = |i: usize, planes: i64, stride: i64| {
            let l = p / format!("layer{}", i + 1);
            (0..blocks[i])
                .map(|j| {
                    let s = if j == 0 { stride } else { 1 };
                    let b = Block::new(&l / j, c_in, planes, s, bottleneck);
                    c_in = planes * expansion;
                    b
                })
                .collect()
        };
        let layers = [
            stage(0, 64, 1),
            stage(1, 128, 2),
            stage(2, 256, 2),
            stage(3, 512, 2),
        ];
        Self {
            conv1,
            bn1,
            layers,
            fc: nn::linear(p / "fc", 512 * expansion, num_classes, Default::default()),
            dropout: 0.0,
        }
    }
}

impl Network for ResNet {
    fn batch_norms(&self) -> Vec<&nn::BatchNorm> {
        let mut all = vec![&self.bn1];
        for block in self.layers.iter().flatten() {
            all.extend(block.convs.iter().map(|(_, b)| b));
            all.extend(block.downsample.as_ref().map(|(_, b)| b));
        }
        all
    }

    fn features_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // xs: [B, 3, 224, 224]
        let mut h = xs.apply(&self.conv1).apply_t(&self.bn1, train); // [B, 64, 112, 112]
        let _ = h.relu_();
        let mut h = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false); // [B, 64, 56, 56]
        for block in self.layers.iter().flatten() {
            h = block.forward_t(&h, train);
        }
        h // [B, 512 (2048 for ResNet-50), 7, 7]
    }

    fn head_t(&self, features: &Tensor, train: bool) -> Tensor {
        crate::net::pool_dropout_linear(features, self.dropout, train, &self.fc)
    }

    fn set_dropout(&mut self, p: f64) {
        self.dropout = p;
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.head_t(&self.features_t(xs, train), train)
    }
}
