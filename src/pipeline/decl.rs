//! The checked pipeline: its stages as declared and validated. Read by the DAG functions,
//! the runner and the executors; made by `validate.rs` (neither imports the other).

use std::collections::BTreeMap;

use serde_json::Value;

/// What a stage is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageKind {
    /// A registered built-in kind.
    Builtin(&'static str),
    /// An external command with declared outputs.
    Cmd { cmd: String, outs: Vec<String> },
}

impl StageKind {
    pub fn name(&self) -> &str {
        match self {
            StageKind::Builtin(k) => k,
            StageKind::Cmd { .. } => "cmd",
        }
    }
}

/// One checked stage.
#[derive(Debug, Clone)]
pub struct StageDecl {
    pub name: String,
    pub kind: StageKind,
    /// Canonical params (defaults filled, keys sorted); `{"cmd": ...}` for external stages.
    pub params: Value,
    /// Upstream stage names.
    pub needs: Vec<String>,
    /// Workspace-relative paths hashed into the key.
    pub inputs: Vec<String>,
    /// Workspace-relative folder a built-in stage's output is linked at.
    pub out: Option<String>,
    /// Cores it runs on (`resources: {cpus}`); `None`: its kind's default.
    pub cpus: Option<usize>,
    pub desc: Option<String>,
}

impl StageDecl {
    /// Every workspace path this stage writes.
    pub fn written_paths(&self) -> Vec<&str> {
        match &self.kind {
            StageKind::Cmd { outs, .. } => outs.iter().map(String::as_str).collect(),
            StageKind::Builtin(_) => self.out.iter().map(String::as_str).collect(),
        }
    }
}

/// A checked pipeline, stages in declaration order.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub stages: Vec<StageDecl>,
    /// Stage name -> index in `stages` (a lookup per stage, not a scan: 100k stages plan in
    /// about a second).
    index: BTreeMap<String, usize>,
}

impl Pipeline {
    pub fn new(stages: Vec<StageDecl>) -> Pipeline {
        let index = stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Pipeline { stages, index }
    }

    pub fn stage(&self, name: &str) -> Option<&StageDecl> {
        self.index.get(name).map(|&i| &self.stages[i])
    }
}
