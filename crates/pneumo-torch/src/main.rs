//! `pneumo-torch`: the worker the pipeline's network stages run (it loads libtorch; the
//! `pneumo-pipeline` binary does not).
//!
//! `pneumo-torch train --workspace W --split DIR --cache DIR --out DIR --resume DIR --params JSON`
//!
//! `pneumo-torch score --split DIR --cache DIR --model DIR --device D --roles R,R --out FILE`
//! `pneumo-torch gradcam --split DIR --cache DIR --model DIR --predictions FILE --params JSON --out DIR`
//! `pneumo-torch predict --model DIR [--device D] [--heatmap DIR] [--json] FILE...`
//! `pneumo-torch runtime [--device D]`
//!
//! `train` and `gradcam` write `runtime.json` (where they ran: CPU, libtorch, kernels,
//! threads, device) into `--out`; `score` beside its `--out` file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use pneumo_pipeline::stages::gradcam::GradcamParams;
use pneumo_pipeline::stages::train::TrainParams;
use pneumo_torch::dataset::Dataset;
use pneumo_torch::infer::{self, Model};
use pneumo_torch::runtime;
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
            runtime::current(pneumo_torch::train::device(params.device.as_str())?).write(&out)?;
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
            pneumo_torch::note!(
                "train: stopped after {} iterations: {}",
                summary.iterations,
                summary.stop_reason
            );
            Ok(())
        }
        Some("score") => {
            let model = Model::load(
                &PathBuf::from(arg(args, "--model")?),
                &arg(args, "--device")?,
            )?;
            let ds = Dataset::load(
                &PathBuf::from(arg(args, "--cache")?),
                &PathBuf::from(arg(args, "--split")?),
            )?;
            let roles = arg(args, "--roles")?;
            let roles: Vec<&str> = roles.split(',').collect();
            let out = PathBuf::from(arg(args, "--out")?);
            let n = infer::score(&model, &ds, &roles, &out)?;
            if let Some(dir) = out.parent() {
                runtime::current(model.device).write(dir)?;
            }
            pneumo_torch::note!("score: {n} images of {}", roles.join(", "));
            Ok(())
        }
        Some("gradcam") => {
            let params: GradcamParams = serde_json::from_str(&arg(args, "--params")?)?;
            let model = Model::load(
                &PathBuf::from(arg(args, "--model")?),
                params.device.as_str(),
            )?;
            let ds = Dataset::load(
                &PathBuf::from(arg(args, "--cache")?),
                &PathBuf::from(arg(args, "--split")?),
            )?;
            let out = PathBuf::from(arg(args, "--out")?);
            infer::gradcam(
                &model,
                &ds,
                &PathBuf::from(arg(args, "--predictions")?),
                &params,
                &out,
            )?;
            runtime::current(model.device).write(&out)?;
            Ok(())
        }
        Some("predict") => predict(&args[1..]),
        Some("runtime") => {
            // `runtime --device D`: where this worker would run, as runtime.json; fails with
            // libtorch's own error when the device cannot hold a tensor (scripts/gpu-check.sh
            // asks this before spending GPU time)
            let name = arg(args, "--device").unwrap_or_else(|_| "cpu".into());
            let device = match name.as_str() {
                "cuda" => tch::Device::Cuda(0),
                other => pneumo_torch::train::device(other)?,
            };
            let rt = runtime::current(device);
            println!("{}", serde_json::to_string_pretty(&rt)?);
            runtime::check_device(device)
        }
        _ => anyhow::bail!(
            "usage: pneumo-torch train|score|gradcam|predict|runtime ... (see the doc comment of crates/pneumo-torch/src/main.rs)"
        ),
    }
}

/// `predict --model DIR [--device D] [--heatmap DIR] [--json] FILE...`: one line (or one JSON
/// object) per file on stdout; exit status 1 when any file had no prediction.
fn predict(args: &[String]) -> anyhow::Result<()> {
    let (mut model_dir, mut device, mut heatmap, mut json) = (None, "cpu".to_string(), None, false);
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => model_dir = it.next().map(PathBuf::from),
            "--device" => device = it.next().cloned().unwrap_or_default(),
            "--heatmap" => heatmap = it.next().map(PathBuf::from),
            "--json" => json = true,
            // everything after `--` is a file, whatever its name
            "--" => files.extend(it.by_ref().map(PathBuf::from)),
            flag if flag.starts_with('-') => {
                anyhow::bail!(
                    "predict: unknown option `{flag}` (a file of that name goes after `--`)"
                )
            }
            _ => files.push(PathBuf::from(a)),
        }
    }
    anyhow::ensure!(!files.is_empty(), "predict: no image files given");
    let model = Model::load(&model_dir.context("--model is required")?, &device)?;
    let results = infer::predict(&model, &files, heatmap.as_deref())?;
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            match (&r.error, r.probability, r.label) {
                (Some(e), _, _) => eprintln!("error: {}: {e}", r.file),
                (None, Some(p), Some(label)) => {
                    let heat = r
                        .heatmap
                        .as_deref()
                        .map(|h| format!("\t{h}"))
                        .unwrap_or_default();
                    println!("{}\t{p:.4}\t{label}{heat}", r.file)
                }
                _ => {}
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files could not be read", results.len());
    }
    Ok(())
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
                // _exit, not exit: exit runs libtorch's static destructors while the main
                // thread is still inside libtorch, which then prints an "INTERNAL ASSERT
                // FAILED ... report a bug to PyTorch" message on the way out
                // SAFETY: ends the process at once; nothing here needs flushing beyond the
                // line above (stderr is unbuffered)
                unsafe { libc::_exit(1) };
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
