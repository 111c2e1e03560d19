//! pipeline.yaml's stages with every matrix expanded (`matrix.rs` for the naming and the
//! substitution): a matrix stage becomes its members, a stage that needs one follows it
//! member by member, and a stage that combines its kind needs every member.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::config::RawStage;
use super::matrix::{Member, member_name, members, substitute};
use super::stage::Registry;

/// A problem to report: the key path under `stages.<base>`, the message and a hint.
pub type Problem = (Vec<String>, String, String);

/// One stage after expansion: its name, the stage it was written as, and its raw form.
pub struct Expanded {
    pub name: String,
    pub base: String,
    pub raw: RawStage,
}

struct Expander<'a> {
    raw: BTreeMap<&'a str, &'a RawStage>,
    registry: &'a Registry,
    own: BTreeMap<&'a str, Vec<Member>>,
    memo: BTreeMap<&'a str, Option<Vec<String>>>,
    visiting: BTreeSet<&'a str>,
    problems: Vec<Problem>,
}

pub fn expand(stages: &[(String, RawStage)], registry: &Registry) -> (Vec<Expanded>, Vec<Problem>) {
    let mut x = Expander {
        raw: stages.iter().map(|(n, r)| (n.as_str(), r)).collect(),
        registry,
        own: BTreeMap::new(),
        memo: BTreeMap::new(),
        visiting: BTreeSet::new(),
        problems: Vec::new(),
    };
    for (name, raw) in stages {
        if let Some(m) = &raw.matrix {
            match members(m) {
                Ok(list) => {
                    x.own.insert(name, list);
                }
                Err((path, msg)) => x.problem(
                    name,
                    &[
                        &["matrix"],
                        &path.iter().map(String::as_str).collect::<Vec<_>>()[..],
                    ]
                    .concat(),
                    msg,
                    "write `matrix: {key: [value, ...]}`",
                ),
            }
        }
    }
    let mut out = Vec::new();
    for (name, raw) in stages {
        let follows = if raw.matrix.is_some() {
            None
        } else {
            x.suffixes(name)
        };
        if let Some(list) = x.own.get(name.as_str()).cloned() {
            for (i, m) in list.into_iter().enumerate() {
                let mut used = Vec::new();
                let mut r = raw.clone();
                r.matrix = None;
                if let Some(p) = &raw.params {
                    match substitute(p, &m.item, &mut used) {
                        Ok(v) => r.params = Some(v),
                        Err(msg) => {
                            // reported once; the member goes on with default params, so
                            // the mistake is not reported again as a bad param value
                            r.params = None;
                            if i == 0 {
                                x.problem(
                                    name,
                                    &["params"],
                                    msg,
                                    "use `${item.KEY}` with a key of `matrix:`",
                                );
                            }
                        }
                    }
                }
                // every member uses the same keys: the first one speaks for all
                let text = raw
                    .params
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_default();
                let unused = m
                    .item
                    .keys()
                    .filter(|k| i == 0 && !text.contains(&format!("${{item.{k}}}")));
                for key in unused {
                    x.problem(
                        name,
                        &["matrix", key],
                        format!("matrix key `{key}` is not used in `params` (every member would be the same stage)"),
                        &format!("write `{key}: ${{item.{key}}}` under `params:`"),
                    );
                }
                r.needs = x.needs(name, &raw.needs, Some(&m.suffix));
                r.out = raw
                    .out
                    .as_ref()
                    .map(|o| format!("{}/{}", o.trim_end_matches('/'), m.suffix));
                out.push(Expanded {
                    name: member_name(name, &m.suffix),
                    base: name.clone(),
                    raw: r,
                });
            }
        } else if let Some(suffixes) = follows {
            if raw
                .params
                .as_ref()
                .is_some_and(|p| p.to_string().contains("${item."))
            {
                x.problem(
                    name,
                    &["params"],
                    "`${item.…}` is for stages with a `matrix:`".into(),
                    "a stage that follows a matrix gets its members' outputs, not their values",
                );
            }
            for s in suffixes {
                let mut r = raw.clone();
                r.needs = x.needs(name, &raw.needs, Some(&s));
                r.out = raw
                    .out
                    .as_ref()
                    .map(|o| format!("{}/{s}", o.trim_end_matches('/')));
                out.push(Expanded {
                    name: member_name(name, &s),
                    base: name.clone(),
                    raw: r,
                });
            }
        } else {
            let mut r = raw.clone();
            r.needs = x.needs(name, &raw.needs, None);
            out.push(Expanded {
                name: name.clone(),
                base: name.clone(),
                raw: r,
            });
        }
    }
    (out, x.problems)
}

