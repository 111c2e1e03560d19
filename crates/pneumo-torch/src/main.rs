//! `pneumo-torch`: the worker the pipeline's network stages run (it loads libtorch; the
//! `pneumo-pipeline` binary does not).
//!
//! - `pneumo-torch exec TASK.json`: one [`WorkerTask`] (train, score or Grad-CAM) written by a
//!   stage; progress and information go to stdout as JSON-line events for the engine.
//! - `pneumo-torch predict --model DIR [--device D] [--heatmap DIR] [--json] FILE...`
//! - `pneumo-torch runtime [--device D]`: where this worker would run, as runtime.json.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use pneumo_contract::card::ModelCard;
use pneumo_contract::choices::Device;
use pneumo_contract::task::WorkerTask;
use pneumo_contract::train::BEST;
use pneumo_torch::dataset::Dataset;
use pneumo_torch::infer::{self, Model};
use pneumo_torch::{runtime, say};

#[derive(Parser)]
#[command(about = "The libtorch worker of pneumo-pipeline")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a task file written by a pipeline stage; events as JSON lines on stdout
    Exec { task: PathBuf },
    /// Classify image files with a model folder (model.json + weights)
    Predict {
        #[arg(long)]
        model: PathBuf,
        /// cpu, cuda or auto
        #[arg(long, default_value = "cpu")]
        device: Device,
        /// Write a Grad-CAM overlay per image into this folder
        #[arg(long)]
        heatmap: Option<PathBuf>,
        /// JSON on stdout instead of one tab-separated line per image
        #[arg(long)]
        json: bool,
        /// Image files (after `--`, any name is a file)
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print where this worker would run (runtime.json); fails when the device cannot hold
    /// a tensor
    Runtime {
        /// cpu, cuda (tried even where libtorch finds none, to show its error) or auto
        #[arg(long, default_value = "cpu")]
        device: Device,
    },
}

fn exec(task: &WorkerTask) -> anyhow::Result<()> {
    match task {
        WorkerTask::Train {
            workspace,
            split,
            cache,
            out,
            resume,
            params,
        } => {
            let ds = Dataset::load(cache, split)?;
            let summary = pneumo_torch::train::train(workspace, &ds, params, out, resume)?;
            let device = pneumo_torch::train::device(params.device)?;
            let mut rt = runtime::current(device);
            let bf16 = pneumo_torch::precision::resolve(params.precision, device);
            rt.precision = Some(if bf16 { "bf16" } else { "fp32" }.into());
            rt.write(out)?;
            ModelCard {
                format: 0,
                architecture: params.arch.describe(),
                weights: BEST.into(),
                params: (**params).clone(),
                threshold: params.threshold,
                threshold_rule: None,
                calibration: None,
                tta: None,
                precision: None,
                adabn: false,
                input_side: ds.side,
                mean: ds.mean,
                std: ds.std,
                equalize: ds.equalize,
                decode: ds.decode,
            }
            .write(out)?;
            say::info(&format!(
                "train: stopped after {} iterations: {}",
                summary.iterations, summary.stop_reason
            ));
        }
        WorkerTask::Score {
            split,
            cache,
            model,
            device,
            roles,
            out,
        } => {
            let model = Model::load(model, *device)?;
            let ds = Dataset::load(cache, split)?;
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            let n = infer::score(&model, &ds, &roles, out)?;
            if let Some(dir) = out.parent() {
                let mut rt = runtime::current(model.device);
                rt.precision = Some(if model.bf16 { "bf16" } else { "fp32" }.into());
                rt.write(dir)?;
            }
            say::info(&format!("score: {n} images of {}", roles.join(", ")));
        }
        WorkerTask::Gradcam {
            split,
            originals,
            cache,
            model,
            predictions,
            params,
            out,
        } => {
            let model = Model::load(model, params.device)?;
            let ds = Dataset::load(cache, split)?;
            infer::gradcam(&model, &ds, predictions, originals, params, out)?;
            runtime::current(model.device).write(out)?;
        }
    }
    Ok(())
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Exec { task } => {
            say::to_events();
            if let Some(n) = std::env::var(pneumo_contract::task::THREADS_ENV)
                .ok()
                .and_then(|v| v.parse::<i32>().ok())
                .filter(|n| *n > 0)
            {
                tch::set_num_threads(n);
            }
            exec(&WorkerTask::load(&task)?)
        }
        Command::Predict {
            model,
            device,
            heatmap,
            json,
            files,
        } => predict(&model, device, heatmap, json, &files),
        Command::Runtime { device } => {
            let device = match device {
                Device::Cuda => tch::Device::Cuda(0),
                other => pneumo_torch::train::device(other)?,
            };
            let rt = runtime::current(device);
            println!("{}", serde_json::to_string_pretty(&rt)?);
            runtime::check_device(device)
        }
    }
}

/// One line (or one JSON object) per file on stdout; an error when any file had no
/// prediction.
fn predict(
    model: &std::path::Path,
    device: Device,
    heatmap: Option<PathBuf>,
    json: bool,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let model = Model::load(model, device)?;
    let results = pneumo_torch::predict::predict(&model, files, heatmap.as_deref())?;
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
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
