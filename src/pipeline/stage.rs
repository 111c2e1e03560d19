//! The plugin seam: every built-in stage kind implements [`Stage`] and is registered by
//! name in a [`Registry`]. The engine knows stages only through this trait.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::inputs::InputSet;
use super::report::Reporter;

/// One kind of stage (`index`, `split`, ...), as the engine sees it: object-safe, params as
/// canonical JSON. Built-in kinds implement [`TypedStage`] instead.
pub trait Stage: Send + Sync {
    /// The `kind:` name in pipeline.yaml.
    fn kind(&self) -> &'static str;
    /// Bumped whenever the implementation changes what it writes; part of the key.
    fn version(&self) -> u32;
    /// Kinds of upstream stage this stage reads (each must be among its `needs`).
    fn upstream_kinds(&self) -> &'static [&'static str] {
        &[]
    }
    /// Of those, the kinds it reads several of (an ensemble's models): it needs every member
    /// of a matrix of such stages instead of following the matrix.
    fn combines(&self) -> &'static [&'static str] {
        &[]
    }
    /// Checks raw params and returns them canonical (defaults filled, keys sorted).
    fn params(&self, raw: &Value) -> Result<Value, String>;
    /// The JSON Schema of its params (`pneumo-pipeline schema`), from the params type.
    fn params_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
    /// Whether it spreads its work over every core (rayon, libtorch) unless `resources:
    /// {cpus}` says otherwise; a stage that does not counts one core in `run -j`.
    fn uses_all_cores(&self) -> bool {
        true
    }
    /// Params that take one of a fixed set of words, with that set. Validation checks each
    /// before [`Stage::params`], so every bad one in pipeline.yaml is reported at once.
    fn choices(&self) -> &'static [Choice] {
        &[]
    }
    /// Workspace-relative files or folders this stage reads, hashed into its key (from
    /// canonical params; params that do not read back are an error).
    fn inputs(&self, _params: &Value) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
    /// What to tell the user when input `path` does not exist.
    fn missing_input_hint(&self, _path: &str) -> Option<String> {
        None
    }
    /// Looks at an existing input (`path` as written, `abs` on disk) before its files are
    /// hashed: a folder of the wrong shape is said at once, not after hashing all of it.
    fn check_input(&self, _path: &str, _abs: &Path) -> Result<(), String> {
        Ok(())
    }
    /// Whether a run with these canonical params needs a GPU (a cluster executor then asks
    /// for one, unless `resources: {gpus}` says otherwise).
    fn needs_gpu(&self, _params: &Value) -> bool {
        false
    }
    /// The folder of its output holding a model `predict` can load (`""`: the output itself).
    fn model_dir(&self) -> Option<&'static str> {
        None
    }
    /// The metrics file of its output `exp` takes the headline figures from.
    fn metrics_file(&self) -> Option<&'static str> {
        None
    }
    /// Does the work, writing only under `ctx.out_dir`.
    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<()>;
}

