//! One explicit training loop, top to bottom: draw a batch (a loader thread gathers them
//! ahead), step, evaluate every `eval_every` iterations on the validation role, checkpoint,
//! keep the best and the latest weights (the best counted from `monitor_from_epoch`), stop
//! after `patience` evaluations without gain in the monitored metric or at the iteration
//! budget. A killed run resumes from its last checkpoint and ends where an uninterrupted one
//! would.

use fs_err as fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use pneumo_contract::choices::{self, Monitor};
pub use pneumo_contract::summary::Evaluation;
use pneumo_contract::summary::{TrainSummary, write_history};
use pneumo_contract::train::{BEST, LATEST, TrainParams};
use pneumo_core::model::metrics;
use pneumo_core::model::stats;

use crate::batches::{Sampler, augmentation, mix};
use crate::checkpoint::{
    OPTIMIZER, Resume, STATE, WEIGHTS, drop_checkpoints, latest_checkpoint, write_checkpoint,
};
use crate::dataset::Dataset;
use crate::net::{self, Network, to_channels_last};
use crate::optim::{self, Optimizer, Rule};
use crate::precision::autocast_bf16;
use crate::robust::{self, Mixup};
use crate::weights;

/// Where the network runs, from the param (matched exhaustively: no word is re-parsed).
pub fn device(choice: choices::Device) -> anyhow::Result<Device> {
    Ok(match choice {
        choices::Device::Cpu => Device::Cpu,
        choices::Device::Auto => Device::cuda_if_available(),
        choices::Device::Cuda if tch::Cuda::is_available() => Device::Cuda(0),
        choices::Device::Cuda => bail!(
            "device: cuda asked for, but libtorch finds no CUDA device (use `device: cpu` or `auto`)"
        ),
    })
}

/// Probabilities and mean BCE loss over `items`, eval mode.
fn score(
    net: &dyn Network,
    ds: &Dataset,
    items: &[(usize, f32)],
    device: Device,
) -> anyhow::Result<(Vec<f32>, f64)> {
    let mut probs = Vec::with_capacity(items.len());
    let mut loss_sum = 0.0;
    tch::no_grad(|| {
        for chunk in items.chunks(64) {
            let (x, y) = ds.batch(chunk, device);
            let logits = net.forward_t(&x, false).to_kind(Kind::Float);
            let loss = logits.binary_cross_entropy_with_logits::<Tensor>(
                &y,
                None,
                None,
                tch::Reduction::Sum,
            );
            loss_sum += loss.double_value(&[]);
            let p = Vec::<f32>::try_from(logits.sigmoid().flatten(0, -1).to_device(Device::Cpu))?;
            probs.extend(p);
        }
        Ok::<_, tch::TchError>(())
    })
    .context("scoring the validation role")?;
    anyhow::ensure!(
        probs.len() == items.len(),
        "{} probabilities for {} validation images",
        probs.len(),
        items.len()
    );
    Ok((probs, loss_sum / items.len().max(1) as f64))
}

/// Test hook: the worker aborts (as under `kill -9`: no unwinding, no cleanup) right after
/// this iteration's optimizer step.
const CRASH_ENV: &str = "PNEUMO_TORCH_CRASH_AFTER_ITERATION";

