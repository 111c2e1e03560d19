//! A stage run's identity: everything that can change its output, and nothing else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped when the key's shape or the cache layout changes; old entries then miss.
pub const CACHE_SCHEMA: u32 = 1;

/// The key of one stage run. Never holds absolute paths, mtimes or HashMap order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageKey {
    pub schema: u32,
    /// `index`, `split`, ... or `cmd`.
    pub kind: String,
    /// The implementation's version ([`super::stage::Stage::version`]).
    pub version: u32,
    /// Canonical params.
    pub params: Value,
    /// Input file -> blake3 of its content.
    pub inputs: BTreeMap<String, String>,
    /// Upstream stage name -> its key digest.
    pub upstream: BTreeMap<String, String>,
}

impl StageKey {
    /// blake3 of the canonical JSON, hex. serde_json maps are sorted, so this is stable.
    pub fn digest(&self) -> String {
        // string-keyed maps and JSON values only: serialising cannot fail, and if it ever did,
        // hashing empty bytes would give every stage one key, so it must stop here instead
        let bytes = serde_json::to_vec(self).expect("a StageKey serialises to JSON");
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// Why `self` differs from `old`, most specific first; empty when they are equal.
    pub fn why_changed(&self, old: &StageKey) -> Vec<String> {
        let mut why = Vec::new();
        if self.schema != old.schema {
            why.push(format!(
                "cache schema changed ({} -> {})",
                old.schema, self.schema
            ));
        }
        if self.kind != old.kind {
            why.push(format!("kind changed ({} -> {})", old.kind, self.kind));
        }
        if self.version != old.version {
            why.push(format!(
                "stage implementation changed (v{} -> v{})",
                old.version, self.version
            ));
        }
        param_diff("", &old.params, &self.params, &mut why);
        let mut changed = Vec::new();
        for (path, hash) in &self.inputs {
            match old.inputs.get(path) {
                None => changed.push(format!("input added: {path}")),
                Some(h) if h != hash => changed.push(format!("input changed: {path}")),
                _ => {}
            }
        }
        for path in old.inputs.keys() {
            if !self.inputs.contains_key(path) {
                changed.push(format!("input removed: {path}"));
            }
        }
        let n = changed.len();
        why.extend(changed.into_iter().take(5));
        if n > 5 {
            why.push(format!("... and {} more input files", n - 5));
        }
        for (name, digest) in &self.upstream {
            if old.upstream.get(name) != Some(digest) {
                why.push(format!("upstream `{name}` changed"));
            }
        }
        for name in old.upstream.keys() {
            if !self.upstream.contains_key(name) {
                why.push(format!("upstream `{name}` removed"));
            }
        }
        why
    }
}

fn param_diff(prefix: &str, old: &Value, new: &Value, why: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                param_diff(&path, a.get(k).unwrap_or(&Value::Null), v, why);
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                why.push(format!("param {prefix}{k} removed"));
            }
        }
        (a, b) if a != b => why.push(format!("param {prefix} changed ({a} -> {b})")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> StageKey {
        StageKey {
            schema: CACHE_SCHEMA,
            kind: "split".into(),
            version: 1,
            params: json!({"protocol": "writeup", "seed": 42}),
            inputs: BTreeMap::from([("data/a.jpeg".into(), "00ff".into())]),
            upstream: BTreeMap::from([("index".into(), "abcd".into())]),
        }
    }

    /// Golden hash: if this changes, every user's cache is invalidated, so it must be on
    /// purpose (and then CACHE_SCHEMA should move too).
    #[test]
    fn golden_digest_is_stable() {
        let json = serde_json::to_string(&key()).unwrap();
        assert_eq!(
            json,
            r#"{"schema":1,"kind":"split","version":1,"params":{"protocol":"writeup","seed":42},"inputs":{"data/a.jpeg":"00ff"},"upstream":{"index":"abcd"}}"#
        );
        assert_eq!(
            key().digest(),
            "06fc39edc54f8ea41dba642aca5704bb1ea61284d71f471d878a1185e4ed8425"
        );
    }

    #[test]
    fn param_change_is_named() {
        let mut k = key();
        k.params["seed"] = json!(7);
        assert_ne!(k.digest(), key().digest());
        assert_eq!(k.why_changed(&key()), vec!["param seed changed (42 -> 7)"]);
    }

    #[test]
    fn input_and_upstream_changes_are_named() {
        let mut k = key();
        k.inputs.insert("data/a.jpeg".into(), "0100".into());
        k.upstream.insert("index".into(), "ffff".into());
        assert_eq!(
            k.why_changed(&key()),
            vec!["input changed: data/a.jpeg", "upstream `index` changed"]
        );
    }
}
