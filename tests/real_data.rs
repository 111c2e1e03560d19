//! The pipeline on the shared real data: kermany-dev (224 px) and the full-size originals.

mod common;

use std::fs;

use common::Ws;
use pneumo_pipeline::stages::index::IndexSummary;
use pneumo_pipeline::stages::preprocess::CacheMeta;
use pneumo_pipeline::stages::split::SplitCounts;

const BOTH_PROTOCOLS: &str = "\
stages:
  index:
    kind: index
  writeup:
    kind: split
    needs: [index]
    params: {protocol: writeup, seed: 42}
  patient:
    kind: split
    needs: [index]
    params: {protocol: patient, seed: 42, val_fraction: 0.1}
  preprocess:
    kind: preprocess
    needs: [index]
";

fn read<T: serde::de::DeserializeOwned>(ws: &Ws, rel: &str) -> T {
    serde_json::from_slice(&fs::read(ws.path().join(rel)).unwrap()).unwrap()
}

#[test]
fn kermany_dev_end_to_end() {
    let ws = Ws::linked(BOTH_PROTOCOLS, &common::kermany_dev());
    let first = ws.ok(&["run"]);
    assert_eq!(
        first.stages("ran"),
        ["index", "writeup", "patient", "preprocess"]
    );

    let summary: IndexSummary = read(&ws, "build/index/summary.json");
    assert_eq!(summary.images, 5232);
    assert!(summary.bad_files.is_empty());
    assert!(summary.cross_split_patients.is_empty());
    assert_eq!(summary.duplicate_groups.len(), 24); // 21 + 1 in train, 2 in test (data README)
    insta::assert_yaml_snapshot!("kermany_dev_index_summary", summary);

    let writeup: SplitCounts = read(&ws, "build/writeup/counts.json");
    assert_eq!(writeup.images["train"]["NORMAL"], 1107);
    assert_eq!(writeup.images["train"]["PNEUMONIA"], 1107);
    assert_eq!(writeup.images["val"].values().sum::<usize>(), 624);
    assert_eq!(writeup.images["test"].values().sum::<usize>(), 16);
    assert!(writeup.patient_disjoint);
    insta::assert_yaml_snapshot!("kermany_dev_split_writeup", writeup);

    let patient: SplitCounts = read(&ws, "build/patient/counts.json");
    assert!(patient.patient_disjoint);
    assert_eq!(patient.images["test"].values().sum::<usize>(), 624);
    let val = patient.images["val"].values().sum::<usize>() as f64;
    let pool = 4592.0 + 16.0;
    assert!((val / pool - 0.1).abs() < 0.01, "val share {}", val / pool);
    insta::assert_yaml_snapshot!("kermany_dev_split_patient", patient);

    let meta: CacheMeta = read(&ws, "build/preprocess/meta.json");
    assert_eq!((meta.count, meta.height, meta.width), (5232, 224, 224));
    let size = fs::metadata(ws.path().join("build/preprocess/images.u8"))
        .unwrap()
        .len();
    assert_eq!(size, 5232 * 224 * 224);

    let second = ws.ok(&["run"]);
    assert!(second.stages("ran").is_empty(), "{}", second.stderr());
}

#[test]
fn full_size_originals_preprocess() {
    // kermany-fullres holds NORMAL/ and PNEUMONIA/: present it as a train split
    let ws = Ws::new(
        "stages:\n  index:\n    kind: index\n  preprocess:\n    kind: preprocess\n    needs: [index]\n",
    );
    let data = ws.data();
    fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(common::shared("data/kermany-fullres"), data.join("train")).unwrap();
    ws.ok(&["run"]);
    let summary: IndexSummary = read(&ws, "build/index/summary.json");
    assert_eq!(summary.images, 9);
    assert!(summary.bad_files.is_empty(), "{:?}", summary.bad_files);
    let meta: CacheMeta = read(&ws, "build/preprocess/meta.json");
    assert_eq!(meta.count, 9);
    let pixels = fs::read(ws.path().join("build/preprocess/images.u8")).unwrap();
    assert_eq!(pixels.len(), 9 * 224 * 224);
    // each image is a real X-ray, not a constant
    for img in pixels.chunks(224 * 224) {
        let (min, max) = (img.iter().min().unwrap(), img.iter().max().unwrap());
        assert!(max - min > 100, "flat image: {min}..{max}");
    }
}
