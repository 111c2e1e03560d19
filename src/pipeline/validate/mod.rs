//! Raw config -> a checked [`Pipeline`], collecting every problem with its location.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

mod depth;
mod serde_msg;
pub use depth::too_deep;
mod graph;
mod settings;

use super::config::{RawPipeline, RawStage};
use super::decl::{Pipeline, Resources, StageDecl, StageKind};
use super::error::{ConfigError, ConfigErrors};
use super::expand::expand;
use super::locate::{Pos, locate};
use super::out_paths::check_out_path;
use super::stage::{Choice, Registry};

/// Parses and checks pipeline.yaml text. `file` is used in messages only.
pub fn parse(src: &str, file: &Path, registry: &Registry) -> Result<Pipeline, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        file: file.to_path_buf(),
        errors,
    };
    if let Some(pos) = depth::too_deep(src) {
        return Err(fail(vec![
            ConfigError::new(pos, format!("nested deeper than {} levels", depth::MAX_DEPTH)).hint(
                "a pipeline.yaml is a few levels deep (stages -> stage -> params -> value); this looks like generated or damaged text",
            ),
        ]));
    }
    let raw: RawPipeline = serde_yaml_ng::from_str(src).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or(Pos { line: 1, column: 1 });
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        fail(vec![ConfigError::new(pos, msg).hint(
            "pipeline.yaml holds a `stages:` map of stage name -> stage, and optionally `executor:` and `cache:`",
        )])
    })?;
    let mut v = Validator {
        src,
        registry,
        errors: Vec::new(),
        bases: BTreeMap::new(),
        defaults: Resources::default(),
    };
    let executor = v.executor(raw.executor.as_ref());
    let remote = raw.cache.as_ref().and_then(|c| c.remote.clone());
    if let Some(url) = &remote
        && let Err(why) = crate::pipeline::remote::check_url(url)
    {
        v.error(
            &["cache", "remote"],
            format!("invalid remote `{url}`: {why}"),
            "a remote cache is `file:///absolute/path` or `s3://bucket/prefix`",
        );
    }
    let stages = v.stages(raw);
    if v.errors.is_empty() {
        let mut p = Pipeline::new(stages);
        p.executor = executor;
        p.remote = remote;
        Ok(p)
    } else {
        Err(fail(v.errors))
    }
}

struct Validator<'a> {
    src: &'a str,
    registry: &'a Registry,
    errors: Vec<ConfigError>,
    /// Matrix member -> the stage it was written as (where its problems are located).
    bases: BTreeMap<String, String>,
    /// The executor's `resources:`, under every stage's own.
    defaults: Resources,
}

