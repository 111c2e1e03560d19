//! The report's wording, exactly, on any machine: rendered from fixed artifacts (the outputs
//! of the 64 px run in `full_pipeline.rs`, kept in `tests/fixtures/report/<stage kind>/`),
//! so no number in the snapshot passes through libtorch here. The live run's report is
//! checked for its sections and figures in `full_pipeline.rs`. To refresh the fixture after
//! a stage's outputs change: run `full_pipeline.rs`'s CONFIG in a workspace and copy each
//! file the report reads from `build/<stage>/` into the folder of that stage's kind.

mod common;

use std::path::Path;

use pneumo_pipeline::stages::report::{Artifacts, ReportParams, document, html, markdown};

fn artifacts() -> Artifacts {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report");
    let title = serde_json::from_value::<ReportParams>(serde_json::json!({}))
        .unwrap()
        .title;
    Artifacts::read(
        &|kind| Ok(dir.join(kind)),
        title,
        b"fixture pipeline.yaml\n",
    )
    .unwrap()
}

#[test]
fn report_markdown_from_fixed_artifacts() {
    let md = markdown(&document(&artifacts()));
    common::assert_tables_rectangular(&md);
    insta::assert_snapshot!("report_64px_writeup", md);
}

#[test]
fn the_preprocessing_section_names_a_scaled_decode() {
    let mut a = artifacts();
    let plain = markdown(&document(&a));
    assert!(
        !plain.contains("DCT domain"),
        "a full decode is the unnamed default"
    );
    a.preprocess.decode = pneumo_pipeline::contract::preprocess::Decode::Scaled;
    let md = markdown(&document(&a));
    assert!(
        md.contains("; JPEGs decoded at 1/2 to 1/8 scale in the DCT domain (libjpeg-turbo"),
        "{md}"
    );
}

#[test]
fn report_html_has_every_block_and_embeds_what_it_is_given() {
    let a = artifacts();
    let doc = document(&a);
    let page = html(&a.title, &doc, &|f: &str| {
        Some(format!("data:image/png;base64,{f}"))
    });
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..40]);
    assert_eq!(
        page.matches("<h2").count(),
        doc.iter()
            .filter(|b| matches!(b, pneumo_pipeline::stages::report::Block::Heading(2, _)))
            .count()
    );
    assert!(
        !page.contains("src=\"images/"),
        "every image goes through `embed`"
    );
}

/// With an ensemble among its upstreams, the report gains a section with every seed, the
/// mean ± SD, the range and the ensemble, per role; without one (above), it has none.
#[test]
fn report_shows_seeds_and_their_ensemble_when_given_one() {
    use pneumo_pipeline::stages::aggregate::{RoleSummary, Row};
    let mut a = artifacts();
    assert!(!markdown(&document(&a)).contains("Seeds and their ensemble"));
    let row = |auc: f64| vec![auc, 0.97, 0.98, 0.95, 0.976, 0.25];
    let model = |name: &str, auc: f64| Row {
        name: name.into(),
        values: row(auc),
        ci: vec![
            (auc - 0.002, 1.0),
            (0.95, 0.98),
            (0.96, 0.99),
            (0.92, 0.97),
            (0.96, 0.98),
            (f64::NAN, f64::NAN),
        ],
    };
    a.ensemble = Some(
        ["val", "test"]
            .iter()
            .map(|role| RoleSummary {
                role: role.to_string(),
                members: vec![
                    model("evaluate@seed=0", 0.996),
                    model("evaluate@seed=1", 0.998),
                ],
                mean: row(0.997),
                sd: row(0.0014),
                min: row(0.996),
                max: row(0.998),
                ensemble: model("ensemble", 0.9975),
            })
            .collect(),
    );
    let md = markdown(&document(&a));
    common::assert_tables_rectangular(&md);
    assert!(md.contains("## Seeds and their ensemble"), "{md}");
    assert!(md.contains("| `test` model | ROC AUC |"), "{md}");
    assert!(md.contains("| evaluate@seed=1 | 0.9980 |"), "{md}");
    assert!(
        md.contains("| mean ± SD (2 members) | 0.9970 ± 0.0014 |"),
        "{md}"
    );
    assert!(
        md.contains("| ensemble (its 95% interval) | 0.9975 (0.9955–1.0000) |"),
        "{md}"
    );
    assert!(md.contains("images/members-test.png"), "{md}");
}

#[test]
fn the_training_table_names_every_robustness_option_set() {
    let mut a = artifacts();
    let plain = markdown(&document(&a));
    assert!(plain.contains("| regularisation | none |"), "{plain}");
    let p = &mut a.train_card.params;
    p.label_smoothing = 0.1;
    p.dropout = 0.3;
    p.mixup = 0.4;
    p.loss = pneumo_pipeline::contract::choices::Loss::Focal;
    p.augment.crop = 0.7;
    p.augment.gamma = 0.3;
    p.augment.blur = 1.5;
    p.augment.noise = 0.05;
    p.augment.perspective = 0.05;
    p.augment.elastic = 20.0;
    p.augment.elastic_sigma = 4.0;
    p.monitor_from_epoch = 2.5;
    let md = markdown(&document(&a));
    for text in [
        "evaluations without gain in validation f1, counted from epoch 2.5 |",
        "label smoothing 0.1, dropout before the head 0.3, mixup alpha 0.4",
        "the focal loss (gamma 2.0) on logits",
        "random resized crop, area ≥0.7, gamma exp(±0.3), blur sigma ≤1.5, noise SD ≤0.05, \
         perspective, corners moved ≤0.05, elastic alpha 20.0 (sigma 4.0 px)",
    ] {
        assert!(md.contains(text), "no `{text}` in:\n{md}");
    }
}

