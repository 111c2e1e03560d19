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

use pneumo_contract::choices::Schedule;

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
    /// Step through libtorch's fused kernels (`fused.rs`) where the tensors allow; the
    /// per-op loop otherwise. Both are torch.optim's rule; they differ in float rounding.
    pub fused: bool,
    /// Steps this optimizer took through the fused kernels (not saved).
    pub fused_steps: u64,
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
            fused: true,
            fused_steps: 0,
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
        if self.fused && self.step_fused(lr) {
            self.fused_steps += 1;
        } else {
            self.step_loop(lr);
        }
    }

    /// The step through the fused kernels; false (and nothing changed) where they cannot
    /// take these tensors.
    fn step_fused(&mut self, lr: f64) -> bool {
        let slots: &[&str] = match self.rule {
            Rule::Sgd { momentum: 0.0, .. } => return false,
            Rule::Sgd { .. } => &["momentum"],
            Rule::AdamW { .. } => &["exp_avg", "exp_avg_sq"],
        };
        let grads: Vec<(usize, Tensor)> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, (_, p))| (i, p.grad()))
            .filter(|(_, g)| g.defined())
            .collect();
        if grads.is_empty() {
            return true;
        }
        // missing state starts at zero: AdamW's as torch.optim's, and SGD's zero buffer
        // makes the first step's `buf = grad`
        for (i, _) in &grads {
            let (name, p) = &self.params[*i];
            for slot in slots {
                self.state
                    .entry(format!("{slot}.{name}"))
                    .or_insert_with(|| p.zeros_like().to_kind(Kind::Float));
            }
        }
        let groups: Vec<Vec<&Tensor>> = grads
            .iter()
            .map(|(i, g)| {
                let (name, p) = &self.params[*i];
                let mut group = vec![p, g];
                group.extend(slots.iter().map(|s| &self.state[&format!("{s}.{name}")]));
                group
            })
            .collect();
        tch::no_grad(|| match self.rule {
            Rule::Sgd {
                momentum,
                weight_decay,
            } => crate::fused::sgd(&groups, lr, momentum, weight_decay),
            Rule::AdamW { weight_decay } => {
                crate::fused::adamw(&groups, self.steps, lr, BETA1, BETA2, weight_decay, EPS)
            }
        })
    }

    /// The step as separate tensor ops per parameter.
    fn step_loop(&mut self, lr: f64) {
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
        for ((rule, want), fused) in cases.iter().flat_map(|c| [(*c, true), (*c, false)]) {
            let vs = VarStore::new(tch::Device::Cpu);
            let p = vs
                .root()
                .var_copy("p", &Tensor::from_slice(&[1.0f32, -2.0, 0.5]));
            let c = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
            let mut opt = Optimizer::new(&vs, rule);
            opt.fused = fused;
            for _ in 0..3 {
                opt.zero_grad();
                (&p * &p * &p * &c).sum(Kind::Float).backward();
                opt.step(0.1);
            }
            let got = Vec::<f32>::try_from(&p).unwrap();
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{rule:?} (fused {fused}): {got:?} vs {want:?}"
                );
            }
        }
    }

    /// The fused kernels against the loop on channels-last convolution weights and a bias,
    /// over steps whose gradients change, with a save and load in the middle.
    #[test]
    fn the_fused_step_equals_the_loop() {
        let rules = [
            Rule::Sgd {
                momentum: 0.9,
                weight_decay: 1e-4,
            },
            Rule::AdamW { weight_decay: 0.05 },
        ];
        for rule in rules {
            // fixed values, not libtorch's global generator, which tests running beside this
            // one draw from
            let wavy = |shape: &[i64], f: f64| {
                let n: i64 = shape.iter().product();
                (Tensor::arange(n, (Kind::Float, tch::Device::Cpu)) * f)
                    .sin()
                    .reshape(shape)
            };
            let run = |fused: bool| {
                let vs = VarStore::new(tch::Device::Cpu);
                let w = vs.root().var_copy("weight", &wavy(&[16, 8, 3, 3], 0.37));
                let b = vs.root().var_copy("bias", &wavy(&[16], 1.3));
                crate::net::to_channels_last(&vs);
                assert!(!w.is_contiguous(), "the weight is channels-last");
                let x = wavy(&[4, 8, 6, 6], 0.11);
                let dir = tempfile::tempdir().unwrap();
                let mut opt = Optimizer::new(&vs, rule);
                opt.fused = fused;
                for i in 0..6 {
                    if i == 3 {
                        opt.save(&dir.path().join("o.safetensors")).unwrap();
                        opt = Optimizer::new(&vs, rule);
                        opt.fused = fused;
                        opt.load(&dir.path().join("o.safetensors")).unwrap();
                    }
                    opt.zero_grad();
                    let y = x.conv2d(&w, Some(&b), [1], [1], [1], 1);
                    (&y * &y).mean(Kind::Float).backward();
                    opt.step(0.05);
                }
                // the fused run took the fused kernels on every step after the reload
                assert_eq!(opt.fused_steps, if fused { 3 } else { 0 }, "{rule:?}");
                let out = Tensor::cat(&[w.flatten(0, -1), b.shallow_clone()], 0);
                Vec::<f32>::try_from(&out).unwrap()
            };
            let (fused, looped) = (run(true), run(false));
            let worst = fused
                .iter()
                .zip(&looped)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-5, "{rule:?}: fused and loop differ by {worst}");
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
