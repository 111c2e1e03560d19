//! `charts`: plotters figures from the artifacts of train, evaluate and gradcam: training
//! curves with the early-stopping point, ROC and PR curves with the operating point, the
//! confusion matrices, a reliability diagram, the mean Grad-CAM maps and the deletion curve.
//! PNG, plus SVG for the line charts.

use fs_err as fs;
use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use serde::{Deserialize, Serialize};

use super::evaluate::{METRICS, Metrics, read_predictions};
use super::gradcam::{self, GradcamSummary};
use crate::contract::gradcam::{DeletionPoint, read_deletion};
use crate::contract::predictions::Prediction;
use crate::contract::summary::{Evaluation, TrainSummary, read_history};
use crate::model::explain::viridis;
use crate::pipeline::stage::{StageContext, TypedStage};
use crate::stages::{Evaluate, Gradcam, Train};

mod draw;
pub mod forest;
mod panels;
mod scoring;
pub mod spec;

// explicit, so they shadow plotters' colours of the same names
use draw::{BLUE, GREEN, GREY, ORANGE, PURPLE, RED, fonts, save_chart};
pub use draw::{Chart, Line, Rgb};
use panels::{confusion, mean_cams};
use spec::{ChartInputs, Figure, figures};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartParams {
    #[serde(default = "d_width")]
    pub width: u32,
    #[serde(default = "d_height")]
    pub height: u32,
    /// Also write SVG for the line charts.
    #[serde(default = "d_true")]
    pub svg: bool,
}

fn d_width() -> u32 {
    900
}
fn d_height() -> u32 {
    560
}
fn d_true() -> bool {
    true
}

/// charts.json: chart name -> (file, caption), in display order.
pub use crate::contract::charts::{ChartFile, FILE as INDEX};
use crate::contract::charts::{ChartIndex, FORMAT};

pub struct Charts;

impl TypedStage for Charts {
    type Params = ChartParams;
    const USES_ALL_CORES: bool = false;
    const KIND: &'static str = "charts";

    // 2: each class's score distribution with the threshold (`scores`); 3: charts.json an
    // object with its format (crate::contract::charts)
    const VERSION: u32 = 3;

    const UPSTREAMS: &'static [&'static str] = &[Train::KIND, Evaluate::KIND, Gradcam::KIND];

    fn check(&self, p: &mut ChartParams) -> Result<(), String> {
        // each message names the one key at fault, which the config error is located at
        for (key, v, lo) in [("width", p.width, 200), ("height", p.height, 150)] {
            if !(lo..=4000).contains(&v) {
                return Err(format!(
                    "invalid value `{key}`: {v}, must be {lo}..4000 pixels"
                ));
            }
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext<'_>, p: ChartParams) -> anyhow::Result<()> {
        let files = render_all(
            ctx.upstream_of::<Train>()?,
            ctx.upstream_of::<Evaluate>()?,
            ctx.upstream_of::<Gradcam>()?,
            ctx.out_dir,
            &p,
        )?;
        let figures = files.len();
        crate::contract::save(
            &ctx.out_dir.join(INDEX),
            &ChartIndex {
                format: FORMAT,
                files,
            },
        )?;
        ctx.reporter.info(&format!("charts: {figures} figures"));
        Ok(())
    }
}

fn render_all(
    train: &Path,
    evaluate: &Path,
    gradcam_dir: &Path,
    out: &Path,
    p: &ChartParams,
) -> anyhow::Result<Vec<ChartFile>> {
    fonts();
    let inputs = ChartInputs::read(train, evaluate, gradcam_dir)?;
    let mut files = Vec::new();
    for figure in figures(&inputs) {
        files.push(match figure {
            Figure::Line(spec) => save_chart(&spec.chart, out, &spec.name, &spec.caption, p)?,
            Figure::Confusion => confusion(&inputs.metrics, out, p)?,
            Figure::MeanCams => mean_cams(&inputs.gradcam, gradcam_dir, out, p)?,
        });
    }
    Ok(files)
}