#[test]
fn preprocessing_names_its_equalisation_and_the_files_it_rejected() {
    let mut a = artifacts();
    use pneumo_pipeline::contract::index::BadFile;
    use pneumo_pipeline::contract::preprocess::{Equalization, Method};
    a.preprocess.equalize = Some(Equalization {
        method: Method::Clahe,
        clip: 3.0,
        tiles: 4,
    });
    a.preprocess.rejected = vec![BadFile {
        path: "train/PNEUMONIA/person9_virus_1.png".into(),
        error: "corrupt or truncated image: bad zlib".into(),
    }];
    let md = markdown(&document(&a));
    for text in [
        "Per-image intensity normalisation after resizing: CLAHE, clip limit 3, 4x4 tiles (OpenCV createCLAHE).",
        "1 more passed the index's header checks but failed to decode in preprocessing",
        "`train/PNEUMONIA/person9_virus_1.png` (corrupt or truncated image: bad zlib)",
    ] {
        assert!(md.contains(text), "no `{text}` in:\n{md}");
    }
}

/// "(ImageNet)" names the normalisation only when it is ImageNet's (it was printed for any
/// mean and std).
#[test]
fn the_normalisation_is_called_imagenet_only_when_it_is() {
    let mut a = artifacts();
    assert!(markdown(&document(&a)).contains("std [0.229,0.224,0.225] (ImageNet)."));
    a.preprocess.mean = [0.5; 3];
    a.preprocess.std = [0.25; 3];
    let md = markdown(&document(&a));
    assert!(
        md.contains("mean [0.5,0.5,0.5] and std [0.25,0.25,0.25]."),
        "{md}"
    );
    assert!(!md.contains("(ImageNet)"), "{md}");
}

#[test]
fn transductive_figures_are_marked_as_such() {
    let mut a = artifacts();
    assert!(!markdown(&document(&a)).contains("Transductive"));
    a.metrics.transductive = Some(pneumo_pipeline::stages::evaluate::TRANSDUCTIVE.into());
    let md = markdown(&document(&a));
    for text in [
        "**Transductive figures.** AdaBN: batch-norm statistics recomputed on each role's own images",
        "they are not the model's inductive performance",
    ] {
        assert!(md.contains(text), "no `{text}` in:\n{md}");
    }
}

/// A damaged upstream file stops the report with the file's name (it was a bare serde
/// message: "expected value at line 1 column 1").
#[test]
fn a_malformed_upstream_file_is_named() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report");
    let copy = tempfile::tempdir().unwrap();
    for e in walkdir::WalkDir::new(&fixture).into_iter().flatten() {
        let to = copy.path().join(e.path().strip_prefix(&fixture).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
    for (kind, file) in [
        ("evaluate", "metrics.json"),
        ("gradcam", "gradcam.json"),
        ("split", "counts.json"),
    ] {
        let path = copy.path().join(kind).join(file);
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, b"{ damaged").unwrap();
        let Err(err) = Artifacts::read(&|k| Ok(copy.path().join(k)), None, b"x") else {
            panic!("{kind}: a damaged {file} was read");
        };
        let err = format!("{err:#}");
        assert!(err.contains(&path.display().to_string()), "{kind}: {err}");
        std::fs::write(&path, good).unwrap();
    }
}

/// The ensemble section is optional: no `ensemble` upstream is no section, but two of them
/// (or one that wrote no summary) is an error, not a section silently dropped.
#[test]
fn an_ensemble_upstream_is_optional_but_never_silently_dropped() {
    use pneumo_pipeline::pipeline::stage::UpstreamError;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report");
    let with = |ensemble: &dyn Fn() -> anyhow::Result<std::path::PathBuf>| {
        Artifacts::read(
            &|kind| {
                if kind == "ensemble" {
                    ensemble()
                } else {
                    Ok(dir.join(kind))
                }
            },
            None,
            b"x",
        )
    };
    let none = with(&|| {
        Err(UpstreamError::None {
            stage: "report".into(),
            kind: "ensemble".into(),
        }
        .into())
    });
    assert!(none.unwrap().ensemble.is_none());
    let two = with(&|| anyhow::bail!("stage `report` needs 2 stages of kind `ensemble`"));
    assert!(two.is_err());
    let empty = tempfile::tempdir().unwrap();
    let Err(e) = with(&|| Ok(empty.path().to_path_buf())) else {
        panic!("an ensemble folder without its summary was read");
    };
    assert!(format!("{e:#}").contains("summary.json"), "{e:#}");
}
