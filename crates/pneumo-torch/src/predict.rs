//! `predict` on image files: each decoded and preprocessed as the preprocess stage does,
//! scored, and optionally drawn with its Grad-CAM map on the film.

use fs_err as fs;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use pneumo_contract::atomic::write_atomic;
use pneumo_contract::label::Label;
use pneumo_core::data::decode::decode_gray;
use pneumo_core::data::read::read_image_file;
use pneumo_core::data::{equalize, scaled};
use pneumo_core::model::explain::readable_overlay;

use crate::dataset::{Dataset, Host};
use crate::infer::{FILM_PIXELS, Model};

/// One image's prediction, or why it has none.
#[derive(Debug, Serialize)]
pub struct Predicted {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heatmap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Decodes and preprocesses each file as the preprocess stage does, then scores it; a file
/// that cannot be read gets its error and the others go on.
pub fn predict(
    model: &Model,
    files: &[PathBuf],
    heatmap: Option<&Path>,
) -> anyhow::Result<Vec<Predicted>> {
    let side = model.card.input_side;
    if model.card.adabn {
        crate::say::warn(
            "predict: this model was evaluated with AdaBN (batch-norm statistics from each scored \
             role's own images); a few files cannot supply such statistics, so predict scores with \
             the training statistics and its probabilities differ from evaluate's",
        );
    }
    scaled::ready(model.card.decode).map_err(anyhow::Error::msg)?;
    let ds = Dataset::for_inference(side, model.card.mean, model.card.std);
    if let Some(dir) = heatmap {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut out = Vec::new();
    let mut stems_used = BTreeSet::new();
    for file in files {
        let name = file.display().to_string();
        let pixels = read_image_file(file)
            .and_then(|bytes| {
                let gray = scaled::gray(model.card.decode, &bytes, FILM_PIXELS, side as u32)
                    .map_err(|e| format!("not a usable image: {e}"))?;
                Ok((bytes, gray))
            })
            .and_then(|(bytes, gray)| {
                let mut px = pneumo_core::data::resize::resize(&gray, side as u32, side as u32)?;
                if let Some(eq) = &model.card.equalize {
                    equalize::apply(eq, &mut px, side as usize, side as usize);
                }
                Ok((bytes, gray, px))
            });
        let (bytes, film, pixels) = match pixels {
            Ok(p) => p,
            Err(e) => {
                out.push(Predicted {
                    file: name,
                    probability: None,
                    label: None,
                    heatmap: None,
                    error: Some(e),
                });
                continue;
            }
        };
        let host = Host {
            pixels,
            labels: vec![0.0],
        };
        let p = match model.probabilities(&ds, &host)?.first() {
            Some(p) if p.is_finite() => *p,
            other => {
                out.push(Predicted {
                    file: name,
                    probability: None,
                    label: None,
                    heatmap: None,
                    error: Some(format!(
                        "the model gave no probability ({other:?}): its weights or preprocessing hold NaN"
                    )),
                });
                continue;
            }
        };
        // the probability evaluate's threshold was chosen on: recalibrated when it was
        let p = match &model.card.calibration {
            Some(c) => c.apply(f64::from(p)) as f32,
            None => p,
        };
        let label = if p >= model.card.threshold as f32 {
            Label::Pneumonia
        } else {
            Label::Normal
        };
        let mut written = None;
        if let Some(dir) = heatmap {
            let cam = model.cams(&ds, &host)?.remove(0);
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into());
            // two inputs with one stem (a/x.jpeg, b/x.jpeg) get x-gradcam.png, x-2-gradcam.png
            let mut unique = stem.clone();
            for n in 2.. {
                if stems_used.insert(unique.clone()) {
                    break;
                }
                unique = format!("{stem}-{n}");
            }
            let path = dir.join(format!("{unique}-gradcam.png"));
            // a scaled decode scored a drafted film (1/2 to 1/8 of the original): the map is
            // drawn on the full one, as with `decode: full`, where that one decodes
            let film = if model.card.decode.is_full() {
                film
            } else {
                decode_gray(&bytes, FILM_PIXELS).map_or(film, |(_, full)| full)
            };
            let mut png = std::io::Cursor::new(Vec::new());
            readable_overlay(&film, &cam, side as usize)
                .map_err(anyhow::Error::msg)?
                .write_to(&mut png, image::ImageFormat::Png)?;
            // a new file renamed into place: an existing link or hard link at that name is
            // replaced, never written through
            write_atomic(&path, png.get_ref())
                .with_context(|| format!("writing {}", path.display()))?;
            written = Some(path.display().to_string());
        }
        out.push(Predicted {
            file: name,
            probability: Some(p),
            label: Some(label),
            heatmap: written,
            error: None,
        });
    }
    Ok(out)
}
