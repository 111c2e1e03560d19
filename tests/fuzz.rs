//! Property-based fuzzing (proptest; cargo-fuzz needs a nightly toolchain) of the readers
//! that take files from outside: the `.pth` pickle reader and pipeline.yaml parsing plus
//! validation. Each case mutates a seed from the corpus kept in the repository
//! (`tests/fixtures/hostile/*.pth`, the shipped pipeline.yaml files) with random byte
//! overwrites, insertions, deletions and a truncation; a reader may refuse any input, but
//! must never panic. Bounded: a fixed number of cases with a fixed seed, about 15 s in all
//! (`PROPTEST_CASES` raises it for a longer hunt). The weights and model-card readers are
//! fuzzed in `crates/pneumo-torch/tests/fuzz.rs`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use proptest::prelude::*;

mod fuzz_support;
use fuzz_support::{edits, mutate, runner};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn pickle_of(pth: &Path) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(fs::File::open(pth).unwrap()).unwrap();
    let mut pkl = Vec::new();
    zip.by_name("archive/data.pkl")
        .unwrap()
        .read_to_end(&mut pkl)
        .unwrap();
    pkl
}

#[test]
fn the_pth_reader_never_panics_on_mutated_pickles() {
    let dir = repo("tests/fixtures/hostile");
    let seeds: Vec<Vec<u8>> = [
        "valid.pth",
        "offset-overflow.pth",
        "shape-overflow.pth",
        "too-short.pth",
    ]
    .iter()
    .map(|f| pickle_of(&dir.join(f)))
    .collect();
    // the valid seed reads: the corpus exercises the success path too
    assert!(pneumo_pipeline::model::pth::read(&dir.join("valid.pth")).is_ok());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("case.pth");
    runner(60_000)
        .run(&(0..seeds.len(), edits()), |(s, (edits, keep))| {
            let pkl = mutate(&seeds[s], &edits, keep);
            let mut zip = zip::ZipWriter::new(fs::File::create(&file).unwrap());
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            zip.start_file("archive/data.pkl", opts).unwrap();
            zip.write_all(&pkl).unwrap();
            zip.start_file("archive/data/0", opts).unwrap();
            zip.write_all(&[0u8; 16]).unwrap();
            zip.finish().unwrap();
            let _ = pneumo_pipeline::model::pth::read(&file); // Ok or Err, never a panic
            Ok(())
        })
        .unwrap();
}

#[test]
fn pipeline_yaml_validation_never_panics_on_mutated_configs() {
    let seeds: Vec<Vec<u8>> = ["pipeline.yaml", "examples/patient-protocol.yaml"]
        .iter()
        .map(|f| fs::read(repo(f)).unwrap())
        .collect();
    let registry = pneumo_pipeline::stages::registry();
    runner(60_000)
        .run(&(0..seeds.len(), edits()), |(s, (edits, keep))| {
            let text = String::from_utf8_lossy(&mutate(&seeds[s], &edits, keep)).into_owned();
            if let Err(e) = pneumo_pipeline::pipeline::validate::parse(
                &text,
                Path::new("pipeline.yaml"),
                &registry,
            ) {
                // every error has a place to point at
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
}
