//! Nothing the user owns is lost in ordinary use (issue: a `cmd` stage run from its own
//! folder emptied its output; outputs naming user files deleted them; a linked `.pneumo`
//! wrote and pruned outside the workspace; `clean` pruned what a damaged experiment held).
//! Every case runs the binary the way people type it, in each workspace form.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};

use common::{FORMS, Form, THREE_STAGES, Ws};

const TOP: &str = "stages:\n  d:\n    cmd: \"echo good > top.csv\"\n    outs: [top.csv]\n";

fn lock(ws: &Ws) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&fs::read_to_string(ws.path().join("pipeline.lock")).unwrap()).unwrap()
}

/// The first case, in all four forms: the output keeps its bytes, the lock and the
/// cache entry record it, and a second run in the same form is a no-op that keeps it.
#[test]
fn a_cmd_output_keeps_its_bytes_whatever_form_the_workspace_takes() {
    for form in FORMS {
        let ws = Ws::new(TOP);
        assert_eq!(ws.ok_as(form, &["run"]).stages("ran"), ["d"], "{form:?}");
        let top = ws.path().join("top.csv");
        assert_eq!(fs::read_to_string(&top).unwrap(), "good\n", "{form:?}");
        let outs = &lock(&ws)["stages"]["d"]["outs"];
        assert_eq!(
            outs["top.csv"]["size"].as_u64(),
            Some(5),
            "{form:?}: {outs:?}"
        );
        assert_eq!(ws.ok_as(form, &["run"]).stages("fresh"), ["d"], "{form:?}");
        assert_eq!(fs::read_to_string(&top).unwrap(), "good\n", "{form:?}");
        // removed by hand: restored from the cache entry, which holds the bytes
        fs::remove_file(&top).unwrap();
        assert_eq!(
            ws.ok_as(form, &["run"]).stages("restored"),
            ["d"],
            "{form:?}"
        );
        assert_eq!(fs::read_to_string(&top).unwrap(), "good\n", "{form:?}");
    }
}

/// Folders and nested files as outputs, through a link inside the workspace too.
#[test]
fn folder_and_nested_outputs_are_cached_under_their_declared_names() {
    for form in FORMS {
        let ws = Ws::new(
            "stages:\n  d:\n    cmd: mkdir -p res/deep && echo a > res/deep/a.txt && echo b > real/b.txt\n    outs: [res, inner/b.txt]\n",
        );
        fs::create_dir(ws.path().join("real")).unwrap();
        symlink(ws.path().join("real"), ws.path().join("inner")).unwrap();
        ws.ok_as(form, &["run"]);
        let outs = &lock(&ws)["stages"]["d"]["outs"];
        assert!(outs["res/deep/a.txt"].is_mapping(), "{form:?}: {outs:?}");
        assert!(outs["inner/b.txt"].is_mapping(), "{form:?}: {outs:?}");
        fs::remove_dir_all(ws.path().join("res")).unwrap();
        fs::remove_file(ws.path().join("real/b.txt")).unwrap();
        assert_eq!(ws.ok_as(form, &["run"]).stages("restored"), ["d"]);
        assert_eq!(
            fs::read_to_string(ws.path().join("res/deep/a.txt")).unwrap(),
            "a\n"
        );
        assert_eq!(
            fs::read_to_string(ws.path().join("real/b.txt")).unwrap(),
            "b\n"
        );
    }
}

/// A command that hard-links a file from outside into its output: the outside file is read
/// into the cache, never written (it was truncated to 0 bytes).
#[test]
fn a_hard_linked_outside_file_is_never_truncated() {
    let outside = tempfile::tempdir().unwrap();
    let data = outside.path().join("data.csv");
    fs::write(&data, "precious,1\n").unwrap();
    for form in FORMS {
        let ws = Ws::new(&format!(
            "stages:\n  d:\n    cmd: ln -f {} res.csv\n    outs: [res.csv]\n",
            data.display()
        ));
        ws.ok_as(form, &["run"]);
        assert_eq!(
            fs::read_to_string(&data).unwrap(),
            "precious,1\n",
            "{form:?}"
        );
        assert_eq!(
            lock(&ws)["stages"]["d"]["outs"]["res.csv"]["size"].as_u64(),
            Some(11)
        );
        // the workspace copy is the engine's now: its own inode, not the outside one
        let res = fs::metadata(ws.path().join("res.csv")).unwrap();
        assert_ne!(res.ino(), fs::metadata(&data).unwrap().ino(), "{form:?}");
    }
}

