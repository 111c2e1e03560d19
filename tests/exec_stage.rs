//! A stage run is a job file: `exec-stage JOB.json` in a fresh process writes what the
//! in-process run wrote, byte for byte (timings aside), for a data stage and for train
//! (whose work runs in the worker, through its own task file and events).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::Ws;
use pneumo_pipeline::pipeline::job::StageJob;
use pneumo_pipeline::pipeline::key::CACHE_SCHEMA;
use pneumo_pipeline::pipeline::lockfile;

use common::TRAIN_64 as CONFIG;

/// Every file under `dir`, by relative path; wall times (`seconds`) taken out.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
        let bytes = fs::read(e.path()).unwrap();
        let bytes = match rel.as_str() {
            "summary.json" if dir.join("history.csv").exists() => {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                v["seconds"] = serde_json::Value::Null;
                v["best"]["seconds"] = serde_json::Value::Null;
                v.to_string().into_bytes()
            }
            // the last column is the wall time
            "history.csv" => String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
                .collect::<String>()
                .into_bytes(),
            _ => bytes,
        };
        out.insert(rel, bytes);
    }
    out
}

#[test]
fn a_job_file_run_in_a_fresh_process_writes_what_the_run_wrote() {
    let ws = Ws::linked(CONFIG, &common::kermany_dev());
    ws.ok(&["run"]);
    let lock = lockfile::load(ws.path()).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    for stage in ["split", "preprocess", "train"] {
        let key = &lock.stages[stage].key;
        let mut job = StageJob::load(&StageJob::path(ws.path(), key)).unwrap();
        assert_eq!((job.name.as_str(), job.key.as_str()), (stage, key.as_str()));
        job.out_dir = fresh.path().join(stage).join("out");
        job.scratch_dir = fresh.path().join(stage).join("scratch");
        let file = fresh.path().join(format!("{stage}.json"));
        job.write(&file).unwrap();

        let r = ws.run(&["exec-stage", "-q", file.to_str().unwrap()]);
        assert_eq!(r.code(), 0, "{stage}: {}", r.stderr());
        assert_eq!(r.stderr(), "", "-q: nothing but errors");
        let cached = ws
            .path()
            .join(format!(".pneumo/cache/v{CACHE_SCHEMA}/runs/{key}/out"));
        let (a, b) = (files(&cached), files(&job.out_dir));
        assert!(!a.is_empty());
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{stage}"
        );
        for (name, bytes) in &a {
            assert!(bytes == &b[name], "{stage}: {name} differs");
        }
    }

    // a job never writes over outputs, and a build with another version refuses it
    let file = fresh.path().join("split.json");
    let r = ws.run(&["exec-stage", file.to_str().unwrap()]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("is not empty"), "{}", r.stderr());
    let mut job = StageJob::load(&file).unwrap();
    job.out_dir = fresh.path().join("other");
    job.version += 1;
    job.write(&file).unwrap();
    let r = ws.run(&["exec-stage", file.to_str().unwrap()]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr().contains("outputs would not match the key"),
        "{}",
        r.stderr()
    );
}