/// What a built-in stage kind implements: [`Stage`] with its params as a type. Every
/// `TypedStage` is a [`Stage`]; the engine sees only the latter, where params are the
/// canonical JSON the key is computed from.
pub trait TypedStage: Send + Sync {
    /// The params, as pipeline.yaml's `params:` (should `deny_unknown_fields`, defaults
    /// filled by serde).
    type Params: Serialize + DeserializeOwned + schemars::JsonSchema;
    /// The `kind:` name in pipeline.yaml.
    const KIND: &'static str;
    /// Bumped whenever the implementation changes what it writes; part of the key.
    const VERSION: u32;
    /// Kinds of upstream stage this stage reads (each must be among its `needs`).
    const UPSTREAMS: &'static [&'static str] = &[];
    /// Of those, the kinds it reads several of (see [`Stage::combines`]).
    const COMBINES: &'static [&'static str] = &[];
    /// See [`Stage::uses_all_cores`].
    const USES_ALL_CORES: bool = true;
    /// Params that take one of a fixed set of words, with that set.
    const CHOICES: &'static [Choice] = &[];
    /// See [`Stage::model_dir`].
    const MODEL_DIR: Option<&'static str> = None;
    /// See [`Stage::metrics_file`].
    const METRICS_FILE: Option<&'static str> = None;
    /// See [`Stage::needs_gpu`].
    fn needs_gpu(&self, _params: &Self::Params) -> bool {
        false
    }
    /// Checks the types cannot express (ranges), and tidies values that mean the same
    /// (so that they give one key).
    fn check(&self, _params: &mut Self::Params) -> Result<(), String> {
        Ok(())
    }
    /// Workspace-relative files or folders this stage reads, hashed into its key.
    fn inputs(&self, _params: &Self::Params) -> Vec<String> {
        Vec::new()
    }
    /// What to tell the user when input `path` does not exist.
    fn missing_input_hint(&self, _path: &str) -> Option<String> {
        None
    }
    /// See [`Stage::check_input`].
    fn check_input(&self, _path: &str, _abs: &Path) -> Result<(), String> {
        Ok(())
    }
    /// Does the work, writing only under `ctx.out_dir`.
    fn run(&self, ctx: &StageContext<'_>, params: Self::Params) -> anyhow::Result<()>;
}

impl<T: TypedStage> Stage for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }
    fn version(&self) -> u32 {
        T::VERSION
    }
    fn upstream_kinds(&self) -> &'static [&'static str] {
        T::UPSTREAMS
    }
    fn combines(&self) -> &'static [&'static str] {
        T::COMBINES
    }
    fn uses_all_cores(&self) -> bool {
        T::USES_ALL_CORES
    }
    fn choices(&self) -> &'static [Choice] {
        T::CHOICES
    }
    fn params(&self, raw: &Value) -> Result<Value, String> {
        let raw = if raw.is_null() {
            Value::Object(Default::default())
        } else {
            raw.clone()
        };
        let mut typed: T::Params = serde_json::from_value(raw).map_err(|e| e.to_string())?;
        self.check(&mut typed)?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    fn inputs(&self, params: &Value) -> Result<Vec<String>, String> {
        // canonical params were made from T::Params, so they read back; one that does not
        // is an error, never a key without its input files
        serde_json::from_value::<T::Params>(params.clone())
            .map(|p| TypedStage::inputs(self, &p))
            .map_err(|e| format!("its canonical params do not read back ({e})"))
    }
    fn missing_input_hint(&self, path: &str) -> Option<String> {
        TypedStage::missing_input_hint(self, path)
    }
    fn check_input(&self, path: &str, abs: &Path) -> Result<(), String> {
        TypedStage::check_input(self, path, abs)
    }
    fn needs_gpu(&self, params: &Value) -> bool {
        serde_json::from_value::<T::Params>(params.clone())
            .is_ok_and(|p| TypedStage::needs_gpu(self, &p))
    }
    fn model_dir(&self) -> Option<&'static str> {
        T::MODEL_DIR
    }
    fn params_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T::Params>()
    }
    fn metrics_file(&self) -> Option<&'static str> {
        T::METRICS_FILE
    }
    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<()> {
        TypedStage::run(self, ctx, ctx.params()?)
    }
}

