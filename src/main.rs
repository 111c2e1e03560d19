//! `pneumo-pipeline`: run, inspect and clean the chest X-ray pipeline declared in
//! pipeline.yaml. The subcommands live in `cli::commands`.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use pneumo_pipeline::pipeline::runner::Selection;

#[derive(Parser)]
#[command(
    version,
    about = "Reproducible pediatric chest X-ray classification pipeline"
)]
struct Args {
    /// Folder holding pipeline.yaml (default: the current folder)
    #[arg(long, short = 'w', global = true, default_value = ".")]
    workspace: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run stale stages (and what they need) in dependency order; skip fresh ones
    Run {
        /// Stages to bring up to date (default: all)
        stages: Vec<String>,
        /// Re-run the named stages (or all) even when fresh
        #[arg(long)]
        force: bool,
        /// Fail instead of waiting when another run holds the workspace
        #[arg(long)]
        no_wait: bool,
        /// Print only warnings and errors
        #[arg(long, short)]
        quiet: bool,
        /// Run up to N stages at once, within the machine's cores (a stage takes its
        /// `resources: {cpus}`, or every core for training and preprocessing)
        #[arg(long, short = 'j', default_value_t = 1)]
        jobs: usize,
        /// Where built-in stages run: `local`, or `slurm` (one batch job per stage; default:
        /// pipeline.yaml's `executor:`, else local)
        #[arg(long, value_parser = ["local", "slurm"])]
        executor: Option<String>,
        /// A remote cache to pull from and push to (`file:///path`, `s3://bucket/prefix`;
        /// default: pipeline.yaml's `cache: {remote}`)
        #[arg(long)]
        remote: Option<String>,
        /// Each stage's outcome (fresh, restored, pulled, ran) and seconds as one JSON array
        /// on stdout
        #[arg(long)]
        json: bool,
    },
    /// Show each stage as fresh or stale, and why
    Status {
        stages: Vec<String>,
        /// Machine-readable output on stdout
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of pipeline.yaml, generated from the stages' params types (for
    /// editors: yaml-language-server, VS Code; the repository keeps a copy in
    /// docs/pipeline.schema.json)
    Schema,
    /// Print the stage graph
    Dag {
        /// Graphviz dot instead of text
        #[arg(long)]
        dot: bool,
    },
    /// Classify image files with the trained model (its preprocessing and threshold)
    Predict {
        /// Image files (JPEG or PNG)
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Model folder (model.json + weights); default: the evaluate stage's, else train's
        #[arg(long)]
        model: Option<PathBuf>,
        /// Write a Grad-CAM overlay per image into this folder
        #[arg(long)]
        heatmap: Option<PathBuf>,
        /// JSON on stdout instead of one tab-separated line per image
        #[arg(long)]
        json: bool,
        /// cpu, cuda or auto
        #[arg(long, default_value = "cpu")]
        device: pneumo_pipeline::contract::choices::Device,
    },
    /// Run one stage from its job file (`.pneumo/jobs/KEY.json`, written by `run`) in this
    /// process, as a cluster node does; its outputs go to the job's `out_dir`
    ExecStage {
        job: PathBuf,
        /// Print only warnings and errors
        #[arg(long, short)]
        quiet: bool,
    },
    /// Experiments: variants of pipeline.yaml run in this workspace and cache
    Exp {
        #[command(subcommand)]
        command: ExpCommand,
    },
    /// Params of the last `run` against an experiment's (default: the newest)
    Params {
        #[command(subcommand)]
        command: DiffCommand,
    },
    /// Metrics of the last `run` against an experiment's (default: the newest)
    Metrics {
        #[command(subcommand)]
        command: DiffCommand,
    },
    /// Push every cache entry pipeline.lock references to the remote cache (those made
    /// before a remote was set up; `run` pushes what it runs by itself)
    Push {
        /// Default: pipeline.yaml's `cache: {remote}`
        #[arg(long)]
        remote: Option<String>,
    },
    /// Delete cache entries that pipeline.lock does not reference
    Clean {
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Subcommand)]
enum ExpCommand {
    /// Run pipeline.yaml with changed params, recorded under .pneumo/exps/NAME
    Run {
        /// STAGE.PARAM=VALUE (VALUE is YAML; `train.matrix.seed=[0,1]` sets a stage field)
        #[arg(long = "set", short = 'S', required = true)]
        sets: Vec<String>,
        /// Its name (default exp-N)
        #[arg(long)]
        name: Option<String>,
        #[arg(long, short = 'j', default_value_t = 1)]
        jobs: usize,
        #[arg(long, short)]
        quiet: bool,
        #[arg(long)]
        no_wait: bool,
        /// Each stage's outcome and seconds as one JSON array on stdout
        #[arg(long)]
        json: bool,
    },
    /// A table of experiments: what each changed, and its metrics
    Show {
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
        /// Sort by this metric column, highest first (e.g. evaluate:val:roc_auc)
        #[arg(long)]
        sort: Option<String>,
        /// Every metric, not only ROC AUC, accuracy and specificity
        #[arg(long)]
        all: bool,
    },
    /// Params and metrics of two experiments (`workspace` is the last run)
    Diff { a: String, b: String },
}

#[derive(Subcommand)]
enum DiffCommand {
    /// Against an experiment (default: the newest)
    Diff { exp: Option<String> },
}

fn main() -> ExitCode {
    let args = Args::parse();
    // one absolute workspace for the whole run: what the engine resolves (canonical paths,
    // links) and what it was given then compare as paths, whatever form `-w` took
    let ws = match std::path::absolute(&args.workspace) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("error: the workspace `{}`: {e}", args.workspace.display());
            return ExitCode::from(2);
        }
    };
    let result = match args.command {
        Command::Run {
            stages,
            force,
            no_wait,
            quiet,
            jobs,
            executor,
            remote,
            json,
        } => cli::commands::run(
            &ws,
            Selection {
                targets: stages,
                force,
            },
            cli::commands::RunOptions {
                wait: !no_wait,
                quiet,
                jobs,
                executor,
                remote,
                json,
            },
        ),
        Command::Status { stages, json } => cli::commands::status(
            &ws,
            Selection {
                targets: stages,
                force: false,
            },
            json,
        ),
        Command::Dag { dot } => cli::commands::show_dag(&ws, dot),
        Command::Schema => cli::write_out(format_args!(
            "{}",
            pneumo_pipeline::pipeline::schema::render(&pneumo_pipeline::stages::registry())
        ))
        .map(|()| 0),
        Command::Predict {
            images,
            model,
            heatmap,
            json,
            device,
        } => cli::predict::predict(&ws, &images, model, heatmap, json, device),
        Command::ExecStage { job, quiet } => cli::commands::exec_stage(&job, quiet),
        Command::Exp { command } => match command {
            ExpCommand::Run {
                sets,
                name,
                jobs,
                quiet,
                no_wait,
                json,
            } => cli::exp::run(
                &ws,
                cli::exp::RunOptions {
                    sets,
                    name,
                    jobs,
                    quiet,
                    wait: !no_wait,
                    json,
                },
            ),
            ExpCommand::Show {
                json,
                csv,
                sort,
                all,
            } => {
                let format = match (json, csv) {
                    (true, _) => cli::exp::Format::Json,
                    (_, true) => cli::exp::Format::Csv,
                    _ => cli::exp::Format::Text,
                };
                cli::exp::show(&ws, format, sort.as_deref(), all)
            }
            ExpCommand::Diff { a, b } => cli::exp::diff(&ws, &a, &b),
        },
        Command::Params {
            command: DiffCommand::Diff { exp },
        } => cli::exp::against_workspace(&ws, exp.as_deref(), true),
        Command::Metrics {
            command: DiffCommand::Diff { exp },
        } => cli::exp::against_workspace(&ws, exp.as_deref(), false),
        Command::Clean { no_wait } => cli::commands::clean(&ws, !no_wait),
        Command::Push { remote } => cli::commands::push(&ws, remote.as_deref()),
    };
    match result.and_then(|code| cli::flush_out().map(|()| code)) {
        Ok(code) => ExitCode::from(code as u8),
        // the reader went away (`status | head -1`): nothing left to say, as ripgrep does
        Err(e) if cli::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
