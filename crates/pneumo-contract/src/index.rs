//! `index`'s `summary.json`: what the index found in the dataset folder (the manifest itself,
//! `manifest.parquet`, is `pneumo_core::data::manifest`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `summary.json`: what the index found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSummary {
    /// The file's format ([`FORMAT`]); absent in files written before it had one (1).
    #[serde(default = "crate::format_one")]
    pub format: u32,
    /// The dataset folder, workspace-relative.
    pub data: String,
    pub images: usize,
    /// Usable images per official split and label.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// Official split folders with no usable image (Mendeley's layout has no `val`).
    pub missing_splits: Vec<String>,
    /// Unusable files and why.
    pub bad_files: Vec<BadFile>,
    /// Files outside the `{split}/{label}/file` layout, not indexed.
    pub ignored_files: Vec<String>,
    /// Groups of byte-identical files.
    pub duplicate_groups: Vec<Vec<String>>,
    /// Patients with images in more than one official split (a leak).
    pub cross_split_patients: BTreeMap<String, Vec<String>>,
}

/// 2: `format`, unknown fields refused; 1: without them.
pub const FORMAT: u32 = 2;

crate::versioned!(IndexSummary, "index summary", FORMAT);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadFile {
    pub path: String,
    pub error: String,
}

pub const SUMMARY: &str = "summary.json";