impl Validator<'_> {
    fn at(&self, path: &[&str]) -> Pos {
        match path {
            [stages, name, rest @ ..] if self.bases.contains_key(*name) => {
                let mut p = vec![*stages, self.bases[*name].as_str()];
                p.extend_from_slice(rest);
                locate(self.src, &p)
            }
            _ => locate(self.src, path),
        }
    }

    fn error(&mut self, path: &[&str], msg: impl Into<String>, hint: impl Into<String>) {
        let e = ConfigError::new(self.at(path), msg).hint(hint);
        self.errors.push(e);
    }

    fn stages(&mut self, raw: RawPipeline) -> Vec<StageDecl> {
        let mut parsed = Vec::new();
        let mut declared = Vec::new();
        for (key, value) in raw.stages {
            let Some(name) = key.as_str().map(str::to_string) else {
                self.error(
                    &["stages"],
                    "a stage name must be a string",
                    "write `name:`",
                );
                continue;
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                self.error(
                    &["stages", &name],
                    format!("invalid stage name `{name}`"),
                    "use letters, digits, `_` and `-`",
                );
                continue;
            }
            declared.push(name.clone());
            match serde_yaml_ng::from_value::<RawStage>(value) {
                Ok(stage) => parsed.push((name, stage)),
                Err(e) => self.serde_error(&["stages", &name], &e.to_string(), None),
            }
        }
        let (expanded, problems) = expand(&parsed, self.registry);
        // two matrices that meet leave needs unmatched: the graph checks would only repeat it
        let check_graph = problems.is_empty();
        for (path, msg, hint) in problems {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            self.error(&path, msg, hint);
        }
        let mut out = Vec::new();
        // members by the stage they were written as, to list in declaration order
        let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in expanded {
            if e.name != e.base {
                members
                    .entry(e.base.clone())
                    .or_default()
                    .push(e.name.clone());
                self.bases.insert(e.name.clone(), e.base);
            }
            if let Some(decl) = self.stage(&e.name, e.raw) {
                out.push(decl);
            }
        }
        let declared: Vec<String> = declared
            .into_iter()
            .flat_map(|d| members.remove(&d).unwrap_or_else(|| vec![d]))
            .collect();
        if check_graph {
            self.graph(&out, &declared);
        }
        out
    }

    /// Reports every enumerated param whose value is not among its words; true when none.
    fn choices_ok(&mut self, stage: &str, choices: &[Choice], raw: &Value) -> bool {
        let mut ok = true;
        for &(param, words) in choices {
            // absent, or null (an optional one left unset, e.g. `-S evaluate.calibration=~`):
            // serde decides
            let Some(given) = raw.get(param).filter(|v| !v.is_null()) else {
                continue;
            };
            if given.as_str().is_some_and(|g| words.contains(&g)) {
                continue;
            }
            ok = false;
            let shown = given
                .as_str()
                .map_or_else(|| given.to_string(), str::to_string);
            let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
            let expected = match quoted.as_slice() {
                [a, b] => format!("{a} or {b}"),
                many => format!("one of {}", many.join(", ")),
            };
            self.error(
                &["stages", stage, "params", param],
                format!("invalid value `{shown}` for `{param}`"),
                format!("expected {expected}"),
            );
        }
        ok
    }

    fn stage(&mut self, name: &str, raw: RawStage) -> Option<StageDecl> {
        let (kind, params, inputs, needs_gpu) = match (&raw.kind, &raw.cmd) {
            (Some(_), Some(_)) => {
                self.error(
                    &["stages", name, "cmd"],
                    format!("stage `{name}` has both `kind` and `cmd`"),
                    "a stage is either a built-in kind or an external command",
                );
                return None;
            }
            (None, None) => {
                self.error(
                    &["stages", name],
                    format!("stage `{name}` has neither `kind` nor `cmd`"),
                    format!("add `kind:` ({}) or `cmd:`", self.kinds()),
                );
                return None;
            }
            (None, Some(cmd)) => {
                if raw.params.is_some() {
                    self.error(
                        &["stages", name, "params"],
                        "`params` is for built-in stages",
                        "pass values to a command in `cmd:` itself",
                    );
                }
                if raw.out.is_some() {
                    self.error(
                        &["stages", name, "out"],
                        "`out` is for built-in stages",
                        "list the files the command writes under `outs:`",
                    );
                }
                let kind = StageKind::Cmd {
                    cmd: cmd.clone(),
                    outs: raw.outs.clone(),
                };
                let params = serde_json::json!({ "cmd": cmd });
                (kind, params, raw.deps.clone(), false)
            }
            (Some(kind), None) => {
                let Some(stage) = self.registry.get(kind) else {
                    self.error(
                        &["stages", name, "kind"],
                        format!("unknown stage kind `{kind}`"),
                        format!(
                            "known kinds: {}; or give `cmd:` for an external stage",
                            self.kinds()
                        ),
                    );
                    return None;
                };
                for (field, given) in [
                    ("deps", !raw.deps.is_empty()),
                    ("outs", !raw.outs.is_empty()),
                ] {
                    if given {
                        self.error(
                            &["stages", name, field],
                            format!("`{field}` is for `cmd` stages"),
                            "a built-in stage declares its inputs in params and writes under `out`",
                        );
                    }
                }
                let raw_params = raw.params.clone().unwrap_or(Value::Null);
                if !self.choices_ok(name, stage.choices(), &raw_params) {
                    return None; // each bad value is reported; serde would stop at the first
                }
                let (params, inputs) = match stage.params(&raw_params) {
                    Ok(p) => match stage.inputs(&p) {
                        Ok(inputs) => (p, inputs),
                        Err(why) => {
                            self.error(
                                &["stages", name, "params"],
                                format!("stage `{name}`: {why}"),
                                format!("a bug in the `{kind}` stage; please report it with this pipeline.yaml"),
                            );
                            return None;
                        }
                    },
                    Err(msg) => {
                        // reported; the stage stays in the graph so its `needs` are checked
                        self.serde_error(&["stages", name, "params"], &msg, Some(&raw_params));
                        (Value::Null, Vec::new())
                    }
                };
                let gpu = stage.needs_gpu(&params);
                (StageKind::Builtin(stage.kind()), params, inputs, gpu)
            }
        };
        let out = match kind {
            StageKind::Builtin(_) => Some(raw.out.clone().unwrap_or(format!("build/{name}"))),
            StageKind::Cmd { .. } => None,
        };
        let resources = self.resources(raw.resources.as_ref(), &["stages", name, "resources"]);
        let mut resources = resources.or(&self.defaults);
        if resources.gpus.is_none() && needs_gpu {
            resources.gpus = Some(1); // the kind says so (`device: cuda`)
        }
        let decl = StageDecl {
            name: name.to_string(),
            kind,
            params,
            needs: raw.needs,
            inputs,
            out,
            resources,
            desc: raw.desc,
        };
        for path in decl.written_paths() {
            if let Err(why) = check_out_path(path) {
                let field = if decl.out.is_some() { "out" } else { "outs" };
                self.error(
                    &["stages", name, field],
                    format!("output path `{path}` {why}"),
                    "outputs live inside the workspace: use a relative path such as `build/x`",
                );
            }
        }
        Some(decl)
    }

    fn kinds(&self) -> String {
        self.registry.kinds().collect::<Vec<_>>().join(", ")
    }
}