/// Outputs that name a user's files: refused before the command runs, nothing deleted, in
/// every form; a failing command cannot take them with it either.
#[test]
fn outputs_naming_user_files_are_refused_and_left_alone() {
    for form in FORMS {
        for cmd in ["exit 3", "echo new > results.csv && mkdir -p notes"] {
            let ws = Ws::new(&format!(
                "stages:\n  d:\n    cmd: {cmd}\n    outs: [results.csv, notes]\n"
            ));
            fs::write(ws.path().join("results.csv"), "mine").unwrap();
            fs::create_dir(ws.path().join("notes")).unwrap();
            fs::write(ws.path().join("notes/n.txt"), "my notes").unwrap();
            let r = ws.run_as(form, &["run"]);
            assert_eq!(r.code(), 1, "{form:?} {cmd}: {}", r.stderr());
            assert!(
                r.stderr()
                    .contains("results.csv exists, and no run of this stage wrote it"),
                "{}",
                r.stderr()
            );
            assert!(r.stderr().contains("nothing was deleted"), "{}", r.stderr());
            assert_eq!(
                fs::read_to_string(ws.path().join("results.csv")).unwrap(),
                "mine"
            );
            assert_eq!(
                fs::read_to_string(ws.path().join("notes/n.txt")).unwrap(),
                "my notes"
            );
        }
    }
}

/// pipeline.yaml, the lock, `.git`, the dataset the index stage reads and a stage's own deps
/// are refused as outputs when the config is read (exit 2), before anything runs.
#[test]
fn outputs_over_the_config_the_lock_git_or_an_input_are_config_errors() {
    let cases = [
        (
            "    cmd: 'true'\n    outs: [pipeline.yaml]\n",
            "is the pipeline's own config",
        ),
        (
            "    cmd: 'true'\n    outs: [./pipeline.lock]\n",
            "is the engine's lock file",
        ),
        (
            "    cmd: 'true'\n    outs: [.git/hooks/x]\n",
            "inside a `.git` folder",
        ),
        (
            "    cmd: 'true'\n    outs: [data]\n",
            "stage `s` writes `data`, which stage `index` reads as `data/chest_xray`",
        ),
        (
            "    cmd: 'true'\n    outs: [data/chest_xray/train/extra.csv]\n",
            "which stage `index` reads",
        ),
        (
            "    cmd: 'true'\n    deps: [in]\n    outs: [in/x.csv]\n",
            "stage `s` writes `in/x.csv` and also reads `in`",
        ),
    ];
    for (stage, want) in cases {
        let ws = Ws::generated(&format!("{THREE_STAGES}  s:\n{stage}"));
        let before = fs::read_to_string(ws.path().join("pipeline.yaml")).unwrap();
        let r = ws.run_as(Form::Cwd, &["run"]);
        assert_eq!(r.code(), 2, "{stage}: {}", r.stderr());
        assert!(r.stderr().contains(want), "{stage}: {}", r.stderr());
        assert!(
            !ws.path().join(".pneumo/cache").exists(),
            "{stage}: something ran"
        );
        assert_eq!(
            fs::read_to_string(ws.path().join("pipeline.yaml")).unwrap(),
            before
        );
        assert!(ws.data().join("train/NORMAL/IM-0001-0001.jpeg").exists());
    }
}

