//! serde's messages about a stage's params, located at the key they are about: serde names
//! a field for an unknown one, and only the value for a value of the wrong type or range.

use serde_json::Value;

use super::Validator;

impl Validator<'_> {
    /// Locates a serde message (`unknown field `x`` ...) under `base` and records it.
    /// `given` is the map the message is about, used to find a bad value's key.
    pub(super) fn serde_error(&mut self, base: &[&str], msg: &str, given: Option<&Value>) {
        let field = backticked(msg);
        let mut path = base.to_vec();
        let expected = msg
            .split_once(", expected ")
            .map(|(_, exp)| format!("expected {exp}"));
        let mut named = None;
        let hint = if msg.starts_with("unknown field") {
            if let Some(f) = field {
                path.push(f);
            }
            expected.unwrap_or_else(|| "remove it".into())
        } else if let Some((keys, text)) = located_value(msg, given) {
            // `invalid type: string "abc", expected f64` names no key: the value does
            path.extend(keys.iter().copied());
            named = Some(format!("`{}`: {text}", keys.join(".")));
            expected.map_or_else(
                || "see README.md for the stage's params".into(),
                |e| plain(&e),
            )
        } else if msg.starts_with("unknown variant") || msg.starts_with("invalid value") {
            let key = given.and_then(Value::as_object).and_then(|m| {
                m.iter()
                    .find(|(k, v)| Some(k.as_str()) == field || v.as_str() == field)
                    .map(|(k, _)| k.as_str())
            });
            // a stage's own check names a nested key by its dotted path (`augment.blur`)
            let nested: Vec<&str> = field.map_or(Vec::new(), |f| f.split('.').collect());
            if let Some(k) = key {
                path.push(k);
            } else if nested.len() > 1
                && given
                    .and_then(|g| g.pointer(&format!("/{}", nested.join("/"))))
                    .is_some()
            {
                path.extend(nested);
            }
            expected.unwrap_or_else(|| "see README.md for the stage's params".into())
        } else if msg.starts_with("invalid type: null") {
            // YAML's `.inf` and `.nan` cannot cross JSON: they arrive here as null
            let keys = given.map(first_null).unwrap_or_default();
            if !keys.is_empty() {
                named = Some(format!("invalid type: null for `{}`", keys.join(".")));
            }
            path.extend(keys);
            "give a finite number (an empty value, `~`, `.inf` and `.nan` all read as null)"
                .to_string()
        } else if msg.starts_with("missing field") {
            "add it".to_string()
        } else {
            "see README.md for the stage's params".to_string()
        };
        let msg =
            named.unwrap_or_else(|| msg.split(", expected").next().unwrap_or(msg).to_string());
        self.error(&path, msg, hint);
    }
}

/// For `invalid type: string "abc", expected f64` or `invalid value: integer `-1`, expected
/// usize`: the keys down to the one value in `given` that reads as the quoted one, and the
/// message up to `, expected`.
fn located_value<'a>(msg: &str, given: Option<&'a Value>) -> Option<(Vec<&'a str>, String)> {
    if !(msg.starts_with("invalid type:") || msg.starts_with("invalid value:")) {
        return None;
    }
    let text = msg.split(", expected").next().unwrap_or(msg);
    let literal = match (text.find('"'), text.rfind('"')) {
        (Some(a), Some(b)) if b > a => Value::String(text[a + 1..b].to_string()),
        _ => serde_json::from_str(backticked(text)?).ok()?,
    };
    let mut found = Vec::new();
    find_value(given?, &literal, &mut Vec::new(), &mut found);
    // one match only: with two keys holding the same value, guessing would mislead
    match found.as_slice() {
        [one] => Some((one.clone(), text.to_string())),
        _ => None,
    }
}

fn find_value<'a>(
    v: &'a Value,
    want: &Value,
    at: &mut Vec<&'a str>,
    found: &mut Vec<Vec<&'a str>>,
) {
    if let Some(map) = v.as_object() {
        for (k, child) in map {
            at.push(k);
            if child == want {
                found.push(at.clone());
            } else {
                find_value(child, want, at, found);
            }
            at.pop();
        }
    }
}

/// serde's `expected f64` in words a config's author reads.
fn plain(expected: &str) -> String {
    let what = expected.trim_start_matches("expected ");
    let words = match what {
        "f64" | "f32" => "a number",
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number, 0 or more",
        "i64" | "i32" => "a whole number",
        "a boolean" | "bool" => "true or false",
        other => other,
    };
    format!("expected {words}")
}

/// The first `backticked` word in a serde message.
fn backticked(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

/// The keys down to the first null value in `v` (depth first), empty when none.
fn first_null(v: &Value) -> Vec<&str> {
    let Some(map) = v.as_object() else {
        return Vec::new();
    };
    for (k, child) in map {
        if child.is_null() {
            return vec![k.as_str()];
        }
        let below = first_null(child);
        if !below.is_empty() {
            return std::iter::once(k.as_str()).chain(below).collect();
        }
    }
    Vec::new()
}
