//! The JSON Schema of pipeline.yaml (`pneumo-pipeline schema`), generated from the types that
//! read it: the config types of `config.rs` for the file's shape, and each registered kind's
//! params type for a stage's `params:` (chosen by its `kind:`). yaml-language-server and any
//! JSON Schema validator then flag a typo'd key or a bad value as `run` does. A test keeps the
//! checked-in copy (`docs/pipeline.schema.json`) equal to what this builds.

use serde_json::{Value, json};

use super::config::RawPipeline;
use super::stage::Registry;

/// Where the checked-in schema lives, relative to the repository.
pub const CHECKED_IN: &str = "docs/pipeline.schema.json";

/// The schema, draft-07 (what editors' YAML support reads best).
pub fn pipeline_schema(registry: &Registry) -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut by_kind = Vec::new();
    for kind in registry.kinds() {
        let stage = registry.get(kind).expect("a registered kind");
        let params = stage.params_schema(&mut generator).to_value();
        by_kind.push(json!({
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"properties": {"params": params}}
        }));
    }
    let mut root = generator.into_root_schema_for::<RawPipeline>().to_value();
    root["title"] = json!("pneumo-pipeline pipeline.yaml");
    // in a matrix stage any param may be a `${item.KEY}` reference, replaced before the
    // params are read (`matrix.rs`)
    if let Some(defs) = root["definitions"].as_object_mut() {
        let params = defs.iter_mut().filter(|(n, _)| !n.starts_with("Raw"));
        for (_, def) in params {
            if let Some(props) = def.get_mut("properties").and_then(Value::as_object_mut) {
                for prop in props.values_mut() {
                    // the description stays on top, where editors show it
                    let description = prop.get("description").cloned();
                    *prop = json!({"anyOf": [prop.take(), {"$ref": "#/definitions/MatrixItem"}]});
                    if let Some(d) = description {
                        prop["description"] = d;
                    }
                }
            }
        }
        defs.insert(
            "MatrixItem".into(),
            json!({
                "description": "In a stage with a `matrix`: replaced by the member's value of KEY.",
                "type": "string",
                "pattern": "\\$\\{item\\.[^}]+\\}"
            }),
        );
    }
    let stage = &mut root["definitions"]["RawStage"];
    stage["properties"]["kind"] = json!({
        "description": "A built-in stage kind, or leave it out and give `cmd`.",
        "enum": registry.kinds().collect::<Vec<_>>(),
    });
    stage["allOf"] = Value::Array(by_kind);
    root
}

/// The schema as the checked-in file holds it: pretty, with a final newline.
pub fn render(registry: &Registry) -> String {
    let mut text = serde_json::to_string_pretty(&pipeline_schema(registry)).expect("JSON");
    text.push('\n');
    text
}
