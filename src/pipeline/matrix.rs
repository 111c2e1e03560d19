//! Matrix stages: `matrix: {seed: [0, 1], lr: [0.001, 0.0003]}` on a stage declares one
//! member per combination, named `train@seed=0,lr=0.001` (keys in the order written), each
//! with `${item.KEY}` in its params replaced by its values. A stage that needs a matrix
//! stage follows it (one member per upstream member, same suffix) unless its kind combines
//! several (an ensemble), which then needs every member.

use std::collections::BTreeMap;

use serde_json::Value;

/// One combination: its name suffix (`seed=0,lr=0.001`) and its values by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub suffix: String,
    pub item: BTreeMap<String, Value>,
}

/// The members of `matrix`, the first key varying slowest.
pub fn members(matrix: &serde_yaml_ng::Mapping) -> Result<Vec<Member>, (Vec<String>, String)> {
    let mut out = vec![Member {
        suffix: String::new(),
        item: BTreeMap::new(),
    }];
    if matrix.is_empty() {
        return Err((vec![], "`matrix` is empty".into()));
    }
    for (key, values) in matrix {
        let Some(key) = key.as_str() else {
            return Err((vec![], "a matrix key must be a word".into()));
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((
                vec![key.into()],
                format!("invalid matrix key `{key}`: use letters, digits and `_`"),
            ));
        }
        let values: Vec<Value> = match values.as_sequence() {
            Some(seq) if !seq.is_empty() => seq
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                .collect(),
            _ => {
                return Err((
                    vec![key.into()],
                    format!("matrix key `{key}` needs a non-empty list of values"),
                ));
            }
        };
        let mut seen = Vec::new();
        for v in &values {
            if !(v.is_number() || v.is_string() || v.is_boolean()) {
                return Err((
                    vec![key.into()],
                    format!("matrix values are numbers, words or booleans; `{key}` has {v}"),
                ));
            }
            let text = text(v);
            if seen.contains(&text) {
                return Err((
                    vec![key.into()],
                    format!("matrix key `{key}` lists `{text}` twice"),
                ));
            }
            if text.is_empty()
                || text.contains([',', '=', '/', '@'])
                || text.contains(char::is_whitespace)
            {
                return Err((
                    vec![key.into()],
                    format!(
                        "matrix value `{text}` of `{key}` cannot be part of a stage name (no `,`, `=`, `/`, `@` or spaces)"
                    ),
                ));
            }
            seen.push(text);
        }
        out = out
            .into_iter()
            .flat_map(|m| {
                values.iter().map(move |v| {
                    let mut item = m.item.clone();
                    item.insert(key.to_string(), v.clone());
                    let part = format!("{key}={}", text(v));
                    Member {
                        suffix: if m.suffix.is_empty() {
                            part
                        } else {
                            format!("{},{part}", m.suffix)
                        },
                        item,
                    }
                })
            })
            .collect();
    }
    Ok(out)
}

/// A matrix value as it appears in a member's name and in text.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The member of `base` with `suffix`.
pub fn member_name(base: &str, suffix: &str) -> String {
    format!("{base}@{suffix}")
}

/// The stage a member belongs to (`train` for `train@seed=0`).
pub fn base_name(name: &str) -> &str {
    name.split_once('@').map_or(name, |(b, _)| b)
}

/// `params` with every `${item.KEY}` replaced: a string that is exactly one reference takes
/// the value itself (a number stays a number), one inside text takes its text. Returns the
/// keys used; an unknown key is an error.
pub fn substitute(
    params: &Value,
    item: &BTreeMap<String, Value>,
    used: &mut Vec<String>,
) -> Result<Value, String> {
    Ok(match params {
        Value::String(s) => {
            if let Some(key) = s
                .strip_prefix("${item.")
                .and_then(|r| r.strip_suffix('}'))
                .filter(|k| !k.contains('}'))
            {
                let v = item.get(key).ok_or_else(|| unknown(key, item))?;
                used.push(key.to_string());
                v.clone()
            } else {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(start) = rest.find("${item.") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 7..];
                    let end = after
                        .find('}')
                        .ok_or_else(|| format!("`{s}`: `${{item.` without its `}}`"))?;
                    let key = &after[..end];
                    let v = item.get(key).ok_or_else(|| unknown(key, item))?;
                    used.push(key.to_string());
                    out.push_str(&text(v));
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Value::String(out)
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| substitute(v, item, used))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, item, used)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn unknown(key: &str, item: &BTreeMap<String, Value>) -> String {
    let keys: Vec<&str> = item.keys().map(String::as_str).collect();
    format!(
        "`${{item.{key}}}` names no matrix key (the matrix has {})",
        keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(yaml: &str) -> serde_yaml_ng::Mapping {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn members_are_every_combination_in_the_order_written() {
        let m = members(&matrix("{seed: [0, 1], lr: [0.001, 0.0003]}")).unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.suffix.as_str()).collect();
        assert_eq!(
            names,
            [
                "seed=0,lr=0.001",
                "seed=0,lr=0.0003",
                "seed=1,lr=0.001",
                "seed=1,lr=0.0003"
            ]
        );
        assert_eq!(m[3].item["lr"], serde_json::json!(0.0003));
        for bad in [
            "{}",
            "{seed: []}",
            "{seed: 3}",
            "{seed: [1, 1]}",
            "{opt: [a b]}",
            "{opt: [{x: 1}]}",
        ] {
            assert!(members(&matrix(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_take_the_value_or_its_text() {
        let item: BTreeMap<String, Value> = [
            ("seed".to_string(), serde_json::json!(2)),
            ("opt".to_string(), serde_json::json!("adamw")),
        ]
        .into();
        let mut used = Vec::new();
        let p = serde_json::json!({"seed": "${item.seed}", "name": "run-${item.opt}-${item.seed}", "augment": {"x": ["${item.seed}"]}});
        let out = substitute(&p, &item, &mut used).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"seed": 2, "name": "run-adamw-2", "augment": {"x": [2]}})
        );
        used.sort();
        used.dedup();
        assert_eq!(used, ["opt", "seed"]);
        let err = substitute(&serde_json::json!("${item.lr}"), &item, &mut used).unwrap_err();
        assert!(err.contains("the matrix has opt, seed"), "{err}");
    }
}
