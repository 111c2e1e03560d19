//! One test per cause that must re-run a stage, and per change that must not.

mod common;

use std::fs;
use std::time::{Duration, SystemTime};

use common::{THREE_STAGES, Ws};

fn fresh_all(ws: &Ws) {
    let r = ws.ok(&["run"]);
    assert!(
        r.stages("ran").is_empty(),
        "expected nothing to run:\n{}",
        r.stderr()
    );
}

#[test]
fn second_run_reruns_nothing() {
    let ws = Ws::generated(THREE_STAGES);
    let first = ws.ok(&["run"]);
    assert_eq!(first.stages("ran"), ["index", "split", "preprocess"]);
    let second = ws.ok(&["run"]);
    assert_eq!(second.stages("fresh"), ["index", "split", "preprocess"]);
}

#[test]
fn split_seed_change_reruns_split_only() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    ws.edit_config("seed: 42", "seed: 7");
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["split"]);
    assert_eq!(r.stages("fresh"), ["index", "preprocess"]);
}

#[test]
fn preprocess_param_change_reruns_preprocess_only() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    ws.edit_config("size: 32", "size: 16");
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["preprocess"]);
}

#[test]
fn image_bytes_change_reruns_index_and_what_follows() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    common::write_jpeg(
        &ws.data().join("train/NORMAL/IM-0002-0001.jpeg"),
        50,
        40,
        99,
    );
    let status = ws.ok(&["status"]).stdout();
    assert!(
        status.contains("input changed: data/chest_xray/train/NORMAL/IM-0002-0001.jpeg"),
        "{status}"
    );
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["index", "split", "preprocess"]);
}

#[test]
fn touching_mtime_reruns_nothing() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    let f = fs::File::options()
        .write(true)
        .open(ws.data().join("train/NORMAL/IM-0002-0001.jpeg"))
        .unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    drop(f);
    fresh_all(&ws);
}

#[test]
fn adding_an_image_reruns_index() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    common::write_jpeg(&ws.data().join("train/NORMAL/IM-0009-0001.jpeg"), 40, 40, 3);
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["index", "split", "preprocess"]);
}

#[test]
fn hidden_files_do_not_invalidate() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    fs::write(ws.data().join("train/.DS_Store"), b"finder junk").unwrap();
    fs::create_dir_all(ws.data().join("__MACOSX")).unwrap();
    fs::write(ws.data().join("__MACOSX/x"), b"resource fork").unwrap();
    fresh_all(&ws);
}

#[test]
fn spelling_out_a_default_does_not_invalidate() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    ws.edit_config(
        "    kind: index\n",
        "    kind: index\n    params:\n      data: data/chest_xray/\n      max_pixels: 64000000\n",
    );
    fresh_all(&ws);
}

#[test]
fn comments_and_key_order_do_not_invalidate() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    ws.set_config(
        "# reordered\nstages:\n  preprocess:\n    params: {size: 32}\n    needs: [index]\n    kind: preprocess\n  index:\n    kind: index  # the data\n  split:\n    params:\n      seed: 42\n    needs: [index]\n    kind: split\n",
    );
    fresh_all(&ws);
}

#[test]
fn setting_a_param_back_restores_without_running() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    let before = fs::read(ws.path().join("build/split/split.parquet")).unwrap();
    ws.edit_config("seed: 42", "seed: 7");
    ws.ok(&["run"]);
    ws.edit_config("seed: 7", "seed: 42");
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("restored"), ["split"]);
    assert!(r.stages("ran").is_empty());
    assert_eq!(
        fs::read(ws.path().join("build/split/split.parquet")).unwrap(),
        before
    );
}

#[test]
fn force_reruns_the_target_but_not_its_dependents() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    let r = ws.ok(&["run", "index", "--force"]);
    assert_eq!(r.stages("ran"), ["index"]);
    fresh_all(&ws);
}

#[test]
fn run_stage_runs_only_what_it_needs() {
    let ws = Ws::generated(THREE_STAGES);
    let r = ws.ok(&["run", "split"]);
    assert_eq!(r.stages("ran"), ["index", "split"]);
    assert!(!ws.path().join("build/preprocess").exists());
}

#[test]
fn deleted_output_link_is_restored_without_running() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    fs::remove_file(ws.path().join("build/split")).unwrap();
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("restored"), ["split"]);
    assert!(ws.path().join("build/split/counts.json").exists());
}

#[test]
fn corrupt_cache_entry_is_a_warning_and_a_miss() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    let target = fs::canonicalize(ws.path().join("build/split/counts.json")).unwrap();
    let mut perms = fs::metadata(&target).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&target, perms).unwrap();
    fs::write(&target, b"{ torn").unwrap();
    let r = ws.ok(&["run"]);
    assert!(
        r.stderr()
            .contains("warning: cache entry of `split` is damaged"),
        "{}",
        r.stderr()
    );
    assert_eq!(r.stages("ran"), ["split"]);
    fresh_all(&ws);
}

