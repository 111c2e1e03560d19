//! Input that used to crash, hang or take memory out of proportion: a dataset folder that is
//! `/` or `/sys`, special files inside the dataset, YAML nested 200k deep, stdout closed or
//! full, a validation role with one class, a checkpoint that cannot be resumed.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Stdio;

use common::{DATA_32, Form, THREE_STAGES, Ws};

/// A dataset folder that is not one is said at once, by what it is, whatever it holds:
/// `/usr` was hashed for 36 s, `/sys` walked for minutes, `/` was "an empty path".
#[test]
fn a_system_folder_as_the_dataset_is_refused_before_hashing() {
    for data in ["/", "/usr", "/sys", "/proc", "/etc"] {
        let ws = Ws::new(&THREE_STAGES.replace(
            "    kind: index\n",
            &format!("    kind: index\n    params: {{data: '{data}'}}\n"),
        ));
        let r = ws.run_as(Form::Cwd, &["run"]);
        assert_eq!(r.code(), 1, "{data}: {}", r.stderr());
        let err = r.stderr();
        assert!(
            err.contains(&format!(
                "stage `index` reads `{data}`: it does not follow the dataset layout"
            )),
            "{data}: {err}"
        );
        assert!(
            !err.contains("empty path") && !err.contains("ln -s"),
            "{data}: {err}"
        );
    }
}

/// A FIFO, a link to a device, a GIF named `.jpeg`, a folder named `.jpeg` and a link to a
/// folder below the class folders are bad rows with their reason, not files that vanish (or a read that hangs).
#[test]
fn special_files_in_the_dataset_are_bad_rows() {
    let ws = Ws::generated(THREE_STAGES);
    let normal = ws.data().join("train/NORMAL");
    let c = std::ffi::CString::new(normal.join("pipe.jpeg").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    symlink("/dev/zero", normal.join("zero.jpeg")).unwrap();
    fs::write(
        normal.join("IM-0900-0001.jpeg"),
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    )
    .unwrap();
    symlink("/usr", normal.join("deep")).unwrap();
    fs::create_dir(normal.join("IM-0901-0001.jpeg")).unwrap();
    ws.ok_as(Form::Dot, &["run", "index"]);
    let summary = fs::read_to_string(ws.path().join("build/index/summary.json")).unwrap();
    for (file, why) in [
        ("pipe.jpeg", "a FIFO, not a regular file"),
        ("zero.jpeg", "a device, not a regular file"),
        ("IM-0900-0001.jpeg", "a GIF file, not a JPEG or PNG"),
        (
            "deep",
            "a link to a folder below the split and class folders",
        ),
        ("IM-0901-0001.jpeg", "a folder, not an image file"),
    ] {
        assert!(
            summary.lines().any(|l| l.contains(file)) && summary.contains(why),
            "{file}: {summary}"
        );
    }
}

/// YAML nested 200k levels deep is refused from the text (it took 107 s to fail).
#[test]
fn deeply_nested_yaml_is_refused_at_once() {
    let deep = format!("stages: {}1{}\n", "[".repeat(200_000), "]".repeat(200_000));
    let ws = Ws::new(&deep);
    let r = ws.run_as(Form::Cwd, &["status"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(
        r.stderr().contains("error: nested deeper than 64 levels"),
        "{}",
        r.stderr()
    );
    assert!(
        r.stderr().contains("--> pipeline.yaml:1:73"),
        "{}",
        r.stderr()
    );
    let ws = Ws::new(common::THREE_STAGES);
    let value = format!("split.seed={}1{}", "[".repeat(50_000), "]".repeat(50_000));
    let r = ws.run(&["exp", "run", "-S", &value]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("nests too deep"), "{}", r.stderr());
}

/// `status | head -1` and `dag | head -1` end quietly; `status > /dev/full` is an error line.
#[test]
fn a_closed_or_full_stdout_is_no_panic() {
    let ws = Ws::generated(THREE_STAGES);
    for args in [
        &["status"][..],
        &["dag"],
        &["status", "--json"],
        &["dag", "--dot"],
    ] {
        let mut child = ws
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = ws.cmd(args).stdout(full).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("error: writing to standard output: No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Validation without PNEUMONIA: training ends, its undefined metrics are `null`, never a
/// measured 0, and the next run is a no-op (it failed on `null`, then stayed wedged).
#[test]
fn a_one_class_validation_role_trains_with_undefined_metrics() {
    let config = format!(
        "{DATA_32}  train:\n    kind: train\n    needs: [split, preprocess]\n    params: {{batch_size: 4, eval_every: 2, max_iterations: 4, seed: 1}}\n"
    );
    let ws = Ws::generated(&config);
    // the writeup protocol validates on official test/: leave it NORMAL only
    fs::remove_dir_all(ws.data().join("test/PNEUMONIA")).unwrap();
    let r = ws.ok_as(Form::Cwd, &["run"]);
    assert!(
        r.stderr()
            .contains("the validation role has NORMAL films only"),
        "{}",
        r.stderr()
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(ws.path().join("build/train/summary.json")).unwrap())
            .unwrap();
    let best = &summary["best"];
    assert!(best["val_auc"].is_null(), "{summary}");
    assert!(
        best["recall"].is_null() && best["f1"].is_null(),
        "{summary}"
    );
    assert_eq!(best["tp"], 0);
    let history = fs::read_to_string(ws.path().join("build/train/history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(ws.ok_as(Form::Cwd, &["run"]).stages("ran").is_empty());
}

/// A checkpoint whose state cannot be read is dropped with a warning and training starts
/// again: the workspace never stays stuck on it.
#[test]
fn an_unreadable_checkpoint_never_wedges_the_workspace() {
    let config = format!(
        "{DATA_32}  train:\n    kind: train\n    needs: [split, preprocess]\n    params: {{batch_size: 4, eval_every: 2, max_iterations: 6, seed: 1}}\n"
    );
    let ws = Ws::generated(&config);
    let out = ws
        .cmd(&["run"])
        .env("PNEUMO_TORCH_CRASH_AFTER_ITERATION", "3")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let ckpt = fs::read_dir(ws.path().join(".pneumo/scratch"))
        .unwrap()
        .flatten()
        .flat_map(|d| fs::read_dir(d.path()).unwrap().flatten())
        .find(|e| e.file_name().to_string_lossy().starts_with("ckpt-"))
        .expect("a checkpoint")
        .path();
    let state = fs::read_dir(&ckpt)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .expect("a state file")
        .path();
    fs::write(&state, b"{\"iteration\": null}").unwrap();
    let r = ws.ok_as(Form::Dot, &["run"]);
    assert!(r.stderr().contains("cannot be resumed"), "{}", r.stderr());
    assert!(
        r.stderr().contains(&state.display().to_string()),
        "{}",
        r.stderr()
    );
    assert_eq!(r.stages("ran"), ["train"]);
    let summary = fs::read_to_string(ws.path().join("build/train/summary.json")).unwrap();
    assert!(summary.contains("\"resumed_from\": null"), "{summary}");
}
