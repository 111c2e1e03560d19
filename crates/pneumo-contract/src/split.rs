//! `split`'s outputs: `split.parquet` (one [`SplitRow`] a row; written and read by
//! `pneumo_core::tables::split`) and `counts.json` ([`SplitCounts`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The write-up's: balanced train from official train, val = official test, test = official val.
    Writeup,
    /// Patient-disjoint stratified validation from official train (+val); test = official test.
    Patient,
}

impl Protocol {
    /// Every value, as pipeline.yaml spells it (a test checks each against serde).
    pub const ALL: &'static [&'static str] = &["writeup", "patient"];
}

pub const ROLES: [&str; 4] = ["train", "val", "test", "unused"];
pub const FILE: &str = "split.parquet";
pub const COUNTS: &str = "counts.json";

/// `counts.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitCounts {
    /// The file's format ([`FORMAT`]); absent in files written before it had one (1).
    #[serde(default = "crate::format_one")]
    pub format: u32,
    pub protocol: Protocol,
    pub seed: u64,
    pub val_fraction: Option<f64>,
    /// Role -> label -> images.
    pub images: BTreeMap<String, BTreeMap<String, usize>>,
    /// Role -> distinct patients.
    pub patients: BTreeMap<String, usize>,
    /// True when no patient has images in two of train/val/test.
    pub patient_disjoint: bool,
    /// Patients found in more than one role.
    pub shared_patients: Vec<String>,
    /// Roles with no image (e.g. `test` under `writeup` on Mendeley's layout, which has no val/).
    pub empty_roles: Vec<String>,
}

/// counts.json. 2: `format`, unknown fields refused; 1: without them.
pub const FORMAT: u32 = 2;

crate::versioned!(SplitCounts, "split counts file", FORMAT);

/// One row of a split file.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitRow {
    pub path: String,
    pub role: String,
    pub label: crate::label::Label,
    pub patient_id: String,
    pub subtype: String,
}
