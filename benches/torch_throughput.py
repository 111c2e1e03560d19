#!/usr/bin/env python3
"""The peer of `cargo bench -p pneumo-torch --bench throughput` on the CPU, case for case:
ResNet-18 (torchvision, one logit), channels-last, batch 32 at 224 and 128 px, fp32 and bf16
autocast, BCE-with-logits, SGD lr 1e-3 momentum 0.9, 2 warm-up then 3 timed steps; then
torch.optim's step alone on ResNet-18's parameters with random gradients, fused and
single-tensor (the CPU default), 3 warm-up then 20 timed steps.

    .venv/bin/python benches/torch_throughput.py

PNEUMO_BENCH_ARCH=densenet121 (or resnet34, resnet50) times that network instead, as the Rust
bench does; the optimizer-step table stays ResNet-18's. PNEUMO_BENCH_FP32_ONLY=1 skips the bf16
cases and PNEUMO_BENCH_STEPS=N times N steps instead of 3, both as the Rust bench reads them.
"""
import os
import time

import torch
import torch.nn.functional as F
import torchvision


ARCH = os.environ.get("PNEUMO_BENCH_ARCH", "resnet18")
FP32_ONLY = os.environ.get("PNEUMO_BENCH_FP32_ONLY") == "1"
STEPS = int(os.environ.get("PNEUMO_BENCH_STEPS", "3"))


def model(arch="resnet18"):
    net = getattr(torchvision.models, arch)(num_classes=1)
    return net.to(memory_format=torch.channels_last)


print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, network {ARCH}")
print("| case | train img/s | infer img/s |")
print("|---|---:|---:|")
for px in (224, 128):
    for bf16 in (False,) if FP32_ONLY else (False, True):
        torch.manual_seed(0)
        m = model(ARCH)
        opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
        x = torch.randn(32, 3, px, px).to(memory_format=torch.channels_last)
        y = torch.randint(0, 2, (32, 1)).float()

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.binary_cross_entropy_with_logits(m(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(2):
            step()
        t = time.perf_counter()
        for _ in range(STEPS):
            step()
        train = 32 * STEPS / (time.perf_counter() - t)
        m.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for _ in range(2):
                m(x)
            t = time.perf_counter()
            for _ in range(STEPS):
                m(x)
            infer = 32 * STEPS / (time.perf_counter() - t)
        precision = "bf16 autocast" if bf16 else "fp32"
        print(f"| batch 32, {px} px, {precision}, channels-last | {train:.1f} | {infer:.1f} |")

print()
print("| optimizer step, ResNet-18 | fused ms | single-tensor ms |")
print("|---|---:|---:|")
for name, make in (
    ("SGD momentum 0.9", lambda ps, **k: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, weight_decay=1e-4, **k)),
    ("AdamW", lambda ps, **k: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.05, **k)),
):
    ms = []
    for kw in ({"fused": True}, {"foreach": False}):
        torch.manual_seed(0)
        m = model()
        for p in m.parameters():
            p.grad = torch.randn_like(p)
        opt = make(m.parameters(), **kw)
        for _ in range(3):
            opt.step()
        t = time.perf_counter()
        for _ in range(20):
            opt.step()
        ms.append((time.perf_counter() - t) * 1e3 / 20)
    print(f"| {name} | {ms[0]:.2f} | {ms[1]:.2f} |")
