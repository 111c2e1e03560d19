#!/usr/bin/env bash
# Prepares gpu/ (git-ignored) for the GPU machine, which has PyTorch but no Rust toolchain:
# stripped binaries built here, the parity fixture, the peer script, and (for the training
# check) a copy of the dataset, deleted again with `rm -rf gpu`. Carry is limited to 64 MiB a
# call, so the checks are two calls of scripts/gpu-check.sh:
#   speed: carry ["gpu/bin/parity", "gpu/bin/throughput", "gpu/bin/pneumo-torch.gz", "gpu/fixture", "gpu/torch_reference.py"]
#   train: carry ["gpu/bin/pneumo-pipeline.gz", "gpu/bin/pneumo-torch.gz", "gpu/data"]
# Both start with `pneumo-torch runtime --device cuda`, which stops a call whose binaries
# cannot reach CUDA before its minutes are spent.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
cargo build --release --workspace
cargo test --release --workspace --no-run 2>/dev/null
cargo bench --workspace --no-run 2>/dev/null
newest() { ls -t target/release/deps/$1-* | grep -v '\.d$' | head -1; }
[ -d gpu ] && chmod -R u+w gpu && rm -rf gpu
mkdir -p gpu/bin
strip -o gpu/bin/parity "$(newest parity)"
strip -o gpu/bin/throughput "$(newest throughput)"
cp -r "$shared/fixtures/torchvision-resnet18" gpu/fixture
cp "$shared/tools/torch_reference.py" gpu/
# the pipeline itself, gzipped (33 + 28 MB stripped) for the training call
strip -o gpu/bin/pneumo-pipeline target/release/pneumo-pipeline
strip -o gpu/bin/pneumo-torch target/release/pneumo-torch
gzip -9 gpu/bin/pneumo-pipeline gpu/bin/pneumo-torch
cp -r "$shared/data/kermany-dev" gpu/data
du -sh gpu/bin/* gpu/fixture gpu/data
for bin in gpu/bin/parity gpu/bin/throughput target/release/pneumo-torch; do
    readelf -d "$bin" | grep -q libtorch_cuda.so || echo "gpu-prepare: $bin lacks libtorch_cuda.so (a CPU-only libtorch?)" >&2
done
