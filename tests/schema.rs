//! `pneumo-pipeline schema`: the JSON Schema of pipeline.yaml, generated from the params
//! types. The checked-in copy is current, every shipped pipeline validates against it (with
//! Python's `jsonschema`, a validator as editors use one), and a typo `run` refuses is flagged
//! by the schema too, on the same file.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Ws;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The schema's complaints about each YAML file, one line each: `file<TAB>path<TAB>message`.
fn schema_errors(schema: &Path, files: &[PathBuf]) -> Vec<String> {
    let venv = repo().join(".venv/bin");
    let python = venv.join("python");
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import jsonschema, yaml"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(&python) {
        // what .ci/run does beforehand; here so that the README's test command holds alone
        let st = Command::new(venv.join("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "jsonschema",
                "pyyaml",
            ])
            .status();
        assert!(
            st.is_ok_and(|s| s.success()) && has(&python),
            "no JSON Schema validator: `.venv/bin/pip install jsonschema pyyaml` failed (run scripts/setup.sh first)"
        );
    }
    const CHECK: &str = r#"
import json, sys, yaml, jsonschema
v = jsonschema.Draft7Validator(json.load(open(sys.argv[1])))
for f in sys.argv[2:]:
    for e in v.iter_errors(yaml.safe_load(open(f))):
        print(f"{f}\t{'.'.join(map(str, e.path))}\t{e.message}")
"#;
    let out = Command::new(&python)
        .args(["-c", CHECK])
        .arg(schema)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_checked_in_schema_is_what_schema_prints() {
    let ws = Ws::new("stages: {}\n");
    let printed = ws.ok(&["schema"]).stdout();
    let checked_in = fs::read_to_string(repo().join("docs/pipeline.schema.json")).unwrap();
    assert!(
        printed == checked_in,
        "docs/pipeline.schema.json is stale: regenerate it with \
         `cargo run --release -- schema > docs/pipeline.schema.json`"
    );
}

#[test]
fn every_shipped_pipeline_validates_and_a_typo_is_flagged_by_both() {
    let schema = repo().join("docs/pipeline.schema.json");
    let mut shipped = vec![repo().join("pipeline.yaml")];
    for e in fs::read_dir(repo().join("examples")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            shipped.push(p);
        }
    }
    assert!(shipped.len() >= 5, "{shipped:?}");
    let errors = schema_errors(&schema, &shipped);
    assert!(errors.is_empty(), "{errors:#?}");

    // the default pipeline with a misspelt param, a word that is no choice, and a bad type
    let config = fs::read_to_string(repo().join("pipeline.yaml")).unwrap();
    for (from, to, key) in [
        ("batch_size: 32", "btach_size: 32", "btach_size"),
        ("protocol: writeup", "protocol: writup", "writup"),
        ("seed: 42", "seed: forty-two", "forty-two"),
    ] {
        assert!(config.contains(from), "{from}");
        let ws = Ws::new(&config.replace(from, to));
        let file = ws.path().join("pipeline.yaml");
        let flagged = schema_errors(&schema, std::slice::from_ref(&file));
        assert!(
            flagged.iter().any(|e| e.contains(key)),
            "the schema does not flag `{to}`: {flagged:#?}"
        );
        let run = ws.run(&["run"]);
        assert_eq!(run.code(), 2, "{}", run.stderr());
        assert!(
            run.stderr().contains(key),
            "`run` does not name `{key}`: {}",
            run.stderr()
        );
    }
}
