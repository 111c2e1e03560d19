//! Experiments: variants of pipeline.yaml (`exp run --set train.lr=0.01`) run in the same
//! workspace and cache, so stages they share with other runs are not run again. Each is
//! recorded under `.pneumo/exps/<name>/`: its pipeline.yaml, its own pipeline.lock and
//! `exp.json` ([`ExpRecord`]: what was changed, every stage's params and key, the headline
//! metrics). Outputs stay in the cache; the workspace's `build/` links and pipeline.lock are
//! the last `run`'s.

pub mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{self, versioned};
use crate::pipeline::cache::Cache;
use crate::pipeline::lockfile::LockFile;
use crate::stages::evaluate::Metrics;

/// Where experiments live, relative to the workspace.
pub const DIR: &str = ".pneumo/exps";
pub const RECORD: &str = "exp.json";
pub const FORMAT: u32 = 1;

/// `exp.json`: one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpRecord {
    pub format: u32,
    pub name: String,
    /// Seconds since the Unix epoch when it finished.
    pub created: u64,
    /// The `--set` assignments, as given.
    pub changes: Vec<String>,
    /// Every stage's canonical params.
    pub params: BTreeMap<String, Value>,
    /// Every stage's key.
    pub keys: BTreeMap<String, String>,
    /// `stage:role:metric` -> value, for each evaluate and ensemble stage.
    pub metrics: BTreeMap<String, f64>,
}

versioned!(ExpRecord, "experiment record", FORMAT);

/// The folder of experiment `name`.
pub fn dir(workspace: &Path, name: &str) -> PathBuf {
    workspace.join(DIR).join(name)
}

/// Checks an experiment name: it names a folder.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.=,@".contains(c))
    {
        bail!("invalid experiment name `{name}`: use letters, digits and `-_.=,@`");
    }
    Ok(())
}

/// `src` (pipeline.yaml's text) with each `STAGE.PARAM[.KEY...]=VALUE` applied: under
/// `params:` unless the first key is a stage field (`matrix`, `resources`, `needs`, ...).
/// VALUE is YAML (`0.01`, `adamw`, `[0, 1]`).
pub fn apply_sets(src: &str, sets: &[String]) -> anyhow::Result<String> {
    const FIELDS: &[&str] = &[
        "kind",
        "cmd",
        "needs",
        "deps",
        "outs",
        "out",
        "params",
        "desc",
        "matrix",
        "resources",
    ];
    let mut doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(src).context("pipeline.yaml is not YAML")?;
    for set in sets {
        let (path, value) = set
            .split_once('=')
            .with_context(|| format!("`{set}`: write STAGE.PARAM=VALUE"))?;
        if crate::pipeline::validate::too_deep(value).is_some() {
            bail!("`{set}`: the value nests too deep");
        }
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(value)
            .with_context(|| format!("`{set}`: the value is not YAML"))?;
        let keys: Vec<&str> = path.split('.').collect();
        let [stage, first, ..] = keys.as_slice() else {
            bail!("`{set}`: write STAGE.PARAM=VALUE (e.g. train.lr=0.01)");
        };
        let stages = doc
            .get_mut("stages")
            .and_then(|s| s.as_mapping_mut())
            .context("pipeline.yaml has no `stages:` map")?;
        let names: Vec<String> = stages
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        let mut at = stages.get_mut(*stage).with_context(|| {
            format!("`{set}`: no stage `{stage}` (stages: {})", names.join(", "))
        })?;
        let rest: Vec<&str> = if FIELDS.contains(first) {
            keys[1..].to_vec()
        } else {
            [&["params"][..], &keys[1..]].concat()
        };
        for (i, key) in rest.iter().enumerate() {
            let map = match at {
                serde_yaml_ng::Value::Null => {
                    *at = serde_yaml_ng::Value::Mapping(Default::default());
                    at.as_mapping_mut().expect("just made")
                }
                serde_yaml_ng::Value::Mapping(m) => m,
                _ => bail!("`{set}`: `{}` is not a map", rest[..i].join(".")),
            };
            let k = serde_yaml_ng::Value::String(key.to_string());
            if i + 1 == rest.len() {
                map.insert(k, value.clone());
                break;
            }
            at = map.entry(k).or_insert(serde_yaml_ng::Value::Null);
        }
    }
    Ok(serde_yaml_ng::to_string(&doc)?)
}

