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
