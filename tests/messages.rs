//! Messages that did not say what was wrong (issue: "invalid type: string" without the
//! param, an exit 1 for a config error, a wrong "both write `.`", a role "empty" for the
//! wrong reason, raw control characters from a record).

mod common;

use std::fs;

use common::{Form, THREE_STAGES, Ws};

#[test]
fn a_bad_set_value_names_its_param_and_is_a_config_error() {
    let ws = Ws::generated(THREE_STAGES);
    for (set, want) in [
        (
            "preprocess.size=abc",
            "`size`: invalid type: string \"abc\"",
        ),
        ("preprocess.size=-1", "`size`: invalid value: integer `-1`"),
        ("split.seed=[unclosed", "the value is not YAML"),
        ("split", "write STAGE.PARAM=VALUE"),
    ] {
        let r = ws.run_as(Form::Cwd, &["exp", "run", "-S", set]);
        assert_eq!(r.code(), 2, "{set}: {}", r.stderr());
        assert!(r.stderr().contains(want), "{set}: {}", r.stderr());
        assert!(!ws.path().join(".pneumo/exps").exists(), "{set}: recorded");
    }
    let r = ws.run(&["exp", "run", "-S", "preprocess.size=abc"]);
    assert!(
        r.stderr().contains("expected a whole number, 0 or more"),
        "{}",
        r.stderr()
    );
}

#[test]
fn an_output_refused_on_its_own_is_not_also_a_clash() {
    let ws = Ws::new(
        "stages:\n  a:\n    cmd: 'true'\n    outs: [/etc/passwd]\n  b:\n    cmd: 'true'\n    outs: ['.']\n",
    );
    let r = ws.run_as(Form::Dot, &["run"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    let err = r.stderr();
    assert!(
        err.contains("output path `/etc/passwd` is absolute"),
        "{err}"
    );
    assert!(
        err.contains("output path `.` is the workspace itself"),
        "{err}"
    );
    assert!(!err.contains("both write"), "{err}");
}

#[test]
fn a_writeup_split_without_normal_films_says_so() {
    let ws = Ws::generated(THREE_STAGES);
    fs::remove_dir_all(ws.data().join("train/NORMAL")).unwrap();
    let r = ws.ok_as(Form::Cwd, &["run", "split"]);
    assert!(
        r.stderr()
            .contains("it has 5 films but no NORMAL one to balance against"),
        "{}",
        r.stderr()
    );
}

#[test]
fn exp_show_escapes_control_characters() {
    let ws = Ws::generated(THREE_STAGES);
    ws.ok(&["exp", "run", "-S", "split.seed=3", "--name", "esc"]);
    // a record edited by hand (or written by a newer tool) with a terminal escape in it
    let record = ws.path().join(".pneumo/exps/esc/exp.json");
    let text = fs::read_to_string(&record).unwrap();
    fs::write(&record, text.replace("\"esc\"", "\"es\\u001b[31mc\"")).unwrap();
    let out = ws.ok_as(Form::Relative, &["exp", "show"]).stdout();
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(out.contains("es\\u{1b}[31mc"), "{out}");
}

/// Enumerated params that had drifted out of the checked list are reported like the others:
/// every bad one at once, each with its words (serde stopped at the first, without the key).
#[test]
fn misspelt_protocol_equalize_decode_and_calibration_are_reported_together() {
    let ws = Ws::new(
        "stages:\n  index:\n    kind: index\n  split:\n    kind: split\n    needs: [index]\n    params: {protocol: patiant}\n  preprocess:\n    kind: preprocess\n    needs: [index]\n    params: {equalize: clahee, decode: scald}\n",
    );
    let r = ws.run_as(Form::Cwd, &["status"]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    let err = r.stderr();
    for want in [
        "invalid value `patiant` for `protocol`",
        "expected `writeup` or `patient`",
        "invalid value `clahee` for `equalize`",
        "expected one of `none`, `histogram`, `clahe`",
        "invalid value `scald` for `decode`",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // an optional one left unset with `~` is still unset (`-S evaluate.calibration=~`)
    let ws = Ws::new(&format!(
        "{}  train:\n    kind: train\n    needs: [split, preprocess]\n  evaluate:\n    kind: evaluate\n    needs: [split, preprocess, train]\n    params: {{calibration: ~}}\n",
        common::DATA_32
    ));
    let r = ws.run_as(Form::Cwd, &["dag"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
}
