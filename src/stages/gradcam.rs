//! `gradcam`: Grad-CAM of the pneumonia logit on the last convolutional block (ResNet's
//! layer4, DenseNet's features.norm5) for every image of a role (in the pneumo-torch worker): overlays
//! for a seeded pick of TP/TN/FP/FN, the mean map per label,
//! the share of map mass per image quadrant, and a deletion test against random order.

use super::evaluate::{MODEL_DIR, PREDICTIONS};
use super::{preprocess, worker};
use crate::contract::choices::{Device, Role};
use crate::contract::task::WorkerTask;
use crate::pipeline::stage::{Choice, StageContext, TypedStage};
use crate::stages::{Evaluate, Preprocess, Split};

pub use crate::contract::gradcam::{GradcamParams, GradcamSummary, Overlay, Regions, SUMMARY};

pub struct Gradcam;

impl TypedStage for Gradcam {
    type Params = GradcamParams;
    const KIND: &'static str = "gradcam";

    // 2: the deletion test blanks 14 x 14 cells, not single pixels; 3: all-zero maps
    // are counted apart from the quadrant shares; 4: runtime.json; 5: overlays on the
    // original film, 512 px on its long side; 6: `layer` named from the architecture
    // (DenseNet-121's `features.norm5`, not ResNet's `layer4`); 7: gradcam.json and
    // runtime.json carry their format
    const VERSION: u32 = 7;

    const UPSTREAMS: &'static [&'static str] = &[Split::KIND, Preprocess::KIND, Evaluate::KIND];

    fn needs_gpu(&self, p: &GradcamParams) -> bool {
        p.device == Device::Cuda
    }

    const CHOICES: &'static [Choice] = &[("role", Role::ALL), ("device", Device::ALL)];

    fn check(&self, p: &mut GradcamParams) -> Result<(), String> {
        if p.deletion_steps == 0 {
            return Err("invalid value `deletion_steps`: must be positive".into());
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext<'_>, p: GradcamParams) -> anyhow::Result<()> {
        let evaluate = ctx.upstream_of::<Evaluate>()?;
        worker::run(
            ctx,
            "Grad-CAM",
            &WorkerTask::Gradcam {
                split: ctx.upstream_of::<Split>()?.to_path_buf(),
                originals: ctx
                    .workspace
                    .join(preprocess::read_meta(ctx.upstream_of::<Preprocess>()?)?.data),
                cache: ctx.upstream_of::<Preprocess>()?.to_path_buf(),
                model: evaluate.join(MODEL_DIR),
                predictions: evaluate.join(PREDICTIONS),
                params: p,
                out: ctx.out_dir.to_path_buf(),
            },
        )?;
        let s: GradcamSummary = crate::contract::load(&ctx.out_dir.join(SUMMARY))?;
        ctx.reporter.info(&format!(
            "gradcam: {} {} images, {} overlays; deletion area {:.3} (most salient first) vs {:.3} (random)",
            s.images,
            s.role,
            s.overlays.len(),
            s.deletion_auc_salient,
            s.deletion_auc_random
        ));
        Ok(())
    }
}
