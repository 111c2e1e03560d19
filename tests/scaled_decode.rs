//! `preprocess`'s `decode: scaled` (libjpeg-turbo's DCT-domain scaling, Pillow's `draft`)
//! on real films: the same pixels as Pillow's draft path on the full-size originals, the
//! choice kept in the key, meta.json, the model card, the report and `predict`, and a
//! machine without TurboJPEG told how to get it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Ws;
use pneumo_pipeline::data::decode::DecodeError;
use pneumo_pipeline::data::resize::resize;
use pneumo_pipeline::data::scaled::{self, Decode, draft_denominator};
use pneumo_pipeline::model::explain::readable_film;
use serde_json::Value;

fn originals() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["NORMAL", "PNEUMONIA"]
        .iter()
        .flat_map(|d| fs::read_dir(common::shared("data/kermany-fullres").join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Pillow's `open; draft("L", (side, side)); convert("L"); resize((side, side), BILINEAR)`
/// of each file, from the .venv that scripts/setup.sh makes (Pillow comes with torchvision):
/// (drafted width, drafted height, pixels).
fn pillow_draft(files: &[PathBuf], side: u32, out: &Path) -> Vec<(u32, u32, Vec<u8>)> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let script = r#"
import sys
from PIL import Image
side, out = int(sys.argv[1]), sys.argv[2]
for i, f in enumerate(sys.argv[3:]):
    with Image.open(f) as im:
        im.draft("L", (side, side))
        w, h = im.size
        px = im.convert("L").resize((side, side), Image.BILINEAR).tobytes()
    open(f"{out}/{i}.raw", "wb").write(px)
    print(w, h)
"#;
    let run = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(side.to_string())
        .arg(out)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh first)", python.display()));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let (w, h) = l.split_once(' ').unwrap();
            let px = fs::read(out.join(format!("{i}.raw"))).unwrap();
            (w.parse().unwrap(), h.parse().unwrap(), px)
        })
        .collect()
}

#[test]
fn scaled_decode_gives_pillows_draft_pixels_on_full_size_originals() {
    let tmp = tempfile::tempdir().unwrap();
    let files = originals();
    let pillow = pillow_draft(&files, 224, tmp.path());
    let mut scaled_some = false;
    for (file, (pw, ph, want)) in files.iter().zip(&pillow) {
        let bytes = fs::read(file).unwrap();
        let gray = scaled::gray(Decode::Scaled, &bytes, u64::MAX, 224).unwrap();
        assert_eq!((gray.width, gray.height), (*pw, *ph), "{}", file.display());
        let full = scaled::gray(Decode::Full, &bytes, u64::MAX, 224).unwrap();
        let d = draft_denominator(full.width, full.height, 224);
        scaled_some |= d > 1;
        let got = resize(&gray, 224, 224).unwrap();
        let diff: Vec<u8> = got.iter().zip(want).map(|(a, b)| a.abs_diff(*b)).collect();
        let mean = diff.iter().map(|&v| v as f64).sum::<f64>() / diff.len() as f64;
        let max = *diff.iter().max().unwrap();
        eprintln!(
            "{}: 1/{d}, mean |ours - Pillow draft| {mean:.3}, max {max}",
            file.display()
        );
        // the resize's rounding, as for the full decode against Pillow's (mean 0.09, max 1)
        assert!(
            mean < 0.3 && max <= 2,
            "{} (1/{d}): mean |ours - Pillow draft| {mean:.3}, max {max}",
            file.display()
        );
    }
    assert!(scaled_some, "no original was large enough to be scaled");
}