pub fn train(
    workspace: &Path,
    ds: &Dataset,
    p: &TrainParams,
    out: &Path,
    resume_dir: &Path,
) -> anyhow::Result<TrainSummary> {
    let started = Instant::now();
    let device = device(p.device)?;
    tch::manual_seed(p.seed as i64);
    let mut vs = VarStore::new(device);
    let mut net = net::build(p.arch, &vs.root(), 1);
    net.set_dropout(p.dropout);
    if p.weights != "none" {
        let loaded = weights::load(&mut vs, &workspace.join(&p.weights))?;
        crate::note!(
            "train: loaded {} tensors from {} (fresh: {:?})",
            loaded.copied,
            p.weights,
            loaded.kept_fresh
        );
    }
    to_channels_last(&vs);
    let rule = match p.optimizer {
        choices::Optimizer::AdamW => Rule::AdamW {
            weight_decay: p.weight_decay,
        },
        choices::Optimizer::Sgd => Rule::Sgd {
            momentum: p.momentum,
            weight_decay: p.weight_decay,
        },
    };
    let mut opt = Optimizer::new(&vs, rule);
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
    let val_pos = val_labels.iter().filter(|&&y| y >= 0.5).count();
    if val_pos == 0 || val_pos == val_labels.len() {
        crate::say::warn(&format!(
            "train: the validation role has {} only: its AUC (and, without PNEUMONIA, recall and F1) is undefined (null in history.csv and summary.json), so the kept checkpoint is the first one the monitor counts; give validation both classes",
            if val_pos == 0 {
                "NORMAL films"
            } else {
                "PNEUMONIA films"
            }
        ));
    }
    let mut sampler = Sampler::new(train, p);
    let total = match p.epochs {
        Some(e) => ((e * sampler.per_epoch() as f64).ceil() as usize).min(p.max_iterations),
        None => p.max_iterations,
    };
    // the first iteration whose evaluation may be kept or count against `patience`
    let monitor_from = (p.monitor_from_epoch * sampler.per_epoch() as f64).ceil() as usize;
    let params_json = serde_json::to_value(p)?;
    let mut state = Resume {
        iteration: 0,
        history: Vec::new(),
        best: None,
        since_gain: 0,
        params: params_json.clone(),
    };
    if let Some((n, ckpt)) = latest_checkpoint(resume_dir) {
        // a checkpoint that cannot be resumed is dropped, never a workspace stuck on it
        let path = ckpt.join(STATE);
        let saved = fs::read(&path)
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(serde_json::from_slice::<Resume>(&b)?));
        match saved {
            Ok(saved) if saved.params == params_json => {
                let loaded = weights::load(&mut vs, &ckpt.join(WEIGHTS))
                    .and_then(|_| opt.load(&ckpt.join(OPTIMIZER)));
                if let Err(e) = loaded {
                    drop_checkpoints(resume_dir);
                    bail!(
                        "the checkpoint at iteration {n} in {} could not be loaded ({e:#}); it was removed, so the next run starts this training again",
                        ckpt.display()
                    );
                }
                crate::note!("train: resuming from the checkpoint at iteration {n}");
                state = saved;
            }
            Ok(_) => {}
            Err(e) => {
                crate::say::warn(&format!(
                    "train: the checkpoint at iteration {n} cannot be resumed ({}: {e:#}); starting again from iteration 0",
                    path.display()
                ));
                drop_checkpoints(resume_dir);
            }
        }
    }
    let pos_weight = Tensor::from_slice(&[p.pos_weight as f32]).to_device(device);
    let n_pos = sampler.positives.len();
    crate::note!(
        "train: {} train images ({} pneumonia, {} normal; n_normal/n_pneumonia = {:.3}), {} val, up to {total} iterations",
        train.len(),
        n_pos,
        train.len() - n_pos,
        (train.len() - n_pos) as f64 / n_pos.max(1) as f64,
        val.len()
    );
    let bar = crate::say::Progress::new("train", total as u64);
    let crash_at: Option<usize> = std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok());
    let (mut run_loss, mut run_correct, mut run_seen) = (0.0, 0usize, 0usize);
    let mut stop_reason = format!("reached the iteration budget ({total})");
    let clock = Instant::now();
    // wall time of the run(s) before a resume, from the last evaluation
    let offset = state.history.last().map_or(0.0, |e| e.seconds);
    let first = state.iteration;
    let augment = p.augment.clone();
    let bf16 = crate::precision::resolve(p.precision, device);
    let (seed, mixup) = (p.seed, p.mixup);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        // the loader: gathers (and draws augmentation for) batches ahead of the network
        let (tx, rx) = std::sync::mpsc::sync_channel(3);
        scope.spawn(move || {
            for i in first..total {
                let items = sampler.batch(i);
                let aug = augmentation(&augment, seed, i, items.len());
                let mixed = Mixup::draw(mixup, seed, i, items.len());
                if tx.send((ds.gather(&items), aug, mixed)).is_err() {
                    break;
                }
            }
        });
        let mut iteration = state.iteration;
        while iteration < total {
            let (host, aug, mixed) = rx.recv().context("the batch loader stopped")?;
            // dropout and noise draw from libtorch's generator: seeded per iteration, so a
            // resumed run draws what an uninterrupted one would
            tch::manual_seed(mix(seed, iteration as u64, 5) as i64);
            let (x, y) = ds.tensors(&host, device, aug.as_ref());
            let (x, target) = match &mixed {
                Some(m) => m.apply(&x, &y),
                None => (x, y.shallow_clone()),
            };
            let logits =
                autocast_bf16(device, bf16, || net.forward_t(&x, true)).to_kind(Kind::Float);
            let loss = robust::loss(p, &logits, &target, &pos_weight);
            opt.zero_grad();
            loss.backward();
            opt.step(optim::schedule(p.schedule, p.lr, iteration, total));
            iteration += 1;
            if crash_at == Some(iteration) {
                eprintln!("train: {CRASH_ENV}={iteration}: aborting");
                std::process::abort();
            }
            let batch_loss = loss.double_value(&[]);
            run_loss += batch_loss * host.labels.len() as f64;
            let hits = logits
                .ge(0.0)
                .to_kind(Kind::Float)
                .eq_tensor(&y)
                .sum(Kind::Int64);
            run_correct += hits.int64_value(&[]) as usize;
            run_seen += host.labels.len();
            bar.at(
                iteration as u64,
                &format!(
                    "loss {batch_loss:.4}, last val {} {}",
                    p.monitor,
                    state
                        .history
                        .last()
                        .map(|e| format!("{:.4}", monitored(p, e)))
                        .unwrap_or_else(|| "-".into())
                ),
            );
            if !iteration.is_multiple_of(p.eval_every) && iteration != total {
                continue;
            }
            let (probs, val_loss) =
                autocast_bf16(device, bf16, || score(net.as_ref(), ds, val, device))?;
            let e = Evaluation {
                iteration,
                train_loss: run_loss / run_seen as f64,
                train_accuracy: run_correct as f64 / run_seen as f64,
                val_loss,
                val: metrics::binary(&probs, &val_labels, p.threshold as f32),
                val_auc: stats::roc_auc(&probs, &val_labels),
                seconds: offset + clock.elapsed().as_secs_f64(),
            };
            (run_loss, run_correct, run_seen) = (0.0, 0, 0);
            crate::note!(
                "train: iteration {iteration}: train loss {:.4}, val loss {:.4}, acc {:.4}, F1 {:.4}, AUC {:.4}",
                e.train_loss,
                e.val_loss,
                e.val.accuracy,
                e.val.f1,
                e.val_auc
            );
            let counts = iteration >= monitor_from || iteration == total;
            let gained = counts
                && state
                    .best
                    .as_ref()
                    .is_none_or(|b| monitored(p, &e) > monitored(p, b));
            if gained {
                state.best = Some(e.clone());
                state.since_gain = 0;
            } else if counts {
                state.since_gain += 1;
            }
            state.history.push(e);
            state.iteration = iteration;
            write_checkpoint(resume_dir, &vs, &opt, &state, gained)?;
            if patience_ends(iteration, total, state.since_gain, p.patience) {
                stop_reason = format!(
                    "no validation {} gain in {} evaluations",
                    p.monitor, p.patience
                );
                break;
            }
        }
        state.iteration = iteration;
        Ok(())
    })?;
    let (_, ckpt) = latest_checkpoint(resume_dir).context("no checkpoint was written")?;
    fs::copy(ckpt.join(BEST), out.join(BEST))?;
    weights::save(&vs, &out.join(LATEST))?;
    write_history(out, &state.history)?;
    let summary = TrainSummary {
        format: 0,
        iterations: state.iteration,
        stop_reason,
        best: state.best.clone(),
        monitor: p.monitor,
        device: format!("{device:?}"),
        seconds: started.elapsed().as_secs_f64(),
        resumed_from: (first > 0).then_some(first),
    };
    summary.write(out)?;
    Ok(summary)
}

fn monitored(p: &TrainParams, e: &Evaluation) -> f64 {
    match p.monitor {
        Monitor::Auc => e.val_auc,
        Monitor::F1 => e.val.f1,
    }
}

/// Whether `patience` ends the run at `iteration`: not at the last one, which the budget ends
/// whatever the evaluations said (the summary names one reason, the true one).
fn patience_ends(iteration: usize, total: usize, since_gain: usize, patience: usize) -> bool {
    iteration < total && since_gain >= patience
}

#[cfg(test)]
mod tests {
    use super::patience_ends;

    #[test]
    fn the_budget_not_patience_ends_the_last_iteration() {
        assert!(patience_ends(650, 1032, 6, 6));
        assert!(!patience_ends(650, 1032, 5, 6));
        assert!(!patience_ends(1032, 1032, 6, 6));
    }
}
