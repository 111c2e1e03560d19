//! `report`: the study's write-up regenerated from the artifacts alone, as Markdown and as
//! one self-contained HTML file (images embedded). The text is built as a small document
//! model ([`Block`]) by [`document`], a pure function of [`Artifacts`], and rendered twice;
//! every number is formatted at a fixed precision, so snapshots are stable.
//!
//! `mod.rs` the stage and what it reads; `document.rs` the document model and its first
//! sections; `results.rs` evaluation, Grad-CAM and the closing sections; `format.rs` how
//! numbers are written; `render.rs` Markdown and HTML.

mod calibration;
mod document;
mod format;
mod render;
mod results;
mod seeds;

use fs_err as fs;
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::aggregate::RoleSummary;
use super::charts::{self, ChartFile};
use super::ensemble;
use super::evaluate::{METRICS, Metrics};
use super::gradcam::{self, GradcamSummary};
use super::index::{IndexSummary, SUMMARY as INDEX_SUMMARY};
use super::preprocess::read_meta;
use super::split::{COUNTS, SplitCounts};
use crate::contract::calibrate::{self, CalibrationTable};
use crate::contract::card::{self, ModelCard};
use crate::contract::charts::ChartIndex;
use crate::contract::load;
use crate::contract::preprocess::CacheMeta;
use crate::contract::runtime::Runtime;
use crate::contract::summary::{Evaluation, TrainSummary, read_history};
use crate::pipeline::stage::{StageContext, TypedStage, UpstreamError};
use crate::stages::{
    Calibrate, Charts, Ensemble, Evaluate, Gradcam, Index, Preprocess, Split, Train,
};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Unset: "Pneumonia on pediatric chest X-rays: a ResNet-18 classifier, reproduced and
    /// measured", with the network train fitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

fn default_title(arch: crate::contract::choices::Arch) -> String {
    format!(
        "Pneumonia on pediatric chest X-rays: a {} classifier, reproduced and measured",
        arch.title()
    )
}

pub const MARKDOWN: &str = "report.md";
pub const HTML: &str = "report.html";

/// Everything the report reads, loaded from the upstream stages' outputs.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub title: String,
    pub index: IndexSummary,
    pub split: SplitCounts,
    pub preprocess: CacheMeta,
    pub train_summary: TrainSummary,
    pub train_card: ModelCard,
    pub history: Vec<Evaluation>,
    pub metrics: Metrics,
    pub gradcam: GradcamSummary,
    pub charts: Vec<ChartFile>,
    pub config_hash: String,
    pub tool_version: String,
    /// Where the network stages ran (`runtime.json`): train's, then evaluate's.
    pub runtime: Vec<(&'static str, Runtime)>,
    /// The seeds-and-ensemble tables, when the report also needs an `ensemble` stage.
    pub ensemble: Option<Vec<RoleSummary>>,
    /// The reliability tables, when the report also needs a `calibrate` stage.
    pub calibration: Option<CalibrationTable>,
}

impl Artifacts {
    /// Reads the upstream outputs; `dir_of(kind)` is the output folder of that upstream.
    pub fn read(
        dir_of: &dyn Fn(&str) -> anyhow::Result<PathBuf>,
        title: Option<String>,
        config: &[u8],
    ) -> anyhow::Result<Artifacts> {
        // every read names its file, on a missing file and on a malformed one alike
        let path =
            |kind: &str, file: &str| -> anyhow::Result<PathBuf> { Ok(dir_of(kind)?.join(file)) };
        let mut runtime = Vec::new();
        for kind in [Train::KIND, Evaluate::KIND] {
            if let Some(r) = Runtime::read(&dir_of(kind)?)? {
                runtime.push((kind, r));
            }
        }
        let train_card = ModelCard::load(&dir_of(Train::KIND)?.join(card::FILE))?;
        Ok(Artifacts {
            title: title.unwrap_or_else(|| default_title(train_card.params.arch)),
            index: load(&path(Index::KIND, INDEX_SUMMARY)?)?,
            split: load(&path(Split::KIND, COUNTS)?)?,
            preprocess: read_meta(&dir_of(Preprocess::KIND)?)?,
            train_summary: TrainSummary::load(&dir_of(Train::KIND)?)?,
            train_card,
            history: read_history(&dir_of(Train::KIND)?)?,
            metrics: load(&path(Evaluate::KIND, METRICS)?)?,
            gradcam: load(&path(Gradcam::KIND, gradcam::SUMMARY)?)?,
            charts: load::<ChartIndex>(&path(Charts::KIND, charts::INDEX)?)?.files,
            config_hash: blake3::hash(config).to_hex()[..16].to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            runtime,
            // optional: no ensemble (calibrate) upstream is no section; two of them, or one
            // whose file is missing or damaged, is an error (it was a silently dropped section)
            ensemble: match optional(dir_of, Ensemble::KIND)? {
                Some(dir) => Some(
                    load::<ensemble::EnsembleSummary>(&dir.join(ensemble::SUMMARY_JSON))?.roles,
                ),
                None => None,
            },
            calibration: match optional(dir_of, Calibrate::KIND)? {
                Some(dir) => Some(load(&dir.join(calibrate::FILE))?),
                None => None,
            },
        })
    }
}

