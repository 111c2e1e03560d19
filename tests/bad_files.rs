//! Files that are not usable images are reported in the manifest and skipped downstream,
//! never a crash.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::{THREE_STAGES, Ws};
use image::{ImageBuffer, Luma};
use pneumo_pipeline::data::manifest;
use pneumo_pipeline::stages::preprocess::CacheMeta;

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A valid PNG header for a `side` x `side` grey image, then `idat` as its pixel data.
fn png(path: &Path, side: u32, idat: &[u8]) {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", idat));
    png.extend(chunk(b"IEND", &[]));
    fs::write(path, png).unwrap();
}

/// A valid PNG header claiming 30000x30000 pixels, with next to no pixel data behind it.
fn bomb_png(path: &Path) {
    png(
        path,
        30000,
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
}

#[test]
fn bad_files_are_reported_and_excluded() {
    let ws = Ws::generated(THREE_STAGES);
    let normal = ws.data().join("train/NORMAL");
    let pneumonia = ws.data().join("train/PNEUMONIA");
    // truncated: a noisy JPEG cut in half
    let noisy = ImageBuffer::from_fn(96, 96, |x, y| Luma([((x * 7919 + y * 104729) % 251) as u8]));
    let full = normal.join("IM-0500-0001.jpeg");
    noisy.save(&full).unwrap();
    let bytes = fs::read(&full).unwrap();
    fs::write(normal.join("IM-0501-0001.jpeg"), &bytes[..bytes.len() / 2]).unwrap();
    fs::write(normal.join("IM-0502-0001.jpeg"), b"").unwrap();
    fs::write(
        pneumonia.join("person900_virus_1.jpeg"),
        b"this is a text file, not an X-ray\n",
    )
    .unwrap();
    let sixteen: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(40, 30, |x, y| Luma([(x * 1500 + y * 700) as u16]));
    sixteen
        .save(pneumonia.join("person901_bacteria_1.png"))
        .unwrap();
    bomb_png(&pneumonia.join("person902_bacteria_1.png"));
    common::write_rgb_jpeg(&pneumonia.join("person903_virus_1.jpeg"), 50, 40);
    // a sound header over pixel data that is not zlib: the index (headers only) takes it,
    // preprocess rejects it by name instead of failing the run
    png(
        &pneumonia.join("person904_virus_1.png"),
        32,
        b"these bytes are not a deflate stream",
    );

    let r = ws.ok(&["run"]);
    let summary = r.stderr();
    assert!(summary.contains("bad files: 4"), "{summary}");

    let rows = manifest::read(&ws.path().join("build/index/manifest.parquet")).unwrap();
    let by_name: BTreeMap<&str, &manifest::ManifestRow> = rows
        .iter()
        .map(|r| (r.path.rsplit('/').next().unwrap(), r))
        .collect();
    let err = |name: &str| by_name[name].error.clone().unwrap_or_default();
    assert!(
        err("IM-0501-0001.jpeg").contains("truncated"),
        "{}",
        err("IM-0501-0001.jpeg")
    );
    assert_eq!(err("IM-0502-0001.jpeg"), "empty file (0 bytes)");
    assert_eq!(
        err("person900_virus_1.jpeg"),
        "not an image (unrecognised format)"
    );
    assert!(
        err("person902_bacteria_1.png").contains("over the 64 Mpx limit"),
        "{}",
        err("person902_bacteria_1.png")
    );
    let png16 = by_name["person901_bacteria_1.png"];
    assert_eq!(
        (png16.error.as_deref(), png16.bit_depth, png16.channels),
        (None, Some(16), Some(1))
    );
    let rgb = by_name["person903_virus_1.jpeg"];
    assert_eq!((rgb.error.as_deref(), rgb.channels), (None, Some(3)));
    assert_eq!(by_name["IM-0500-0001.jpeg"].error, None);
    assert_eq!(by_name["person904_virus_1.png"].error, None);

    let good = rows.iter().filter(|r| r.error.is_none()).count();
    let meta: CacheMeta =
        serde_json::from_slice(&fs::read(ws.path().join("build/preprocess/meta.json")).unwrap())
            .unwrap();
    assert_eq!(meta.count, good - 1);
    assert_eq!(meta.rejected.len(), 1, "{:?}", meta.rejected);
    assert!(
        meta.rejected[0].path.ends_with("person904_virus_1.png")
            && meta.rejected[0]
                .error
                .starts_with("corrupt or truncated image"),
        "{:?}",
        meta.rejected
    );
    assert!(
        summary.contains("person904_virus_1.png failed to decode"),
        "{summary}"
    );
    let cache = fs::metadata(ws.path().join("build/preprocess/images.u8"))
        .unwrap()
        .len();
    assert_eq!(cache, (good as u64 - 1) * 32 * 32);
}

#[test]
fn wrong_layout_says_what_is_expected_and_where_the_data_seems_to_be() {
    let ws = Ws::new(THREE_STAGES);
    // the Kaggle zip's nested copy: chest_xray/chest_xray/train/...
    common::make_dataset(&ws.path().join("data/chest_xray/chest_xray"));
    let r = ws.run(&["run"]);
    assert_eq!(r.code(), 1);
    let err = r.stderr();
    assert!(
        err.contains("follow the dataset layout `{train,val,test}/{NORMAL,PNEUMONIA}/<file>`"),
        "{err}"
    );
    assert!(
        err.contains("params.data: data/chest_xray/chest_xray"),
        "{err}"
    );
}

#[test]
fn mendeley_layout_without_val_indexes_and_names_the_empty_role() {
    let ws = Ws::generated(THREE_STAGES);
    fs::remove_dir_all(ws.data().join("val")).unwrap();
    let r = ws.ok(&["run"]);
    let err = r.stderr();
    assert!(
        err.contains("val    missing (no `val/` folder with images)"),
        "{err}"
    );
    assert!(
        err.contains("warning: split: role `test` is empty"),
        "{err}"
    );
}

/// Names a later stage cannot carry (a newline, bytes that are not UTF-8) and entries that
/// are no file (a symlink loop, a dangling link) are bad rows with their reason; two
/// non-UTF-8 names stay two entries; the run goes on.
#[test]
fn odd_names_and_broken_links_are_bad_rows_not_a_failed_run() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    let ws = Ws::generated(THREE_STAGES);
    let normal = ws.data().join("train/NORMAL");
    let good = normal.join("IM-0600-0001.jpeg");
    common::write_jpeg(&good, 40, 40, 3);
    fs::copy(&good, normal.join("IM-0601\n-0001.jpeg")).unwrap();
    fs::copy(&good, normal.join(OsStr::from_bytes(b"IM-0602-\xff.jpeg"))).unwrap();
    fs::copy(&good, normal.join(OsStr::from_bytes(b"IM-0602-\xfe.jpeg"))).unwrap();
    symlink(&normal, normal.join("loop")).unwrap();
    symlink(
        normal.join("nowhere.jpeg"),
        normal.join("IM-0603-0001.jpeg"),
    )
    .unwrap();

    let r = ws.ok(&["run"]);
    let rows = manifest::read(&ws.path().join("build/index/manifest.parquet")).unwrap();
    let errors: Vec<(String, String)> = rows
        .iter()
        .filter_map(|r| Some((r.path.clone(), r.error.clone()?)))
        .collect();
    let why = |needle: &str| {
        errors
            .iter()
            .filter(|(p, _)| p.contains(needle))
            .map(|(_, e)| e.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        why("IM-0601"),
        ["its name contains a control character (a newline or tab); rename it"],
        "{errors:?}"
    );
    assert_eq!(
        why("IM-0602").len(),
        2,
        "two non-UTF-8 names, two rows: {errors:?}"
    );
    assert!(why("IM-0602").iter().all(|e| e.contains("not valid UTF-8")));
    assert_eq!(
        why("IM-0603"),
        ["a symlink to nothing (dangling)"],
        "{errors:?}"
    );
    assert_eq!(why("/loop"), ["a symlink loop"], "{errors:?}");
    assert!(
        rows.iter()
            .any(|r| r.path.ends_with("IM-0600-0001.jpeg") && r.error.is_none())
    );
    assert!(r.stderr().contains("bad files: 5"), "{}", r.stderr());
    // the stat cache keeps the newline name on one line: a second run re-hashes nothing
    let hashes = fs::read_to_string(ws.path().join(".pneumo/state/hashes.tsv")).unwrap();
    assert!(hashes.contains("IM-0601\\n-0001.jpeg"), "{hashes}");
    assert!(ws.ok(&["run"]).stages("ran").is_empty());
}