/// An enumerated param: its name and the words it takes.
pub type Choice = (&'static str, &'static [&'static str]);

/// The built-in stage kinds, by name.
#[derive(Default)]
pub struct Registry {
    stages: BTreeMap<&'static str, Box<dyn Stage>>,
}

impl Registry {
    pub fn register(&mut self, stage: Box<dyn Stage>) {
        self.stages.insert(stage.kind(), stage);
    }

    pub fn get(&self, kind: &str) -> Option<&dyn Stage> {
        self.stages.get(kind).map(|s| s.as_ref())
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.stages.keys().copied()
    }
}

/// One upstream stage as a running stage sees it.
#[derive(Debug, Clone)]
pub struct Upstream<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    /// Its output folder (in the cache).
    pub dir: PathBuf,
}

/// What a running stage sees.
pub struct StageContext<'a> {
    pub name: &'a str,
    pub workspace: &'a Path,
    pub params: &'a Value,
    /// Empty folder the stage writes its outputs into; committed to the cache on success.
    pub out_dir: &'a Path,
    /// Per-key folder that survives a failed or killed run and is removed after a successful
    /// one (checkpoints to resume from). Not created until the stage creates it.
    pub scratch_dir: &'a Path,
    /// Hashed input files (from [`Stage::inputs`]).
    pub inputs: &'a InputSet,
    /// The upstream stages (`needs`), in the order listed: name, kind and output folder.
    pub upstreams: Vec<Upstream<'a>>,
    /// Threads to use (`resources: {cpus}`); `None`: every core.
    pub threads: Option<usize>,
    pub reporter: &'a dyn Reporter,
}

/// Why [`StageContext::upstream`] found no folder: typed where a caller treats an upstream as
/// optional (absent is fine, anything else is an error).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("stage `{stage}` has no upstream of kind `{kind}`")]
    None { stage: String, kind: String },
}

impl StageContext<'_> {
    /// Typed params (already validated, so an error here is a bug, reported not panicked).
    pub fn params<P: DeserializeOwned>(&self) -> anyhow::Result<P> {
        Ok(serde_json::from_value(self.params.clone())?)
    }

    /// The output folder of the one upstream stage of kind `T` (`ctx.upstream_of::<Split>()`).
    pub fn upstream_of<T: TypedStage>(&self) -> anyhow::Result<&Path> {
        self.upstream(T::KIND)
    }

    /// The output folder of the one upstream stage of `kind`. Two of one kind where a stage
    /// reads one are refused by validation; this is the run-time guard, never a silent pick.
    pub fn upstream(&self, kind: &str) -> anyhow::Result<&Path> {
        match self.upstreams_of(kind).as_slice() {
            [one] => Ok(&one.dir),
            [] => Err(UpstreamError::None {
                stage: self.name.to_string(),
                kind: kind.to_string(),
            }
            .into()),
            many => anyhow::bail!(
                "stage `{}` needs {} stages of kind `{kind}` ({}) and reads one",
                self.name,
                many.len(),
                many.iter().map(|u| u.name).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Every upstream stage of `kind`, in `needs` order (for stages that combine several).
    pub fn upstreams_of(&self, kind: &str) -> Vec<&Upstream<'_>> {
        self.upstreams.iter().filter(|u| u.kind == kind).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::report::Silent;

    #[test]
    fn upstreams_are_by_name_and_two_of_a_kind_are_never_collapsed() {
        let (inputs, reporter) = (InputSet::default(), Silent);
        let up = |name, kind, dir: &str| Upstream {
            name,
            kind,
            dir: PathBuf::from(dir),
        };
        let ctx = StageContext {
            name: "ensemble",
            workspace: Path::new("."),
            params: &Value::Null,
            out_dir: Path::new("out"),
            scratch_dir: Path::new("scratch"),
            inputs: &inputs,
            upstreams: vec![
                up("train-a", "train", "runs/a"),
                up("split", "split", "runs/s"),
                up("train-b", "train", "runs/b"),
            ],
            threads: None,
            reporter: &reporter,
        };
        assert_eq!(ctx.upstream("split").unwrap(), Path::new("runs/s"));
        let both: Vec<&str> = ctx.upstreams_of("train").iter().map(|u| u.name).collect();
        assert_eq!(both, ["train-a", "train-b"]);
        let err = ctx.upstream("train").unwrap_err().to_string();
        assert!(
            err.contains("needs 2 stages of kind `train` (train-a, train-b)"),
            "{err}"
        );
        assert!(ctx.upstream("index").is_err());
    }
}
