//! One explicit training loop, top to bottom: shuffle, step, evaluate every `eval_every`
//! iterations on the validation role, keep the best and the latest weights, stop after
//! `patience` evaluations without F1 gain or at `max_iterations`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;
use tch::nn::{ModuleT, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

use pneumo_pipeline::data::rng::SplitMix64;
use pneumo_pipeline::model::metrics::{self, Binary};
use pneumo_pipeline::stages::train::{BEST, HISTORY, LATEST, MODEL, SUMMARY, TrainParams};

use crate::dataset::Dataset;
use crate::resnet::{ResNet18, to_channels_last};
use crate::weights;

/// One evaluation: a row of history.csv.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub iteration: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    #[serde(flatten)]
    pub val: Binary,
    pub seconds: f64,
}

/// summary.json.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub iterations: usize,
    pub stop_reason: String,
    pub best: Option<Evaluation>,
    pub device: String,
    pub seconds: f64,
}

pub fn device(name: &str) -> anyhow::Result<Device> {
    Ok(match name {
        "cpu" => Device::Cpu,
        "auto" => Device::cuda_if_available(),
        "cuda" if tch::Cuda::is_available() => Device::Cuda(0),
        "cuda" => bail!(
            "device: cuda asked for, but libtorch finds no CUDA device (use `device: cpu` or `auto`)"
        ),
        other => bail!("unknown device `{other}`"),
    })
}

/// Probabilities and mean BCE loss over `items`, eval mode.
fn score(net: &ResNet18, ds: &Dataset, items: &[(usize, f32)], device: Device) -> (Vec<f32>, f64) {
    let mut probs = Vec::with_capacity(items.len());
    let mut loss_sum = 0.0;
    tch::no_grad(|| {
        for chunk in items.chunks(64) {
            let (x, y) = ds.batch(chunk, device);
            let logits = net.forward_t(&x, false);
            let loss = logits.binary_cross_entropy_with_logits::<Tensor>(
                &y,
                None,
                None,
                tch::Reduction::Sum,
            );
            loss_sum += loss.double_value(&[]);
            let p = Vec::<f32>::try_from(logits.sigmoid().flatten(0, -1).to_device(Device::Cpu))
                .unwrap_or_default();
            probs.extend(p);
        }
    });
    (probs, loss_sum / items.len().max(1) as f64)
}

pub fn train(
    workspace: &Path,
    ds: &Dataset,
    p: &TrainParams,
    out: &Path,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let device = device(&p.device)?;
    tch::manual_seed(p.seed as i64);
    let mut vs = VarStore::new(device);
    let net = ResNet18::new(&vs.root(), 1);
    if p.weights != "none" {
        let loaded = weights::load(&mut vs, &workspace.join(&p.weights))?;
        eprintln!(
            "train: loaded {} tensors from {} (fresh: {:?})",
            loaded.copied, p.weights, loaded.kept_fresh
        );
    }
    to_channels_last(&vs);
    let mut opt = tch::nn::Sgd {
        momentum: p.momentum,
        wd: p.weight_decay,
        ..Default::default()
    }
    .build(&vs, p.lr)?;
    let train = ds.role("train");
    let val = ds.role("val");
    if train.is_empty() || val.is_empty() {
        bail!(
            "the split has {} train and {} val images; both are needed",
            train.len(),
            val.len()
        );
    }
    let val_labels: Vec<f32> = val.iter().map(|&(_, y)| y).collect();
    let mut rng = SplitMix64::new(p.seed);
    let mut order: Vec<(usize, f32)> = train.to_vec();
    rng.shuffle(&mut order);
    let mut pos = 0;
    let (mut run_loss, mut run_correct, mut run_seen) = (0.0, 0usize, 0usize);
    let mut history: Vec<Evaluation> = Vec::new();
    let mut best: Option<Evaluation> = None;
    let mut since_gain = 0;
    let mut stop_reason = format!("reached max_iterations ({})", p.max_iterations);
    let mut iteration = 0;
    while iteration < p.max_iterations {
        if pos + p.batch_size > order.len() {
            rng.shuffle(&mut order);
            pos = 0;
        }
        let batch = &order[pos..(pos + p.batch_size).min(order.len())];
        pos += p.batch_size;
        let (x, y) = ds.batch(batch, device);
        let logits = net.forward_t(&x, true);
        let loss =
            logits.binary_cross_entropy_with_logits::<Tensor>(&y, None, None, tch::Reduction::Mean);
        opt.backward_step(&loss);
        iteration += 1;
        run_loss += loss.double_value(&[]) * batch.len() as f64;
        let hits = logits
            .ge(0.0)
            .to_kind(Kind::Float)
            .eq_tensor(&y)
            .sum(Kind::Int64);
        run_correct += hits.int64_value(&[]) as usize;
        run_seen += batch.len();
        if iteration % p.eval_every != 0 {
            continue;
        }
        let (probs, val_loss) = score(&net, ds, val, device);
        let e = Evaluation {
            iteration,
            train_loss: run_loss / run_seen as f64,
            train_accuracy: run_correct as f64 / run_seen as f64,
            val_loss,
            val: metrics::binary(&probs, &val_labels, p.threshold as f32),
            seconds: started.elapsed().as_secs_f64(),
        };
        (run_loss, run_correct, run_seen) = (0.0, 0, 0);
        eprintln!(
            "train: iteration {iteration}: train loss {:.4}, val loss {:.4}, val acc {:.4}, F1 {:.4}",
            e.train_loss, e.val_loss, e.val.accuracy, e.val.f1
        );
        if best.as_ref().is_none_or(|b| e.val.f1 > b.val.f1) {
            weights::save(&vs, &out.join(BEST))?;
            best = Some(e.clone());
            since_gain = 0;
        } else {
            since_gain += 1;
        }
        history.push(e);
        if since_gain >= p.patience {
            stop_reason = format!("no validation F1 gain in {} evaluations", p.patience);
            break;
        }
    }
    weights::save(&vs, &out.join(LATEST))?;
    write_history(&out.join(HISTORY), &history)?;
    let summary = Summary {
        iterations: iteration,
        stop_reason,
        best,
        device: format!("{device:?}"),
        seconds: started.elapsed().as_secs_f64(),
    };
    fs::write(out.join(SUMMARY), serde_json::to_vec_pretty(&summary)?)?;
    Ok(summary)
}

fn write_history(path: &Path, rows: &[Evaluation]) -> anyhow::Result<()> {
    let mut csv = String::from(
        "iteration,train_loss,train_accuracy,val_loss,val_accuracy,val_precision,val_recall,val_f1,tp,fp,tn,fn,seconds\n",
    );
    for e in rows {
        let v = &e.val;
        writeln!(
            csv,
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{},{},{},{},{:.3}",
            e.iteration,
            e.train_loss,
            e.train_accuracy,
            e.val_loss,
            v.accuracy,
            v.precision,
            v.recall,
            v.f1,
            v.tp,
            v.fp,
            v.tn,
            v.fn_,
            e.seconds
        )?;
    }
    fs::write(path, csv).with_context(|| format!("writing {}", path.display()))
}

/// model.json: what `predict` needs besides the weights.
#[derive(Debug, Serialize)]
pub struct ModelCard<'a> {
    pub architecture: &'static str,
    pub weights: &'static str,
    pub params: &'a TrainParams,
    pub threshold: f64,
    pub input_side: i64,
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

pub fn write_model_card(out: &Path, card: &ModelCard<'_>) -> anyhow::Result<()> {
    fs::write(out.join(MODEL), serde_json::to_vec_pretty(card)?)?;
    Ok(())
}