/// Same-size damage (other bytes, same length) passes the size check of planning; a stage
/// about to read the entry hashes it first, so the upstream re-runs instead of feeding the
/// stage garbage.
#[test]
fn same_size_damage_of_an_upstream_entry_is_found_before_a_stage_reads_it() {
    let config = format!(
        "{THREE_STAGES}  count:\n    cmd: wc -c < $PNEUMO_IN_PREPROCESS/images.u8 > n.txt\n    needs: [preprocess]\n    outs: [n.txt]\n"
    );
    let ws = Ws::generated(&config);
    ws.ok(&["run"]);
    let target = fs::canonicalize(ws.path().join("build/preprocess/images.u8")).unwrap();
    let good = fs::read(&target).unwrap();
    let mut perms = fs::metadata(&target).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&target, perms).unwrap();
    let garbage: Vec<u8> = good.iter().map(|b| b.wrapping_add(101)).collect();
    fs::write(&target, &garbage).unwrap();
    // nothing reads it: the no-op path hashes nothing and stays a no-op
    assert!(ws.ok(&["run"]).stages("ran").is_empty());
    // a downstream stage re-runs: the damaged upstream is found and re-run first
    ws.edit_config("> n.txt", "> n.txt && true");
    let r = ws.ok(&["run"]);
    assert!(
        r.stderr()
            .contains("warning: cache entry of `preprocess` is damaged"),
        "{}",
        r.stderr()
    );
    assert_eq!(r.stages("ran"), ["preprocess", "count"]);
    assert_eq!(
        fs::read(ws.path().join("build/preprocess/images.u8")).unwrap(),
        good
    );
    fresh_all(&ws);
}

#[test]
fn status_says_why_in_json() {
    let ws = Ws::generated(THREE_STAGES);
    let never: serde_json::Value =
        serde_json::from_str(&ws.ok(&["status", "--json"]).stdout()).unwrap();
    assert_eq!(never[0]["state"], "stale");
    assert_eq!(never[0]["why"][0], "never run");
    ws.ok(&["run"]);
    ws.edit_config("size: 32", "size: 24");
    let s: serde_json::Value =
        serde_json::from_str(&ws.ok(&["status", "--json"]).stdout()).unwrap();
    let states: Vec<(&str, &str)> = s
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["stage"].as_str().unwrap(), p["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("index", "fresh"),
            ("split", "fresh"),
            ("preprocess", "stale")
        ]
    );
    assert_eq!(s[2]["why"][0], "param size changed (32 -> 24)");
}

#[test]
fn clean_prunes_only_unreferenced_entries() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    ws.edit_config("seed: 42", "seed: 7");
    ws.ok(&["run"]);
    let out = ws.ok(&["clean"]).stdout();
    assert!(out.starts_with("removed 1 cache entry"), "{out}");
    fresh_all(&ws);
    ws.edit_config("seed: 7", "seed: 42");
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["split"], "the pruned entry must be gone");
}

#[test]
fn external_command_stage_is_cached_like_the_others() {
    let config = format!(
        "{THREE_STAGES}  roles:\n    cmd: cp build/split/counts.json roles.json && echo ok > note.txt\n    needs: [split]\n    outs: [roles.json, note.txt]\n"
    );
    let ws = Ws::generated(&config);
    let r = ws.ok(&["run"]);
    assert!(r.stages("ran").contains(&"roles".to_string()));
    assert!(ws.path().join("roles.json").exists());
    fresh_all(&ws);
    // removed by hand, it comes back from the cache (an edited one is refused instead:
    // tests/data_loss.rs)
    fs::remove_file(ws.path().join("note.txt")).unwrap();
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("restored"), ["roles"]);
    assert_eq!(
        fs::read_to_string(ws.path().join("note.txt")).unwrap(),
        "ok\n"
    );
}

#[test]
fn missing_dataset_names_the_path_and_the_source() {
    let ws = Ws::new(THREE_STAGES);
    let r = ws.run(&["run"]);
    assert_eq!(r.code(), 1);
    let err = r.stderr();
    assert!(
        err.contains("stage `index` reads `data/chest_xray`, which does not exist"),
        "{err}"
    );
    assert!(err.contains("chest-xray-pneumonia"), "{err}");
    assert!(err.contains("10.17632/rscbjbr9sj.2"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Two file names that are not UTF-8 stay two inputs (a lossy conversion made them one key,
/// so editing one left the stage fresh with a stale output).
#[test]
fn non_utf8_deps_are_distinct_inputs() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let ws = Ws::new(
        "stages:\n  s:\n    cmd: cat deps/* | wc -c > out.txt\n    deps: [deps]\n    outs: [out.txt]\n",
    );
    let deps = ws.path().join("deps");
    fs::create_dir(&deps).unwrap();
    fs::write(deps.join(OsStr::from_bytes(b"a-\xff")), "one").unwrap();
    fs::write(deps.join(OsStr::from_bytes(b"a-\xfe")), "two").unwrap();
    assert_eq!(ws.ok(&["run"]).stages("ran"), ["s"]);
    fs::write(deps.join(OsStr::from_bytes(b"a-\xfe")), "three").unwrap();
    assert_eq!(ws.ok(&["run"]).stages("ran"), ["s"]);
    assert!(ws.ok(&["run"]).stages("ran").is_empty());
}
