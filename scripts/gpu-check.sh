#!/usr/bin/env bash
# Runs on the GPU machine (PyTorch installed, no Rust, no network), from the repository root,
# with gpu/ carried (scripts/gpu-prepare.sh). Results go to $OUT (or gpu-out/).
#   scripts/gpu-check.sh speed   parity on the GPU + throughput beside PyTorch (fixture needed)
#   scripts/gpu-check.sh train   examples/patient-protocol-gpu.yaml on CUDA (gpu/data: a Kaggle-layout folder)
set -euo pipefail
what=${1:-speed}
device=${DEVICE:-cuda}
out=${OUT:-gpu-out}
mkdir -p "$out"
torch_lib=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1 || true
# Before any GPU minute is spent: the worker must reach CUDA through its own libtorch_cuda
# (linked by crates/pneumo-torch/build.rs). Stops here with libtorch's error otherwise.
gunzip -kf gpu/bin/pneumo-torch.gz && chmod +x gpu/bin/pneumo-torch
for bin in gpu/bin/pneumo-torch gpu/bin/parity gpu/bin/throughput; do
    if [ -e "$bin" ] && command -v readelf >/dev/null && ! readelf -d "$bin" | grep -q 'libtorch_cuda.so'; then
        echo "gpu-check: $bin is not linked to libtorch_cuda.so; rebuild with scripts/gpu-prepare.sh" >&2
        exit 3
    fi
done
if ! gpu/bin/pneumo-torch runtime --device "$device" > "$out/runtime.json" 2> "$out/runtime.err"; then
    echo "gpu-check: the worker cannot use device $device: $(cat "$out/runtime.err")" >&2
    exit 3
fi
cat "$out/runtime.json"
case "$what" in
speed)
    PNEUMO_PARITY_DEVICE=$device PNEUMO_FIXTURE_DIR=gpu/fixture \
        gpu/bin/parity --nocapture --test-threads 1 parity 2>&1 | tee "$out/parity.txt"
    { python3 gpu/torch_reference.py gpu/fixture --runs throughput --out "$out/peer-1.json" || true; } 2>&1 | tee "$out/peer-1.txt"
    gpu/bin/throughput 2>&1 | tee "$out/ours.txt"
    { python3 gpu/torch_reference.py gpu/fixture --runs throughput --out "$out/peer-2.json" || true; } 2>&1 | tee "$out/peer-2.txt"
    ;;
train)
    gunzip -kf gpu/bin/pneumo-pipeline.gz gpu/bin/pneumo-torch.gz
    chmod +x gpu/bin/pneumo-pipeline gpu/bin/pneumo-torch
    ws=$(mktemp -d)
    mkdir -p "$ws/data" && ln -s "$PWD/gpu/data" "$ws/data/chest_xray"
    sed -e "s/device: cuda/device: $device/" \
        examples/patient-protocol-gpu.yaml > "$ws/pipeline.yaml"
    PNEUMO_TORCH=$PWD/gpu/bin/pneumo-torch /usr/bin/time -v gpu/bin/pneumo-pipeline -w "$ws" run 2>&1 | tee "$out/train.txt"
    cp -rL "$ws/reports" "$out/" && cp "$ws/build/evaluate/metrics.json" "$out/"
    ;;
*) echo "usage: $0 speed|train" >&2; exit 2 ;;
esac
