//! Every kind of pipeline.yaml mistake: located, hinted, all reported at once, exit code 2.

mod common;

use common::Ws;

/// Runs `dag` (which only validates) and returns stderr, checking the exit code.
fn errors(config: &str) -> String {
    let ws = Ws::new(config);
    let r = ws.run(&["dag"]);
    assert_eq!(r.code(), 2, "expected a config error:\n{}", r.stderr());
    assert!(!r.stderr().contains("panicked"));
    r.stderr()
}

#[test]
fn unknown_stage_kind() {
    insta::assert_snapshot!(errors("stages:\n  index:\n    kind: indx\n"));
}

#[test]
fn unknown_param() {
    insta::assert_snapshot!(errors(
        "stages:\n  index:\n    kind: index\n  split:\n    kind: split\n    needs: [index]\n    params:\n      sed: 3\n"
    ));
}

#[test]
fn invalid_param_value() {
    insta::assert_snapshot!(errors(
        "stages:\n  index:\n    kind: index\n  split:\n    kind: split\n    needs: [index]\n    params:\n      protocol: random\n"
    ));
}

#[test]
fn missing_kind_and_cmd() {
    insta::assert_snapshot!(errors("stages:\n  index:\n    needs: []\n"));
}

#[test]
fn unknown_stage_field() {
    insta::assert_snapshot!(errors(
        "stages:\n  index:\n    kind: index\n    need: [x]\n"
    ));
}

#[test]
fn cycle_is_printed_as_a_path() {
    insta::assert_snapshot!(errors(
        "stages:\n  a:\n    cmd: 'true'\n    needs: [b]\n  b:\n    cmd: 'true'\n    needs: [a]\n"
    ));
}

#[test]
fn dependency_on_undeclared_stage() {
    insta::assert_snapshot!(errors(
        "stages:\n  index:\n    kind: index\n  split:\n    kind: split\n    needs: [indx]\n"
    ));
}

#[test]
fn builtin_missing_its_upstream_kind() {
    insta::assert_snapshot!(errors("stages:\n  split:\n    kind: split\n"));
}

#[test]
fn two_stages_writing_one_path() {
    insta::assert_snapshot!(errors(
        "stages:\n  a:\n    cmd: 'true'\n    outs: [build/x]\n  b:\n    cmd: 'true'\n    outs: [build/x/y.csv]\n"
    ));
}

#[test]
fn output_outside_the_workspace() {
    insta::assert_snapshot!(errors(
        "stages:\n  a:\n    cmd: 'true'\n    outs: [../elsewhere.csv]\n  b:\n    cmd: 'true'\n    outs: [/tmp/abs.csv]\n  index:\n    kind: index\n    out: ../up\n"
    ));
}

#[test]
fn yaml_syntax_error_has_a_location() {
    insta::assert_snapshot!(errors("stages:\n  index:\n    kind: [index\n"));
}

#[test]
fn unknown_top_level_field() {
    insta::assert_snapshot!(errors("stage:\n  index:\n    kind: index\n"));
}

