//! A remote cache's manifest of one entry, `entries/<key digest>.json`: the stage, its output
//! files with their sizes and hashes (each file an object `objects/<blake3>`), and the full
//! key, which must hash to the digest the manifest is filed under.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::versioned;
use crate::pipeline::cache::OutFile;
use crate::pipeline::key::StageKey;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteEntry {
    pub format: u32,
    pub stage: String,
    /// Output path (relative, `/`-separated) -> its size and hash.
    pub files: BTreeMap<String, OutFile>,
    pub key: StageKey,
}

versioned!(RemoteEntry, "remote cache entry", FORMAT);
