//! SGD and AdamW written out over the VarStore's trainable tensors, with their state held
//! by name, so that a checkpoint can carry it and a resumed run continues exactly (tch's
//! optimizers keep their state inside libtorch with no way to save it). The update rules are
//! PyTorch's `torch.optim.SGD` (dampening 0, not Nesterov) and `torch.optim.AdamW`.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::path::Path;

use anyhow::{Context, bail};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

use pneumo_pipeline::stages::choices::Schedule;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Sgd { momentum: f64, weight_decay: f64 },
    AdamW { weight_decay: f64 },
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

pub struct Optimizer {
    rule: Rule,
    params: Vec<(String, Tensor)>,
    /// Per-parameter state by `<slot>.<param name>` (`momentum.`, `exp_avg.`, `exp_avg_sq.`).
    state: BTreeMap<String, Tensor>,
    /// Steps taken (AdamW's bias correction).
    pub steps: i64,
}

impl Optimizer {
    pub fn new(vs: &VarStore, rule: Rule) -> Optimizer {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Optimizer {
            rule,
            params,
            state: BTreeMap::new(),
            steps: 0,
        }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr` from the gradients in place.
    pub fn step(&mut self, lr: f64) {
        self.steps += 1;
        let t = self.steps as i32;
        tch::no_grad(|| {
            for (name, p) in &mut self.params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                match self.rule {
                    Rule::Sgd {
                        momentum,
                        weight_decay,
                    } => {
                        let mut d = if weight_decay != 0.0 {
                            &g + &*p * weight_decay
                        } else {
                            g
                        };
                        if momentum != 0.0 {
                            let key = format!("momentum.{name}");
                            d = match self.state.get_mut(&key) {
                                Some(buf) => {
                                    let _ = buf.g_mul_scalar_(momentum).g_add_(&d);
                                    buf.shallow_clone()
                                }
                                None => {
                                    let buf = d.copy();
                                    self.state.insert(key, buf.shallow_clone());
                                    buf
                                }
                            };
                        }
                        let _ = p.g_sub_(&(d * lr));
                    }
                    Rule::AdamW { weight_decay } => {
                        if weight_decay != 0.0 {
                            let _ = p.g_mul_scalar_(1.0 - lr * weight_decay);
                        }
                        let m = self
                            .state
                            .entry(format!("exp_avg.{name}"))
                            .or_insert_with(|| g.zeros_like());
                        let _ = m.g_mul_scalar_(BETA1).g_add_(&(&g * (1.0 - BETA1)));
                        let m = m.shallow_clone();
                        let v = self
                            .state
                            .entry(format!("exp_avg_sq.{name}"))
                            .or_insert_with(|| g.zeros_like());
                        let _ = v.g_mul_scalar_(BETA2).g_add_(&(&g * &g * (1.0 - BETA2)));
                        let bc1 = 1.0 - BETA1.powi(t);
                        let bc2 = 1.0 - BETA2.powi(t);
                        let denom = v.sqrt() / bc2.sqrt() + EPS;
                        let _ = p.g_sub_(&(m / denom * (lr / bc1)));
                    }
                }
            }
        });
    }

    /// The state as named CPU tensors (for safetensors), plus the step count.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut named: Vec<(String, Tensor)> = self
            .state
            .iter()
            .map(|(k, t)| (k.clone(), t.to_device(tch::Device::Cpu).contiguous()))
            .collect();
        named.push(("steps".into(), Tensor::from_slice(&[self.steps])));
        Tensor::write_safetensors(&named, path)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Restores what [`Optimizer::save`] wrote, onto each parameter's device and layout.
    pub fn load(&mut self, path: &Path) -> anyhow::Result<()> {
        let saved = Tensor::read_safetensors(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let by_name: BTreeMap<&str, &Tensor> =
            self.params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        self.state.clear();
        for (key, t) in saved {
            if key == "steps" {
                self.steps = t.int64_value(&[0]);
                continue;
            }
            let Some((_, pname)) = key.split_once('.') else {
                bail!("{}: unexpected entry `{key}`", path.display());
            };
            let Some(p) = by_name.get(pname) else {
                bail!("{}: `{key}` names no parameter", path.display());
            };
            // same strides as the parameter (channels-last convolutions)
            let mut buf = p.zeros_like().to_kind(Kind::Float);
            tch::no_grad(|| buf.copy_(&t.to_device(p.device())));
            self.state.insert(key, buf);
        }
        Ok(())
    }
}

/// The learning rate at `iteration` (0-based) of a run of `total` iterations.
pub fn schedule(name: Schedule, lr: f64, iteration: usize, total: usize) -> f64 {
    let total = total.max(1) as f64;
    let i = iteration as f64;
    let cos_between =
        |from: f64, to: f64, frac: f64| to + (from - to) * (1.0 + (PI * frac).cos()) / 2.0;
    match name {
        Schedule::Cosine => cos_between(lr, 0.0, i / total),
        Schedule::OneCycle => {
            // torch.optim.lr_scheduler.OneCycleLR(pct_start=0.3, div_factor=25, final_div_factor=1e4)
            let initial = lr / 25.0;
            let last = initial / 1e4;
            let warm = 0.3 * total - 1.0;
            if i <= warm {
                cos_between(initial, lr, i / warm.max(1.0))
            } else {
                cos_between(
                    lr,
                    last,
                    ((i - warm) / (total - 1.0 - warm).max(1.0)).min(1.0),
                )
            }
        }
        Schedule::Constant => lr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three steps on loss = sum(c * p^3), against torch 2.11's optimizers:
    /// `SGD(lr=0.1, momentum=0.9, weight_decay=0.01)` and `AdamW(lr=0.1, weight_decay=0.01)`.
    #[test]
    fn optimizer_parity_with_pytorch() {
        let cases = [
            (
                Rule::Sgd {
                    momentum: 0.9,
                    weight_decay: 0.01,
                },
                [-0.119_479_5_f32, -228.333_66, -0.240_489_7],
            ),
            (
                Rule::AdamW { weight_decay: 0.01 },
                [0.701_519_7, -2.294_198, 0.212_125_9],
            ),
        ];
        for (rule, want) in cases {
            let vs = VarStore::new(tch::Device::Cpu);
            let p = vs
                .root()
                .var_copy("p", &Tensor::from_slice(&[1.0f32, -2.0, 0.5]));
            let c = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
            let mut opt = Optimizer::new(&vs, rule);
            for _ in 0..3 {
                opt.zero_grad();
                (&p * &p * &p * &c).sum(Kind::Float).backward();
                opt.step(0.1);
            }
            let got = Vec::<f32>::try_from(&p).unwrap();
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{rule:?}: {got:?} vs {want:?}"
                );
            }
        }
    }

    #[test]
    fn schedules_start_peak_and_end_where_pytorch_does() {
        assert_eq!(schedule(Schedule::Constant, 0.1, 50, 100), 0.1);
        assert!((schedule(Schedule::Cosine, 0.1, 0, 100) - 0.1).abs() < 1e-12);
        assert!((schedule(Schedule::Cosine, 0.1, 50, 100) - 0.05).abs() < 1e-12);
        assert!((schedule(Schedule::OneCycle, 0.1, 0, 100) - 0.004).abs() < 1e-12);
        // peak at step pct_start * total - 1
        assert!((schedule(Schedule::OneCycle, 0.1, 29, 100) - 0.1).abs() < 1e-9);
        assert!((schedule(Schedule::OneCycle, 0.1, 99, 100) - 0.004 / 1e4).abs() < 1e-12);
    }
}