#[test]
fn every_error_is_reported_at_once() {
    let err = errors(
        "stages:\n  index:\n    kind: indx\n  split:\n    kind: split\n    needs: [index]\n    params:\n      sed: 3\n  a:\n    cmd: 'true'\n    needs: [a]\n    outs: [../x]\n",
    );
    assert!(err.ends_with("4 errors in pipeline.yaml\n"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn missing_config_file_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["--workspace"])
        .arg(dir.path())
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no pipeline.yaml in"), "{err}");
    assert!(err.contains("--workspace"), "{err}");
}

#[test]
fn overlapping_outputs_are_found_in_either_order_and_siblings_are_not() {
    // the folder declared after the file inside it
    let e = errors(
        "stages:\n  a:\n    cmd: 'true'\n    outs: [./build/x/y.csv]\n  b:\n    cmd: 'true'\n    outs: [build/x/]\n",
    );
    assert!(e.contains("stages `a` and `b` both write `build/x`"), "{e}");
    // `build/x` and `build/xy` share a prefix of text, not of path
    let ws = Ws::new(
        "stages:\n  a:\n    cmd: 'true'\n    outs: [build/x]\n  b:\n    cmd: 'true'\n    outs: [build/xy]\n",
    );
    ws.ok(&["dag"]);
}

/// Two upstreams of one kind where a built-in stage reads one: an error at the `needs`, not
/// a silent pick of the last (matrix stages will make this common).
#[test]
fn two_upstreams_of_a_kind_a_stage_reads_once_are_refused() {
    let e = errors(
        "stages:\n  index:\n    kind: index\n  a:\n    kind: split\n    needs: [index]\n  b:\n    kind: split\n    needs: [index]\n    params: {seed: 1}\n  preprocess:\n    kind: preprocess\n    needs: [index]\n  train:\n    kind: train\n    needs: [a, b, preprocess]\n",
    );
    assert!(
        e.contains("a `train` stage reads one `split` stage; `needs` lists 2: a, b"),
        "{e}"
    );
    assert!(e.contains("pipeline.yaml:16:5"), "{e}");
}

/// Three bad enumerated values: all three reported at once, each at its line:col with the
/// words it takes (exit 2).
#[test]
fn every_bad_enumerated_value_is_reported_with_the_allowed_set() {
    let e = errors(
        "stages:\n  index:\n    kind: index\n  split:\n    kind: split\n    needs: [index]\n  preprocess:\n    kind: preprocess\n    needs: [index]\n  train:\n    kind: train\n    needs: [split, preprocess]\n    params:\n      optimizer: adam\n      schedule: cosin\n      precision: 16\n",
    );
    for expected in [
        "error: invalid value `adam` for `optimizer`\n  --> pipeline.yaml:14:7\n  hint: expected `sgd` or `adamw`",
        "error: invalid value `cosin` for `schedule`\n  --> pipeline.yaml:15:7\n  hint: expected one of `constant`, `cosine`, `onecycle`",
        "error: invalid value `16` for `precision`\n  --> pipeline.yaml:16:7\n  hint: expected one of `fp32`, `bf16`, `auto`",
    ] {
        assert!(e.contains(expected), "missing:\n{expected}\nin:\n{e}");
    }
    assert!(e.contains("3 errors in pipeline.yaml"), "{e}");
}

/// The configs we ship (the default and every example) are valid as they stand: a renamed
/// or retired option would otherwise surface first in a user's run.
#[test]
fn every_shipped_config_validates() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut configs = vec![std::path::PathBuf::from(root).join("pipeline.yaml")];
    for entry in std::fs::read_dir(format!("{root}/examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            configs.push(path);
        }
    }
    assert!(configs.len() >= 5, "{configs:?}");
    for path in configs {
        let ws = Ws::new(&std::fs::read_to_string(&path).unwrap());
        let r = ws.run(&["dag"]);
        assert_eq!(r.code(), 0, "{}: {}", path.display(), r.stderr());
    }
}

/// YAML's `.inf` and `.nan` reach the params as null: the error names the key, its line and
/// why, nested ones too.
#[test]
fn infinite_and_nan_params_are_located_and_explained() {
    for (params, key, line) in [
        ("{lr: .inf}", "lr", "9:14"),
        ("\n      augment: {rotate: .nan}", "augment.rotate", "10:17"),
    ] {
        let e = errors(&format!(
            "stages:\n  index:\n    kind: index\n  split:\n    kind: split\n    needs: [index]\n  train:\n    kind: train\n    params: {params}\n    needs: [split]\n"
        ));
        assert!(
            e.contains(&format!("invalid type: null for `{key}`")),
            "{e}"
        );
        assert!(e.contains(&format!("pipeline.yaml:{line}\n")), "{e}");
        assert!(e.contains("`.inf` and `.nan` all read as null"), "{e}");
    }
}

/// A chart size out of range: the error names the one key at fault, at its line and column.
#[test]
fn chart_size_names_the_key_at_fault() {
    let dag = "stages:\n  index: {kind: index}\n  split: {kind: split, needs: [index]}\n  preprocess: {kind: preprocess, needs: [index]}\n  train: {kind: train, needs: [split, preprocess]}\n  evaluate: {kind: evaluate, needs: [split, preprocess, train]}\n  gradcam: {kind: gradcam, needs: [split, preprocess, evaluate]}\n  charts:\n    kind: charts\n    needs: [train, evaluate, gradcam]\n    params:\n";
    for (params, expected) in [
        (
            "      width: 800\n      height: 100\n",
            "invalid value `height`: 100, must be 150..4000 pixels\n  --> pipeline.yaml:13:7",
        ),
        (
            "      width: 5000\n",
            "invalid value `width`: 5000, must be 200..4000 pixels\n  --> pipeline.yaml:12:7",
        ),
    ] {
        let e = errors(&format!("{dag}{params}"));
        assert!(e.contains(expected), "missing:\n{expected}\nin:\n{e}");
        assert!(e.contains("1 error"), "{e}");
    }
}