impl<'a> Expander<'a> {
    fn problem(&mut self, stage: &str, path: &[&str], msg: String, hint: &str) {
        let mut p = vec!["stages".to_string(), stage.to_string()];
        p.extend(path.iter().map(|s| s.to_string()));
        self.problems.push((p, msg, hint.to_string()));
    }

    fn combines(&self, stage: &str) -> &'static [&'static str] {
        self.raw
            .get(stage)
            .and_then(|r| r.kind.as_deref())
            .and_then(|k| self.registry.get(k))
            .map_or(&[], |s| s.combines())
    }

    fn kind(&self, stage: &str) -> Option<&'a str> {
        self.raw.get(stage).and_then(|r| r.kind.as_deref())
    }

    /// The member suffixes `name` has (its own matrix, or the one it follows), if any.
    fn suffixes(&mut self, name: &'a str) -> Option<Vec<String>> {
        if let Some(done) = self.memo.get(name) {
            return done.clone();
        }
        let raw = *self.raw.get(name)?;
        if let Some(list) = self.own.get(name) {
            let list: Vec<String> = list.iter().map(|m| m.suffix.clone()).collect();
            self.memo.insert(name, Some(list.clone()));
            let combines = self.combines(name);
            for need in &raw.needs {
                let Some((&need, _)) = self.raw.get_key_value(need.as_str()) else {
                    continue;
                };
                let combined = self.kind(need).is_some_and(|k| combines.contains(&k));
                if !combined && self.suffixes(need).is_some() {
                    let msg = format!(
                        "stage `{name}` has its own `matrix` and needs `{need}`, which has one too"
                    );
                    self.problem(name, &["matrix"], msg, "put every key in one matrix");
                }
            }
            return Some(list);
        }
        if !self.visiting.insert(name) {
            return None; // a cycle: reported by the graph check
        }
        let combines = self.combines(name);
        let mut found: Option<(String, Vec<String>)> = None;
        for need in &raw.needs {
            let Some((&need, _)) = self.raw.get_key_value(need.as_str()) else {
                continue;
            };
            if self.kind(need).is_some_and(|k| combines.contains(&k)) {
                continue;
            }
            if let Some(s) = self.suffixes(need) {
                match &found {
                    Some((first, theirs)) if *theirs != s => {
                        let msg = format!(
                            "stage `{name}` follows two different matrices (`{first}` and `{need}`)"
                        );
                        self.problem(name, &["needs"], msg, "give both the same matrix, or need one member by name (`stage@key=value`)");
                    }
                    Some(_) => {}
                    None => found = Some((need.to_string(), s)),
                }
            }
        }
        self.visiting.remove(name);
        let result = found.map(|(_, s)| s);
        self.memo.insert(name, result.clone());
        result
    }

    /// `needs` of one member (`suffix`) or of a plain stage (`None`): a matrix upstream is
    /// that member, or every member for a kind this stage combines.
    fn needs(&mut self, name: &'a str, needs: &[String], suffix: Option<&str>) -> Vec<String> {
        let combines = self.combines(name);
        let mut out = Vec::new();
        for n in needs {
            let key = self.raw.get_key_value(n.as_str()).map(|(k, _)| *k);
            let list = key.and_then(|k| self.suffixes(k));
            match (list, key) {
                (Some(list), Some(k))
                    if self.kind(k).is_some_and(|kind| combines.contains(&kind)) =>
                {
                    out.extend(list.iter().map(|s| member_name(n, s)));
                }
                // a suffix the upstream lacks: two matrices met, reported in `suffixes`
                (Some(list), Some(_)) => {
                    if let Some(s) = suffix.filter(|s| list.iter().any(|l| l == s)) {
                        out.push(member_name(n, s));
                    }
                }
                _ => out.push(n.clone()),
            }
        }
        out
    }
}
