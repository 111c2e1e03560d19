//! pipeline.yaml as written: serde types that reject unknown fields, nothing more.
//! [`super::validate`] turns them into a checked [`super::decl::Pipeline`].

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// Stage name -> stage, in declaration order. Kept as YAML so that each stage can be
    /// checked on its own and every stage's problems reported in one pass.
    #[schemars(with = "std::collections::BTreeMap<String, RawStage>")]
    pub stages: serde_yaml_ng::Mapping,
    /// Where stages run: `local` (default) or `slurm`, with defaults for every stage.
    pub executor: Option<RawExecutor>,
    /// The shared cache: `{remote: URL}`.
    pub cache: Option<RawCache>,
}

/// `executor:` of the pipeline.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExecutor {
    /// `local` or `slurm`.
    pub kind: String,
    /// Seconds between two looks at the queue (Slurm; default 5).
    pub poll: Option<f64>,
    /// Defaults for every stage's `resources:`.
    pub resources: Option<RawResources>,
    /// More `sbatch` arguments, as written (`--account=x`, `--qos=y`).
    #[serde(default)]
    pub sbatch_args: Vec<String>,
}

/// `cache:` of the pipeline.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// `file:///path`, `s3://bucket/prefix`, ...: entries are pushed after each run and pulled
    /// before running a stage whose key is not in the local cache.
    pub remote: Option<String>,
}

/// One stage as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// A built-in stage kind (`index`, `split`, `preprocess`).
    pub kind: Option<String>,
    /// Or an external command, run with `sh -c` in the workspace.
    pub cmd: Option<String>,
    /// Upstream stages this one reads.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Workspace paths an external command reads (built-ins declare theirs in params).
    #[serde(default)]
    pub deps: Vec<String>,
    /// Workspace paths an external command writes.
    #[serde(default)]
    pub outs: Vec<String>,
    /// Where a built-in stage's output folder appears (default `build/<name>`).
    pub out: Option<String>,
    /// Kind-specific parameters.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
    /// Free text shown by `dag`.
    pub desc: Option<String>,
    /// Key -> list of values: one member stage per combination (`matrix.rs`).
    #[schemars(with = "Option<std::collections::BTreeMap<String, Vec<serde_json::Value>>>")]
    pub matrix: Option<serde_yaml_ng::Mapping>,
    /// What the stage occupies while it runs (not part of its key).
    pub resources: Option<RawResources>,
}

/// `resources:` of a stage.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    /// Cores: the stage's threads (libtorch's, rayon's), and what `run -j` reserves for it.
    pub cpus: Option<usize>,
    /// Memory a cluster job asks for, in Slurm's spelling (`8G`, `500M`).
    pub mem: Option<String>,
    /// GPUs a cluster job asks for (torch stages with `device: cuda` default to one).
    pub gpus: Option<u32>,
    /// Wall-time limit of a cluster job (`HH:MM:SS`, `D-HH:MM:SS` or minutes).
    pub time: Option<String>,
    /// Cluster partition.
    pub partition: Option<String>,
}
