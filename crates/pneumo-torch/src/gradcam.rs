//! Grad-CAM of the pneumonia logit on the last convolutional block (ResNet's layer4,
//! DenseNet's norm5), as plain tensor operations (Selvaraju et al.
//! 2017): weights = spatial mean of d(logit)/d(A), map = ReLU(sum_c w_c A_c). Eval mode;
//! neither the input nor the parameters' gradients are touched.

use tch::{Kind, Tensor};

use crate::net::Network;

/// Raw Grad-CAM maps, `[B, 7, 7]` for 224 px input: not upsampled, not normalised.
pub fn grad_cam(net: &dyn Network, x: &Tensor) -> anyhow::Result<Tensor> {
    let features = tch::no_grad(|| net.features_t(x, false)) // [B, C, 7, 7]
        .detach()
        .set_requires_grad(true);
    let logits = net.head(&features); // [B, 1]
    // the logits of different images do not interact: one backward gives every image's grads
    let grads = Tensor::f_run_backward(&[logits.sum(Kind::Float)], &[&features], false, false)?;
    let weights = grads[0].mean_dim(&[2i64, 3][..], true, Kind::Float); // [B, C, 1, 1]
    let cam = (weights * features.detach())
        .sum_dim_intlist(&[1i64][..], false, Kind::Float) // [B, 7, 7]
        .relu();
    Ok(cam)
}

/// Bilinear upsampling to `[B, height, width]` and per-image scaling to [0, 1] (a map that is
/// zero everywhere stays zero).
pub fn upsample_normalised(cam: &Tensor, height: i64, width: i64) -> Tensor {
    let up = cam
        .unsqueeze(1) // [B, 1, h, w]
        .upsample_bilinear2d([height, width], false, None, None)
        .squeeze_dim(1); // [B, H, W]
    let min = up.amin([1, 2], true);
    let max = up.amax([1, 2], true);
    (&up - &min) / (max - &min).clamp_min(1e-12)
}
