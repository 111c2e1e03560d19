//! Every versioned file format we write: read, written in the current format and read back to
//! the same value; a newer `format` refused by name; an unknown field refused. The samples are
//! the report fixture's real outputs (written by earlier versions, so the format-1 read is
//! covered too) and, for files no fixture holds, the smallest valid file.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::contract::{self, Versioned};

fn fixture(kind: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/report")
        .join(kind)
        .join(file)
}

fn holds<T: Versioned>(sample: &Path, deny_unknown: bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(sample.file_name().unwrap());
    let mut first: T = contract::load(sample).unwrap_or_else(|e| panic!("{e:#}"));
    contract::save(&file, &first).unwrap();
    let again: T = contract::load(&file).unwrap();
    first.set_format(T::FORMAT);
    let as_json = |v: &T| serde_json::to_value(v).unwrap();
    assert_eq!(as_json(&again), as_json(&first), "{}: round trip", T::WHAT);
    assert_eq!(again.format(), T::FORMAT);

    let written: Value = serde_json::from_slice(&fs_err::read(&file).unwrap()).unwrap();
    let mut newer = written.clone();
    newer["format"] = json!(T::FORMAT + 1);
    fs_err::write(&file, newer.to_string()).unwrap();
    let e = contract::load::<T>(&file)
        .err()
        .expect("a newer format is refused")
        .to_string();
    assert!(
        e.contains("newer than this build reads") && e.contains(&file.display().to_string()),
        "{}: {e}",
        T::WHAT
    );
    if deny_unknown {
        let mut unknown = written;
        unknown["surprise"] = json!(1);
        fs_err::write(&file, unknown.to_string()).unwrap();
        let e = format!(
            "{:#}",
            contract::load::<T>(&file)
                .err()
                .expect("an unknown field is refused")
        );
        assert!(
            e.contains("surprise") && e.contains(T::WHAT),
            "{}: {e}",
            T::WHAT
        );
    }
}

/// A file made of `value`, for a format with no fixture.
fn sample(value: Value, name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs_err::write(&path, value.to_string()).unwrap();
    (dir, path)
}

#[test]
fn every_stage_output_format_round_trips_and_refuses_newer() {
    use crate::contract::{
        card::ModelCard, charts::ChartIndex, gradcam::GradcamSummary, index::IndexSummary,
        preprocess::CacheMeta, runtime::Runtime, split::SplitCounts, summary::TrainSummary,
    };
    holds::<IndexSummary>(&fixture("index", "summary.json"), true);
    holds::<SplitCounts>(&fixture("split", "counts.json"), true);
    holds::<CacheMeta>(&fixture("preprocess", "meta.json"), true);
    holds::<TrainSummary>(&fixture("train", "summary.json"), true);
    holds::<ModelCard>(&fixture("train", "model.json"), true);
    holds::<Runtime>(&fixture("train", "runtime.json"), true);
    holds::<Runtime>(&fixture("evaluate", "runtime.json"), true);
    holds::<crate::stages::evaluate::Metrics>(&fixture("evaluate", "metrics.json"), true);
    holds::<GradcamSummary>(&fixture("gradcam", "gradcam.json"), true);
    holds::<ChartIndex>(&fixture("charts", "charts.json"), true);
    holds::<crate::contract::calibrate::CalibrationTable>(
        &fixture("calibrate", "calibration.json"),
        true,
    );
}

#[test]
fn formats_without_a_fixture_round_trip_and_refuse_newer() {
    use crate::stages::ensemble::{EnsembleSummary, Members};
    let (_d, p) = sample(
        json!({"format": 2, "combine": "logit", "members": ["evaluate_s0", "evaluate_s1"]}),
        "members.json",
    );
    holds::<Members>(&p, true);
    let (_d, p) = sample(json!({"format": 2, "roles": []}), "summary.json");
    holds::<EnsembleSummary>(&p, true);
    let (_d, p) = sample(
        json!({"format": 1, "task": {"score": {
            "cache": "/c", "split": "/s", "model": "/m", "device": "cpu", "roles": ["val"], "out": "/o"
        }}}),
        "worker-score.json",
    );
    holds::<crate::contract::task::TaskFile>(&p, true);
    let (_d, p) = sample(
        json!({"format": 1, "stage": "split", "files": {"split.parquet": {"size": 3, "blake3": "ab"}},
               "key": {"schema": 1, "kind": "split", "version": 2, "params": {}, "inputs": {}, "upstream": {}}}),
        "entry.json",
    );
    holds::<crate::pipeline::remote_entry::RemoteEntry>(&p, true);
    let (_d, p) = sample(
        json!({"format": 1, "name": "split", "kind": "split", "version": 2, "key": "k",
               "params": {}, "workspace": "/w", "inputs": {"files": {}}, "upstreams": [],
               "out_dir": "/o", "scratch_dir": "/s"}),
        "job.json",
    );
    holds::<crate::pipeline::job::StageJob>(&p, true);
    let (_d, p) = sample(
        json!({"format": 1, "name": "e", "created": 0, "changes": [], "params": {},
               "keys": {}, "metrics": {}}),
        "exp.json",
    );
    holds::<crate::exp::ExpRecord>(&p, true);
}
