//! AdaBN (Li et al., 2016): batch-norm statistics recomputed on the unlabeled images about
//! to be scored, a remedy for a shift between sites. Transductive: the statistics come from
//! the very images the metrics are computed on (never their labels), so evaluate marks its
//! figures as such. What PyTorch users write as `model.train()` with every BatchNorm's
//! `momentum=None` (a cumulative average over batches) and a forward pass over the images.

use tch::{Device, Tensor};

use crate::dataset::Dataset;
use crate::net::Network;

/// tch's BatchNorm momentum (its `BatchNormConfig` default, as PyTorch's): the weight a
/// train-mode pass gives the batch's statistics in the running ones.
const MOMENTUM: f64 = 0.1;

/// Images per adaptation batch.
const BATCH: usize = 64;

/// Replaces every batch norm's running mean and variance in `net` by the averages over
/// `rows` of `ds` of the per-batch statistics (unbiased variance, as PyTorch's running
/// variance), computed in fp32 with each layer normalising by its batch's statistics.
pub fn adapt(
    net: &dyn Network,
    ds: &Dataset,
    rows: &[(usize, f32)],
    device: Device,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !rows.is_empty(),
        "AdaBN: the role to be scored has no images"
    );
    adapt_batches(
        net,
        rows.chunks(BATCH)
            .map(|chunk| ds.tensors(&ds.gather(chunk), device, None).0),
    )
}

/// [`adapt`] over the network inputs `batches`.
pub fn adapt_batches(
    net: &dyn Network,
    batches: impl Iterator<Item = Tensor>,
) -> anyhow::Result<()> {
    let norms = net.batch_norms();
    let mut mean: Vec<Tensor> = norms.iter().map(|b| b.running_mean.zeros_like()).collect();
    let mut var: Vec<Tensor> = norms.iter().map(|b| b.running_var.zeros_like()).collect();
    let set = |mean: &[Tensor], var: &[Tensor]| {
        for (b, (m, v)) in norms.iter().zip(mean.iter().zip(var)) {
            b.running_mean.shallow_clone().copy_(m);
            b.running_var.shallow_clone().copy_(v);
        }
    };
    for (k, x) in batches.enumerate() {
        let k = (k + 1) as f64;
        tch::no_grad(|| {
            // start each layer from the average so far, so the batch's statistics can be read
            // back from what the train-mode pass writes: after = (1 - m) * before + m * batch
            set(&mean, &var);
            let _ = net.features_t(&x, true);
            for (b, (m, v)) in norms.iter().zip(mean.iter_mut().zip(var.iter_mut())) {
                let batch_mean = (&b.running_mean - &*m * (1.0 - MOMENTUM)) / MOMENTUM;
                let batch_var = (&b.running_var - &*v * (1.0 - MOMENTUM)) / MOMENTUM;
                *m = &*m + (batch_mean - &*m) / k;
                *v = &*v + (batch_var - &*v) / k;
            }
        });
    }
    tch::no_grad(|| set(&mean, &var));
    anyhow::ensure!(
        var.iter()
            .all(|v| v.isfinite().all().int64_value(&[]) == 1 && v.min().double_value(&[]) >= 0.0),
        "AdaBN: the recomputed statistics are not finite (the images or weights hold NaN)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resnet::ResNet;
    use tch::Kind;
    use tch::nn::VarStore;

    /// The first batch norm's statistics after adaptation are the mean over the batches of
    /// each batch's per-channel mean and unbiased variance of conv1's output.
    #[test]
    fn statistics_are_the_average_of_each_batchs() {
        let vs = VarStore::new(Device::Cpu);
        let net = ResNet::resnet18(&vs.root(), 1);
        let wavy = |n: i64, f: f64| {
            (Tensor::arange(n * 3 * 32 * 32, (Kind::Float, Device::Cpu)) * f)
                .sin()
                .reshape([n, 3, 32, 32])
        };
        let batches = [wavy(4, 0.013), wavy(4, 0.029)];
        let w = &vs.variables()["conv1.weight"];
        let (mut want_mean, mut want_var) = (Vec::new(), Vec::new());
        for x in &batches {
            let h = x.conv2d(w, None::<Tensor>, [2, 2], [3, 3], [1, 1], 1);
            want_mean.push(h.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float));
            want_var.push(h.var_dim([0i64, 2, 3].as_slice(), true, false));
        }
        let want_mean = (&want_mean[0] + &want_mean[1]) / 2.0;
        let want_var = (&want_var[0] + &want_var[1]) / 2.0;
        adapt_batches(&net, batches.iter().map(Tensor::shallow_clone)).unwrap();
        let bn1 = net.batch_norms()[0];
        let close = |a: &Tensor, b: &Tensor| {
            let d = (a - b).abs().max().double_value(&[]);
            let scale = b.abs().max().double_value(&[]).max(1e-6);
            d / scale
        };
        assert!(close(&bn1.running_mean, &want_mean) < 1e-4);
        assert!(close(&bn1.running_var, &want_var) < 1e-4);
        assert_eq!(net.batch_norms().len(), 20, "ResNet-18 has 20 batch norms");
    }
}