/// An output edited by hand is the user's now: refused, kept; once moved away, the
/// engine's copy comes back from the cache.
#[test]
fn an_edited_output_is_not_overwritten() {
    let ws = Ws::new(TOP);
    ws.ok_as(Form::Cwd, &["run"]);
    fs::write(ws.path().join("top.csv"), "edited by hand").unwrap();
    let r = ws.run_as(Form::Cwd, &["run"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        r.stderr().contains("was changed since this stage wrote it"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        fs::read_to_string(ws.path().join("top.csv")).unwrap(),
        "edited by hand"
    );
    fs::rename(ws.path().join("top.csv"), ws.path().join("mine.csv")).unwrap();
    assert_eq!(ws.ok_as(Form::Cwd, &["run"]).stages("restored"), ["d"]);
    assert_eq!(
        fs::read_to_string(ws.path().join("top.csv")).unwrap(),
        "good\n"
    );
    // a changed command replaces its own output (the lock's bytes)
    ws.edit_config("echo good", "echo better");
    assert_eq!(ws.ok_as(Form::Cwd, &["run"]).stages("ran"), ["d"]);
    assert_eq!(
        fs::read_to_string(ws.path().join("top.csv")).unwrap(),
        "better\n"
    );
}

/// An experiment's command writes in the workspace while it runs; afterwards the
/// workspace's file is the last `run`'s again (it held the experiment's bytes).
#[test]
fn an_experiment_leaves_the_workspace_outputs_as_the_last_run_made_them() {
    let ws = Ws::new(TOP);
    ws.ok_as(Form::Cwd, &["run"]);
    for (i, form) in FORMS.into_iter().enumerate() {
        let set = format!("d.cmd=echo other{i} > top.csv");
        let r = ws.ok_as(form, &["exp", "run", "-S", &set]);
        assert_eq!(r.stages("ran"), ["d"], "{form:?}");
        assert_eq!(
            fs::read_to_string(ws.path().join("top.csv")).unwrap(),
            "good\n"
        );
    }
    assert_eq!(ws.ok_as(Form::Cwd, &["run"]).stages("fresh"), ["d"]);
}

/// `.pneumo` or a folder in it linked elsewhere: run, status, exp run and clean refuse, and the
/// folder it points to is untouched (clean used to prune a user's files there).
#[test]
fn a_linked_engine_folder_is_refused() {
    for linked in [
        ".pneumo",
        ".pneumo/cache",
        ".pneumo/cache/v1",
        ".pneumo/exps",
    ] {
        let ws = Ws::new(TOP);
        ws.ok_as(Form::Cwd, &["run"]);
        let shared = tempfile::tempdir().unwrap();
        fs::write(shared.path().join("users-file.txt"), "keep").unwrap();
        fs::create_dir_all(shared.path().join("runs/not-an-entry")).unwrap();
        let at = ws.path().join(linked);
        fs::remove_dir_all(&at).ok();
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        symlink(shared.path(), &at).unwrap();
        let before = common::tree(shared.path());
        for args in [
            &["run"][..],
            &["status"],
            &["clean"],
            &["exp", "run", "-S", "d.cmd=echo x"],
        ] {
            let r = ws.run_as(Form::Dot, args);
            assert_eq!(r.code(), 1, "{linked} {args:?}: {}", r.stderr());
            assert!(r.stderr().contains("is a link"), "{linked}: {}", r.stderr());
            assert!(
                r.stderr().contains("cache: {remote: file:///path}"),
                "{}",
                r.stderr()
            );
            assert_eq!(common::tree(shared.path()), before, "{linked} {args:?}");
        }
    }
}

/// `clean` keeps what experiments hold: a damaged record stops it (naming the file), and an
/// experiment that failed half-way keeps the entries its own lock names.
#[test]
fn clean_never_prunes_what_an_experiment_may_hold() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["run"]);
    ws.ok(&["exp", "run", "-S", "split.seed=7", "--name", "seven"]);
    let entries = || {
        fs::read_dir(ws.path().join(".pneumo/cache/v1/runs"))
            .unwrap()
            .count()
    };
    let n = entries();
    let record = ws.path().join(".pneumo/exps/seven/exp.json");
    fs::write(&record, b"{\"format\": 99}").unwrap();
    for form in FORMS {
        let r = ws.run_as(form, &["clean"]);
        assert_eq!(r.code(), 1, "{form:?}: {}", r.stderr());
        assert!(r.stderr().contains("exp.json"), "{}", r.stderr());
        assert!(r.stderr().contains("nothing was removed"), "{}", r.stderr());
        assert_eq!(entries(), n);
    }
    // a record missing (the experiment failed after some stages): its lock still pins them
    fs::remove_file(&record).unwrap();
    assert!(
        ws.ok(&["clean"])
            .stdout()
            .starts_with("removed 0 cache entries")
    );
    assert_eq!(entries(), n);
    // and something in the cache folder the engine did not make is not its to delete
    let stray = ws.path().join(".pneumo/cache/v1/runs/README.txt");
    fs::write(&stray, "mine").unwrap();
    fs::remove_dir_all(ws.path().join(".pneumo/exps")).unwrap();
    let out = ws.ok_as(Form::Relative, &["clean"]).stdout();
    assert!(out.starts_with("removed 1 cache entry"), "{out}");
    assert!(stray.exists());
}

/// A command that writes into an upstream's entry (the folder `$PNEUMO_IN_<UPSTREAM>` names)
/// fails, and the entry it changed is dropped, so the upstream runs again instead of every
/// later stage trusting bytes no run made.
#[test]
fn a_command_writing_into_an_upstream_entry_fails_and_that_entry_is_made_again() {
    for write in [
        "echo x >> $PNEUMO_IN_SPLIT/counts.json",
        "touch $PNEUMO_IN_SPLIT/extra.txt",
        "rm -f $PNEUMO_IN_SPLIT/counts.json",
    ] {
        let ws = Ws::generated(&format!(
            "{THREE_STAGES}  c:\n    cmd: {write} && echo ok > c.txt\n    needs: [split]\n    outs: [c.txt]\n"
        ));
        let r = ws.run_as(Form::Cwd, &["run"]);
        assert_eq!(r.code(), 1, "{write}: {}", r.stderr());
        assert!(
            r.stderr()
                .contains("in the cache entry of `split` ($PNEUMO_IN_SPLIT)"),
            "{write}: {}",
            r.stderr()
        );
        ws.edit_config(&format!("{write} && "), "");
        let r = ws.ok_as(Form::Cwd, &["run"]);
        assert_eq!(r.stages("ran"), ["split", "c"], "{write}");
        let counts = fs::read_to_string(ws.path().join("build/split/counts.json")).unwrap();
        assert!(!counts.ends_with("x\n") && !ws.path().join("build/split/extra.txt").exists());
    }
}