/// The output folder of an upstream the report reads when there is one.
fn optional(
    dir_of: &dyn Fn(&str) -> anyhow::Result<PathBuf>,
    kind: &str,
) -> anyhow::Result<Option<PathBuf>> {
    match dir_of(kind) {
        Ok(dir) if dir.exists() => Ok(Some(dir)),
        Ok(_) => Ok(None),
        Err(e) if matches!(e.downcast_ref(), Some(UpstreamError::None { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

pub struct Report;

impl TypedStage for Report {
    type Params = ReportParams;
    const USES_ALL_CORES: bool = false;
    const KIND: &'static str = "report";

    // 2: figures on a grid (a lone last figure no longer stretches to full width);
    // 3: the region table's header names its all-zero-maps column; 4: where the
    // network stages ran, and what that means for the digits
    // 5: a seeds-and-ensemble section when the report also needs an `ensemble` stage
    // 6: the ensemble's intervals and the members' forest plots in that section
    // 7: recalibration, the threshold's fragility and the score distributions
    // 8: training robustness options (crop, gamma, blur, noise; smoothing, dropout, mixup; focal)
    // 9: the network's name (train's `arch`) in the title and the Model section
    // 10: Grad-CAM's layer as the network's last convolutional block, not "residual"
    // 11: a calibration section when the report also needs a `calibrate` stage
    const VERSION: u32 = 11;

    const UPSTREAMS: &'static [&'static str] = &[
        Index::KIND,
        Split::KIND,
        Preprocess::KIND,
        Train::KIND,
        Evaluate::KIND,
        Gradcam::KIND,
        Charts::KIND,
    ];

    /// The config's hash goes into the report, so the config is an input.
    fn inputs(&self, _params: &ReportParams) -> Vec<String> {
        vec!["pipeline.yaml".into()]
    }

    fn run(&self, ctx: &StageContext<'_>, p: ReportParams) -> anyhow::Result<()> {
        let read = |kind: &str, file: &str| -> anyhow::Result<Vec<u8>> {
            let path = ctx.upstream(kind)?.join(file);
            fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let config =
            fs::read(ctx.workspace.join("pipeline.yaml")).context("reading pipeline.yaml")?;
        let a = Artifacts::read(
            &|kind| Ok(ctx.upstream(kind)?.to_path_buf()),
            p.title,
            &config,
        )?;
        // images beside the Markdown, embedded in the HTML
        let images = ctx.out_dir.join("images");
        fs::create_dir_all(&images)?;
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for c in &a.charts {
            files.insert(c.png.clone(), read("charts", &c.png)?);
        }
        for o in &a.gradcam.overlays {
            files.insert(o.file.clone(), read("gradcam", &o.file)?);
        }
        for s in a.ensemble.iter().flatten() {
            let png = ensemble::forest_png(&s.role);
            files.insert(png.clone(), read("ensemble", &png)?);
        }
        for (name, bytes) in &files {
            let dest = images.join(name);
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&dest, bytes)?;
        }
        let doc = document(&a);
        fs::write(ctx.out_dir.join(MARKDOWN), markdown(&doc))?;
        fs::write(
            ctx.out_dir.join(HTML),
            html(&a.title, &doc, &|f: &str| {
                let name = f.strip_prefix("images/").unwrap_or(f);
                files.get(name).map(|b| {
                    format!(
                        "data:image/png;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(b)
                    )
                })
            }),
        )?;
        ctx.reporter.info(&format!(
            "report: {} and {} ({} images)",
            MARKDOWN,
            HTML,
            files.len()
        ));
        Ok(())
    }
}

pub use document::{Block, document};
pub use render::{html, markdown};
