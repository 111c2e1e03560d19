//! ResNet-18 exactly as torchvision builds it (`resnet18(num_classes=1)`), on libtorch
//! through tch. Parameter names match a torchvision state_dict one for one
//! (`layer2.0.downsample.1.running_var`), so `.pth` files load by name.

use tch::Tensor;
use tch::nn::{self, ModuleT, VarStore};

/// One 3x3 basic block: conv-bn-relu-conv-bn, plus the (projected) input, relu.
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ws_init: nn::Init::Kaiming {
            dist: nn::init::NormalOrUniform::Normal,
            fan: nn::init::FanInOut::FanOut,
            non_linearity: nn::init::NonLinearity::ReLU,
        },
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

impl BasicBlock {
    fn new(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let d = &p / "downsample";
            (
                conv(&d / "0", c_in, c_out, 1, stride, 0),
                bn(&d / "1", c_out),
            )
        });
        Self {
            conv1: conv(&p / "conv1", c_in, c_out, 3, stride, 1),
            bn1: bn(&p / "bn1", c_out),
            conv2: conv(&p / "conv2", c_out, c_out, 3, 1, 1),
            bn2: bn(&p / "bn2", c_out),
            downsample,
        }
    }

    /// In-place ReLU and residual add, as torchvision (`ReLU(inplace=True)`, `out += identity`):
    /// fewer allocations; autograd allows it because batch norm's backward does not need its
    /// output.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs.apply(&self.conv1).apply_t(&self.bn1, train);
        let _ = h.relu_();
        let mut ys = h.apply(&self.conv2).apply_t(&self.bn2, train);
        let shortcut = match &self.downsample {
            Some((c, b)) => xs.apply(c).apply_t(b, train),
            None => xs.shallow_clone(),
        };
        let _ = ys.g_add_(&shortcut);
        let _ = ys.relu_();
        ys
    }
}

/// torchvision's ResNet-18 with a `num_classes`-logit head.
#[derive(Debug)]
pub struct ResNet18 {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layers: [Vec<BasicBlock>; 4],
    fc: nn::Linear,
    /// Dropout probability before `fc` in training mode (0: none, torchvision's network).
    pub dropout: f64,
}

impl ResNet18 {
    pub fn new(p: &nn::Path, num_classes: i64) -> Self {
        let layer = |name: &str, c_in: i64, c_out: i64, stride: i64| {
            let l = p / name;
            vec![
                BasicBlock::new(&l / "0", c_in, c_out, stride),
                BasicBlock::new(&l / "1", c_out, c_out, 1),
            ]
        };
        Self {
            conv1: conv(p / "conv1", 3, 64, 7, 2, 3),
            bn1: bn(p / "bn1", 64),
            layers: [
                layer("layer1", 64, 64, 1),
                layer("layer2", 64, 128, 2),
                layer("layer3", 128, 256, 2),
                layer("layer4", 256, 512, 2),
            ],
            fc: nn::linear(p / "fc", 512, num_classes, Default::default()),
            dropout: 0.0,
        }
    }

    /// Every batch norm, in forward order (AdaBN rewrites their running statistics).
    pub fn batch_norms(&self) -> Vec<&nn::BatchNorm> {
        let mut all = vec![&self.bn1];
        for block in self.layers.iter().flatten() {
            all.extend([&block.bn1, &block.bn2]);
            all.extend(block.downsample.as_ref().map(|(_, b)| b));
        }
        all
    }

    /// The last residual block's activations (Grad-CAM's target layer).
    pub fn features_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // xs: [B, 3, 224, 224]
        let mut h = xs.apply(&self.conv1).apply_t(&self.bn1, train); // [B, 64, 112, 112]
        let _ = h.relu_();
        let mut h = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false); // [B, 64, 56, 56]
        for layer in &self.layers {
            for block in layer {
                h = block.forward_t(&h, train);
            }
        }
        h // [B, 512, 7, 7]
    }

    /// Logits from layer4 activations (eval mode).
    pub fn head(&self, features: &Tensor) -> Tensor {
        self.head_t(features, false)
    }

    fn head_t(&self, features: &Tensor, train: bool) -> Tensor {
        let pooled = features
            .adaptive_avg_pool2d([1, 1]) // [B, 512, 1, 1]
            .flatten(1, -1); // [B, 512]
        let pooled = if train && self.dropout > 0.0 {
            pooled.dropout(self.dropout, true)
        } else {
            pooled
        };
        pooled.apply(&self.fc) // [B, num_classes]
    }
}

impl ModuleT for ResNet18 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.head_t(&self.features_t(xs, train), train)
    }
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
