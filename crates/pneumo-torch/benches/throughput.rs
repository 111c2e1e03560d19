//! `cargo bench -p pneumo-torch --bench throughput`: ResNet-18 training and inference
//! images/s on random input, the protocol of `../shared/tools/torch_reference.py --runs
//! throughput` (one logit, BCE-with-logits, SGD lr 1e-3 momentum 0.9; on the CPU batch 32 at
//! 224 and 128 px, 2 warm-up steps then 3 timed). Run the peer in the same session to compare.
//! The CPU cases are channels-last in fp32 and bf16 autocast (bf16 is emulated, and slow,
//! where the CPU lacks AMX and AVX512-BF16: the first line says which). Then the optimizer
//! step alone on ResNet-18's parameters, fused kernels against the per-op loop.
//! `PNEUMO_BENCH_FP32_ONLY=1` skips the bf16 cases; `PNEUMO_BENCH_LOOP=1` trains with the
//! per-op optimizer loop instead of the fused step (the before of a before/after);
//! `PNEUMO_BENCH_ARCH=densenet121` (or `resnet34`, `resnet50`) times that network instead of
//! ResNet-18 (the peer reads the same variable); `PNEUMO_BENCH_STEPS=N` times N steps
//! instead of 3 (or 50 on CUDA), for figures steadier than this machine's noise.

use std::time::Instant;

use pneumo_contract::choices::Arch;
use pneumo_torch::net;
use pneumo_torch::net::{channels_last, to_channels_last};
use pneumo_torch::optim::{Optimizer, Rule};
use pneumo_torch::precision::autocast_bf16;
use pneumo_torch::resnet::ResNet;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let device = Device::cuda_if_available();
    let (warm, mut timed) = if device.is_cuda() { (10, 50) } else { (2, 3) };
    if let Some(n) = std::env::var("PNEUMO_BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        timed = n.max(1);
    }
    println!(
        "device {device:?}, libtorch threads {}",
        tch::get_num_threads()
    );
    println!(
        "native bf16: {}",
        pneumo_torch::precision::native_bf16(device)
    );
    println!("| case | train img/s | infer img/s |");
    println!("|---|---:|---:|");
    let mut cases = vec![
        (32i64, 224i64, true, false),
        (32, 224, true, true),
        (32, 128, true, false),
        (32, 128, true, true),
    ];
    if device.is_cuda() {
        // what the issue asks of the GPU: batch 32 and 128 at 224 px, fp32 and bf16 autocast
        cases = vec![
            (32, 224, true, false),
            (128, 224, true, false),
            (32, 224, true, true),
            (128, 224, true, true),
        ];
    }
    let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
    if flag("PNEUMO_BENCH_FP32_ONLY") {
        cases.retain(|c| !c.3);
    }
    let fused = !flag("PNEUMO_BENCH_LOOP");
    let arch: Arch = match std::env::var("PNEUMO_BENCH_ARCH") {
        Ok(a) => serde_json::from_value(a.clone().into())
            .unwrap_or_else(|_| panic!("PNEUMO_BENCH_ARCH={a}: expected one of {:?}", Arch::ALL)),
        Err(_) => Arch::ResNet18,
    };
    println!(
        "network {arch}, optimizer: {}",
        if fused { "fused" } else { "loop" }
    );
    for (batch, px, cl, bf16) in cases {
        tch::manual_seed(0);
        let vs = VarStore::new(device);
        let net = net::build(arch, &vs.root(), 1);
        if cl {
            to_channels_last(&vs);
        }
        // the trainer's own optimizer (optim.rs), so this measures the loop `train` runs
        let mut opt = Optimizer::new(
            &vs,
            Rule::Sgd {
                momentum: 0.9,
                weight_decay: 0.0,
            },
        );
        opt.fused = fused;
        let mut x = Tensor::randn([batch, 3, px, px], (Kind::Float, device));
        if cl {
            x = channels_last(&x);
        }
        let y = Tensor::randint(2, [batch, 1], (Kind::Float, device));
        let mut step = || {
            let loss = autocast_bf16(device, bf16, || net.forward_t(&x, true))
                .to_kind(Kind::Float)
                .binary_cross_entropy_with_logits::<Tensor>(&y, None, None, tch::Reduction::Mean);
            opt.zero_grad();
            loss.backward();
            opt.step(1e-3);
        };
        for _ in 0..warm {
            step();
        }
        sync(device);
        let t = Instant::now();
        for _ in 0..timed {
            step();
        }
        sync(device);
        let train = (batch * timed) as f64 / t.elapsed().as_secs_f64();
        let infer = tch::no_grad(|| {
            for _ in 0..warm {
                let _ = autocast_bf16(device, bf16, || net.forward_t(&x, false));
            }
            sync(device);
            let t = Instant::now();
            for _ in 0..timed {
                let _ = autocast_bf16(device, bf16, || net.forward_t(&x, false));
            }
            sync(device);
            (batch * timed) as f64 / t.elapsed().as_secs_f64()
        });
        let layout = if cl { "channels-last" } else { "contiguous" };
        let precision = if bf16 { "bf16 autocast" } else { "fp32" };
        println!("| batch {batch}, {px} px, {precision}, {layout} | {train:.1} | {infer:.1} |");
    }
    optimizer_steps(device);
}

/// Milliseconds per optimizer step over ResNet-18's parameters (channels-last, random
/// gradients), fused and looped, for the trainer's two rules.
fn optimizer_steps(device: Device) {
    println!();
    println!("| optimizer step, ResNet-18 | fused ms | loop ms |");
    println!("|---|---:|---:|");
    let rules = [
        (
            "SGD momentum 0.9",
            Rule::Sgd {
                momentum: 0.9,
                weight_decay: 1e-4,
            },
        ),
        ("AdamW", Rule::AdamW { weight_decay: 0.05 }),
    ];
    for (name, rule) in rules {
        let mut ms = [0.0; 2];
        for (slot, fused) in [true, false].into_iter().enumerate() {
            tch::manual_seed(0);
            let vs = VarStore::new(device);
            let _net = ResNet::resnet18(&vs.root(), 1);
            to_channels_last(&vs);
            let params: Vec<Tensor> = vs
                .trainable_variables()
                .into_iter()
                .filter(|p| p.requires_grad())
                .collect();
            // a backward pass allocates the gradients, in each parameter's layout
            let zero = params
                .iter()
                .fold(Tensor::zeros([], (Kind::Float, device)), |acc, p| {
                    acc + (p * 0.0).sum(Kind::Float)
                });
            zero.backward();
            tch::no_grad(|| {
                for p in &params {
                    p.grad().copy_(&p.randn_like());
                }
            });
            let mut opt = Optimizer::new(&vs, rule);
            opt.fused = fused;
            let steps = if device.is_cuda() { 50 } else { 20 };
            for _ in 0..3 {
                opt.step(1e-3);
            }
            sync(device);
            let t = Instant::now();
            for _ in 0..steps {
                opt.step(1e-3);
            }
            sync(device);
            ms[slot] = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
        }
        println!("| {name} | {:.2} | {:.2} |", ms[0], ms[1]);
    }
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}