/// The headline metrics of a run recorded in `lock`: for each evaluate and ensemble stage,
/// its roles' ROC AUC, accuracy, sensitivity, specificity, F1 and threshold, read from the
/// cache entry the lock names.
pub fn metrics_of(workspace: &Path, lock: &LockFile) -> BTreeMap<String, f64> {
    let cache = Cache::new(workspace);
    let registry = crate::stages::registry();
    let mut out = BTreeMap::new();
    for (stage, locked) in &lock.stages {
        // the kinds that declare a metrics file (`TypedStage::METRICS_FILE`)
        let Some(file) = registry.get(&locked.kind).and_then(|s| s.metrics_file()) else {
            continue;
        };
        let path = cache.entry_dir(&locked.key).join("out").join(file);
        let Ok(m) = contract::load::<Metrics>(&path) else {
            continue;
        };
        for (role, r) in &m.roles {
            let r = &r.report;
            for (name, v) in [
                ("roc_auc", r.roc_auc),
                ("accuracy", r.binary.accuracy),
                ("sensitivity", r.binary.recall),
                ("specificity", r.specificity),
                ("f1", r.binary.f1),
                ("threshold", r.threshold),
            ] {
                out.insert(format!("{stage}:{role}:{name}"), v);
            }
        }
    }
    out
}

impl ExpRecord {
    /// The record of a finished run: its keys from `lock`, metrics from the cache entries
    /// the lock names, params as given (those of its pipeline.yaml).
    pub fn of_run(
        name: &str,
        created: u64,
        changes: Vec<String>,
        params: BTreeMap<String, Value>,
        workspace: &Path,
        lock: &LockFile,
    ) -> ExpRecord {
        ExpRecord {
            format: FORMAT,
            name: name.into(),
            created,
            changes,
            params,
            keys: lock
                .stages
                .iter()
                .map(|(k, s)| (k.clone(), s.key.clone()))
                .collect(),
            metrics: metrics_of(workspace, lock),
        }
    }
}

/// A record of the workspace's last `run` (its pipeline.lock), to compare experiments with.
pub fn workspace_record(workspace: &Path, lock: &LockFile) -> ExpRecord {
    let params = lock
        .stages
        .iter()
        .map(|(k, s)| (k.clone(), s.params.clone()))
        .collect();
    ExpRecord::of_run("workspace", 0, Vec::new(), params, workspace, lock)
}

/// Every recorded experiment, oldest first; unreadable records are skipped with their error.
pub fn list(workspace: &Path) -> (Vec<ExpRecord>, Vec<String>) {
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    let Ok(dirs) = fs_err::read_dir(workspace.join(DIR)) else {
        return (out, bad);
    };
    for d in dirs.filter_map(Result::ok) {
        let path = d.path().join(RECORD);
        if !path.exists() {
            continue; // an experiment still running, or one that failed
        }
        match contract::load::<ExpRecord>(&path) {
            Ok(r) => out.push(r),
            Err(e) => bad.push(format!("{e:#}")),
        }
    }
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    (out, bad)
}

/// Every cache key an experiment holds: those its `exp.json` records and those its own
/// pipeline.lock names (an experiment that failed half-way has only the latter). A record or
/// lock that cannot be read is an error naming it: `clean` must not prune what it pins.
pub fn pinned_keys(workspace: &Path) -> anyhow::Result<Vec<String>> {
    let (records, mut unreadable) = list(workspace);
    let mut keys: Vec<String> = records
        .into_iter()
        .flat_map(|r| r.keys.into_values())
        .collect();
    let dirs = match fs_err::read_dir(workspace.join(DIR)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
        other => other?,
    };
    for d in dirs {
        match crate::pipeline::lockfile::load(&d?.path()) {
            Ok(lock) => keys.extend(lock.stages.into_values().map(|s| s.key)),
            Err(e) => unreadable.push(e),
        }
    }
    if !unreadable.is_empty() {
        bail!(
            "cannot tell which cache entries these experiments hold: {}; nothing was removed (fix or delete that experiment's folder under {DIR}, then clean again)",
            unreadable.join("; ")
        );
    }
    Ok(keys)
}

/// One experiment by name (`workspace` is the last `run`).
pub fn find(workspace: &Path, name: &str) -> anyhow::Result<ExpRecord> {
    if name == "workspace" {
        let lock = crate::pipeline::lockfile::load(workspace).map_err(anyhow::Error::msg)?;
        return Ok(workspace_record(workspace, &lock));
    }
    let path = dir(workspace, name).join(RECORD);
    if !path.exists() {
        let (all, _) = list(workspace);
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        bail!(
            "no experiment `{name}` (recorded: {}; `workspace` is the last run)",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    }
    contract::load(&path)
}
