#!/bin/bash
# Local vs Slurm vs a remote cache (BENCHMARKS.md, "On a cluster"): a 64 px pipeline on
# kermany-dev, each variant in a fresh workspace under $B, one after the other. Needs a
# release build and Slurm (scripts/slurm.sh up).
set -e
cd "$(dirname "$0")/.."
BIN=$PWD/target/release/pneumo-pipeline
DATA=${DATA:-$PWD/../shared/data/kermany-dev}
B=${B:-/tmp/pneumo-bench-cluster}
CFG='stages:
  index:
    kind: index
  split:
    kind: split
    needs: [index]
  preprocess:
    kind: preprocess
    needs: [index]
    params: {size: 64}
  train:
    kind: train
    needs: [split, preprocess]
    params: {batch_size: 32, eval_every: 20, max_iterations: 40, seed: 3}
  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
'
mk() { rm -rf $1; mkdir -p $1/data; ln -s $DATA $1/data/chest_xray; printf '%s%s' "$2" "$CFG" > $1/pipeline.yaml; }
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo FAILED "$@"; exit 1; }; echo "$(echo "$(date +%s.%N) - $s" | bc)"; }
mk $B/local ""
echo "local: $(t $BIN -w $B/local run -q)"
mk $B/slurm "executor: {kind: slurm, poll: 1}
"
echo "slurm (poll 1 s): $(t $BIN -w $B/slurm run -q)"
rm -rf $B/remote
mk $B/push "cache: {remote: 'file://$B/remote'}
"
echo "local + push: $(t $BIN -w $B/push run -q)"
mk $B/pull "cache: {remote: 'file://$B/remote'}
"
echo "pull everything: $(t $BIN -w $B/pull run -q)"
du -sh $B/remote
cmp <(grep -v seconds $B/local/pipeline.lock | grep -v wall) <(grep -v seconds $B/slurm/pipeline.lock | grep -v wall) && echo "locks: slurm == local (but wall-time fields)" || true
