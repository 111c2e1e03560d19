//! Nothing outside the workspace is deleted, written or linked through a symlink inside it
//! (issue: a hostile probe deleted an outside file through `escape -> /outside`). Each case
//! lists the outside folder before and after.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::Ws;

/// A workspace with `escape -> <outside>`, the outside folder holding a file and a folder.
fn setup(config: &str) -> (Ws, tempfile::TempDir) {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("victim.txt"), "keep me").unwrap();
    fs::create_dir(outside.path().join("victimdir")).unwrap();
    fs::write(outside.path().join("victimdir/inner.txt"), "keep me too").unwrap();
    let ws = Ws::generated(config);
    symlink(outside.path(), ws.path().join("escape")).unwrap();
    (ws, outside)
}

fn refused(config: &str, what: &str) {
    let (ws, outside) = setup(config);
    let before = common::tree(outside.path());
    let r = ws.run(&["run"]);
    assert_eq!(r.code(), 1, "{what}: {}", r.stderr());
    assert!(
        r.stderr().contains("leaves the workspace through the link"),
        "{what}: {}",
        r.stderr()
    );
    assert_eq!(
        common::tree(outside.path()),
        before,
        "{what}: the outside folder changed"
    );
}

#[test]
fn a_cmd_output_through_a_link_is_refused_before_anything_is_deleted() {
    refused(
        "stages:\n  s:\n    cmd: echo x > escape/victim.txt\n    outs: [escape/victim.txt]\n",
        "a file",
    );
    refused(
        "stages:\n  s:\n    cmd: mkdir -p escape/victimdir && echo x > escape/victimdir/new.txt\n    outs: [escape/victimdir]\n",
        "a folder",
    );
    refused(
        "stages:\n  s:\n    cmd: echo x > escape/new.txt\n    outs: [escape/new.txt]\n",
        "a new file",
    );
}

#[test]
fn nothing_runs_when_a_later_stage_would_escape() {
    let config = "stages:\n  index:\n    kind: index\n  s:\n    cmd: echo x > escape/new.txt\n    needs: [index]\n    outs: [escape/new.txt]\n";
    refused(config, "a later stage");
    let (ws, _outside) = setup(config);
    assert_eq!(ws.run(&["run"]).code(), 1);
    assert!(
        !ws.path().join("build/index").exists(),
        "index ran before the refusal"
    );
}

#[test]
fn a_builtin_output_link_through_a_link_is_refused() {
    refused(
        "stages:\n  index:\n    kind: index\n    out: escape/idx\n",
        "out: escape/idx",
    );
}

#[test]
fn build_itself_linked_out_of_the_workspace_is_refused() {
    let (ws, outside) = setup("stages:\n  index:\n    kind: index\n");
    symlink(outside.path(), ws.path().join("build")).unwrap();
    let before = common::tree(outside.path());
    let r = ws.run(&["run"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains("build"), "{}", r.stderr());
    assert_eq!(common::tree(outside.path()), before);
}

#[test]
fn links_that_stay_inside_still_work() {
    let ws = Ws::generated("stages:\n  index:\n    kind: index\n    out: results/idx\n");
    fs::create_dir(ws.path().join("real")).unwrap();
    symlink(ws.path().join("real"), ws.path().join("results")).unwrap();
    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("ran"), ["index"]);
    assert!(ws.path().join("real/idx/manifest.parquet").exists());
    // and the link is recognised as up to date
    assert!(ws.ok(&["run"]).stages("ran").is_empty());
}