#[test]
fn png_and_cmyk_files_fall_back_to_the_full_decode() {
    let cmyk = include_bytes!("fixtures/cmyk.jpeg");
    let full = scaled::gray(Decode::Full, cmyk, 1 << 20, 8).unwrap();
    let scaled = scaled::gray(Decode::Scaled, cmyk, 1 << 20, 8).unwrap();
    assert_eq!(
        (scaled.width, scaled.pixels),
        (full.width, full.pixels),
        "a CMYK JPEG is decoded in full (TurboJPEG gives no grey from CMYK)"
    );
    // a PNG has no DCT to scale: decoded in full
    let mut png = Vec::new();
    image::GrayImage::from_fn(300, 300, |x, y| image::Luma([(x ^ y) as u8]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let scaled = scaled::gray(Decode::Scaled, &png, 1 << 20, 64).unwrap();
    assert_eq!((scaled.width, scaled.height), (300, 300));
    assert_eq!(
        scaled.pixels,
        scaled::gray(Decode::Full, &png, 1 << 20, 64)
            .unwrap()
            .pixels
    );
    // a JPEG body cut short decodes what it holds, as libjpeg (and so Pillow) warns and
    // goes on; garbage after the markers is an error, not a panic
    let film = fs::read(&originals()[0]).unwrap();
    let mut broken = film[..film.len() / 3].to_vec();
    broken.extend_from_slice(&[0xFF, 0xD9]);
    assert!(scaled::gray(Decode::Scaled, &broken, u64::MAX, 224).is_ok_and(|g| g.width > 0));
    // the pixel limit holds as for the full decode
    assert!(matches!(
        scaled::gray(Decode::Scaled, &film, 1_000_000, 224),
        Err(DecodeError::TooLarge { .. })
    ));
    let garbage = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xD9];
    assert!(scaled::gray(Decode::Scaled, &garbage, u64::MAX, 224).is_err());
}

const CONFIG: &str = "  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {threshold: youden, bootstrap: 20}
    out: results/eval
";

#[test]
fn scaled_decode_travels_through_the_key_the_card_and_predict() {
    let ws = Ws::linked(
        &format!("{}{CONFIG}", common::TRAIN_64),
        &common::kermany_dev(),
    );
    ws.ok(&["run", "preprocess"]);
    let full = fs::read(ws.path().join("build/preprocess/images.u8")).unwrap();
    ws.edit_config("params: {size: 64}", "params: {size: 64, decode: full}");
    assert!(ws.ok(&["run", "preprocess"]).stages("ran").is_empty());
    // kermany-dev's films are 224 px: at 64 px they decode at half size
    ws.edit_config("decode: full", "decode: scaled");
    let r = ws.ok(&["run"]);
    assert!(r.stages("ran").contains(&"preprocess".to_string()));
    let scaled = fs::read(ws.path().join("build/preprocess/images.u8")).unwrap();
    assert_eq!(scaled.len(), full.len());
    assert_ne!(scaled, full, "the scaled cache is the full one");
    let close = scaled
        .iter()
        .zip(&full)
        .filter(|(a, b)| a.abs_diff(**b) <= 2);
    assert!(close.count() as f64 > 0.9 * full.len() as f64);

    let meta: Value =
        serde_json::from_slice(&fs::read(ws.path().join("build/preprocess/meta.json")).unwrap())
            .unwrap();
    assert_eq!(meta["decode"], "scaled");
    let card: Value =
        serde_json::from_slice(&fs::read(ws.path().join("results/eval/model/model.json")).unwrap())
            .unwrap();
    assert_eq!(card["decode"], "scaled");
    let rel = "val/PNEUMONIA/person1946_bacteria_4874.jpeg";
    common::assert_predict_matches_evaluate(&ws, "results/eval", rel);
    heatmap_is_drawn_on_the_full_film(&ws, &common::kermany_dev().join(rel));

    // without the library: the fix named, the run failed, the cache untouched
    let out = ws
        .cmd(&["run", "preprocess", "--force"])
        .env("PNEUMO_TURBOJPEG", "/nonexistent/libturbojpeg.so.0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("apt-get install libturbojpeg0") && err.contains("decode: full"),
        "{err}"
    );
    assert_eq!(
        fs::read(ws.path().join("build/preprocess/images.u8")).unwrap(),
        scaled
    );
}

/// The model scored a drafted film (half size here), but `--heatmap` draws on the full one.
fn heatmap_is_drawn_on_the_full_film(ws: &Ws, film: &Path) {
    let dir = ws.path().join("maps");
    let args = [
        "predict",
        "--heatmap",
        dir.to_str().unwrap(),
        film.to_str().unwrap(),
    ];
    ws.ok(&args);
    let stem = film.file_stem().unwrap().to_string_lossy();
    let drawn = image::open(dir.join(format!("{stem}-gradcam.png")))
        .unwrap()
        .to_rgb8();
    let bytes = fs::read(film).unwrap();
    let side = |g| readable_film(g).unwrap().pixels;
    let full = pneumo_pipeline::data::decode::decode_gray(&bytes, 1 << 26)
        .unwrap()
        .1;
    let drafted = scaled::gray(Decode::Scaled, &bytes, 1 << 26, 64).unwrap();
    assert!(drafted.width < full.width, "{} px", drafted.width);
    let left: Vec<u8> = (0..drawn.height())
        .flat_map(|y| (0..drawn.width() / 2).map(move |x| (x, y)))
        .map(|(x, y)| drawn.get_pixel(x, y)[0])
        .collect();
    assert_eq!(left, side(&full), "the film half is not the full decode");
    assert_ne!(left, side(&drafted));
}
