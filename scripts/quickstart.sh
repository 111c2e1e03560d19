#!/usr/bin/env bash
# Set up libtorch (scripts/setup.sh), build pneumo-pipeline and run the default pipeline.yaml.
# Links the development dataset (../shared/data/kermany-dev) to data/chest_xray when no
# dataset is there yet; a real Kaggle download unpacked at data/chest_xray is used as is.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -e data/chest_xray ]; then
    if [ -d ../shared/data/kermany-dev ]; then
        ln -s "$PWD/../shared/data/kermany-dev" data/chest_xray
        echo "linked data/chest_xray -> ../shared/data/kermany-dev" >&2
    else
        echo "no dataset at data/chest_xray: see data/README.md" >&2
    fi
fi

scripts/setup.sh
# --workspace: the same build the tests use, so that nothing is compiled twice
cargo build --release --workspace
./target/release/pneumo-pipeline run "$@"
echo "report: reports/report.md and reports/report.html; classify files with ./target/release/pneumo-pipeline predict IMAGE..." >&2
