//! `pneumo-torch`: the worker the pipeline's network stages run (it loads libtorch; the
//! `pneumo-pipeline` binary does not).
//!
//! `pneumo-torch train --workspace W --split DIR --cache DIR --out DIR --resume DIR --params JSON`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use pneumo_pipeline::stages::train::TrainParams;
use pneumo_torch::dataset::Dataset;
use pneumo_torch::train::{ModelCard, train, write_model_card};

fn arg(args: &[String], name: &str) -> anyhow::Result<String> {
    let i = args
        .iter()
        .position(|a| a == name)
        .with_context(|| format!("missing {name}"))?;
    args.get(i + 1)
        .cloned()
        .with_context(|| format!("{name} needs a value"))
}

fn run(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("train") => {
            let workspace = PathBuf::from(arg(args, "--workspace")?);
            let out = PathBuf::from(arg(args, "--out")?);
            let params: TrainParams = serde_json::from_str(&arg(args, "--params")?)?;
            let ds = Dataset::load(
                &PathBuf::from(arg(args, "--cache")?),
                &PathBuf::from(arg(args, "--split")?),
            )?;
            let resume = PathBuf::from(arg(args, "--resume")?);
            let summary = train(&workspace, &ds, &params, &out, &resume)?;
            write_model_card(
                &out,
                &ModelCard {
                    architecture: "torchvision resnet18, num_classes=1",
                    weights: pneumo_pipeline::stages::train::BEST,
                    params: &params,
                    threshold: params.threshold,
                    input_side: ds.side,
                    mean: ds.mean,
                    std: ds.std,
                },
            )?;
            eprintln!(
                "train: stopped after {} iterations: {}",
                summary.iterations, summary.stop_reason
            );
            Ok(())
        }
        _ => anyhow::bail!(
            "usage: pneumo-torch train --workspace W --split DIR --cache DIR --out DIR --resume DIR --params JSON"
        ),
    }
}

/// Exits when the process that started this worker dies (e.g. `kill -9` of a run), instead
/// of training on as an orphan into a temp folder the next run deletes.
fn exit_with_parent() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(250));
            if std::os::unix::process::parent_id() != parent {
                eprintln!(
                    "pneumo-torch: the pipeline run that started this worker is gone; stopping"
                );
                std::process::exit(1);
            }
        }
    });
}

fn main() -> ExitCode {
    exit_with_parent();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
