//! `charts`' `charts.json`: the figures it drew, in display order, for the report.

use serde::{Deserialize, Serialize};

pub const FILE: &str = "charts.json";

/// One figure: its PNG (and SVG, for line charts) in the charts folder, and its caption.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChartFile {
    pub name: String,
    pub png: String,
    pub svg: Option<String>,
    pub caption: String,
}

/// charts.json. 2: an object with `format` and `files`; 1: a bare array of files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChartIndex {
    pub format: u32,
    pub files: Vec<ChartFile>,
}

pub const FORMAT: u32 = 2;

crate::versioned!(ChartIndex, "charts index", FORMAT);
