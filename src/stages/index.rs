//! `index`: walk the dataset folder and write a manifest, one row per file, with what the
//! header and the file name say and why a file is unusable if it is.

use fs_err as fs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::decode::inspect;
use crate::data::kermany::parse_name;
use crate::data::layout::{self, LABELS, SPLITS, missing_dataset_hint, place};
use crate::data::manifest::{self, ManifestRow};
use crate::pipeline::inputs::FileHash;
use crate::pipeline::stage::{StageContext, TypedStage};

/// Default pixel limit: 64 Mpx, about ten times the largest Kermany original.
pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexParams {
    /// The dataset folder, relative to the workspace.
    #[serde(default = "default_data")]
    pub data: String,
    /// Images with more pixels than this are rejected unread.
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
}

fn default_data() -> String {
    "data/chest_xray".into()
}

fn default_max_pixels() -> u64 {
    DEFAULT_MAX_PIXELS
}

pub use crate::contract::index::{BadFile, IndexSummary, SUMMARY};

pub struct Index;

impl TypedStage for Index {
    type Params = IndexParams;
    const KIND: &'static str = "index";

    // 2: symlink loops, dangling links, unreadable files and names with control
    // characters or invalid UTF-8 are bad rows, not a failed run; 3: headers only (pixels
    // that fail to decode are preprocess's rejected rows), so a first run decodes once;
    // 4: summary.json carries its format (crate::contract::index)
    const VERSION: u32 = 4;

    fn check(&self, p: &mut IndexParams) -> Result<(), String> {
        // `data/x/`, `./data/x` and `data/x` are one folder: one key
        let mut tidy = p
            .data
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if tidy.is_empty() && p.data.starts_with('/') {
            tidy = "/".into(); // the root: refused by the layout check, not as "empty"
        }
        if tidy.is_empty() {
            return Err("invalid value `data`: empty path".into());
        }
        p.data = tidy;
        Ok(())
    }

    fn inputs(&self, p: &IndexParams) -> Vec<String> {
        vec![p.data.clone()]
    }

    fn missing_input_hint(&self, path: &str) -> Option<String> {
        Some(missing_dataset_hint(path))
    }

    fn check_input(&self, path: &str, abs: &Path) -> Result<(), String> {
        layout::check_root(path, abs)
    }

    fn run(&self, ctx: &StageContext<'_>, p: IndexParams) -> anyhow::Result<()> {
        let data = p.data;
        let root = ctx.workspace.join(&data);
        let mut placed = Vec::new();
        let mut ignored = Vec::new();
        for (rel, f) in ctx.inputs.under(&data) {
            // a non-UTF-8 name's key ends in `//` and its bytes (inputs.rs): placed by its text
            match place(rel.split("//").next().unwrap_or(rel)) {
                Some((split, label)) => placed.push((rel, split, label, f)),
                None => ignored.push(rel.to_string()),
            }
        }
        if placed.is_empty() {
            bail!("{}", no_layout_message(&data, &ignored));
        }
        let bar = ctx.reporter.progress("index", placed.len() as u64);
        let rows: Vec<ManifestRow> = placed
            .par_iter()
            .map(|(rel, split, label, f)| {
                let row = index_file(&root, rel, split, label, f, p.max_pixels);
                bar.inc(1);
                row
            })
            .collect::<anyhow::Result<_>>()?;
        drop(bar);
        manifest::write(&ctx.out_dir.join(manifest::FILE), &rows)?;
        let summary = summarize(&data, &rows, ignored);
        crate::contract::save(&ctx.out_dir.join(SUMMARY), &summary)?;
        ctx.reporter.info(&render_summary(&summary));
        Ok(())
    }
}

fn index_file(
    root: &Path,
    rel: &str,
    split: &str,
    label: &str,
    f: &FileHash,
    max_pixels: u64,
) -> anyhow::Result<ManifestRow> {
    let file_name = rel.rsplit('/').next().unwrap_or(rel);
    let name = parse_name(file_name, Some(label));
    // a name later stages cannot carry through CSV lines and logs, or an entry that is no
    // file (a symlink loop, a dangling link, unreadable): a bad row with its reason
    let unusable = f.problem.clone().or_else(|| {
        rel.chars().any(char::is_control).then(|| {
            "its name contains a control character (a newline or tab); rename it".to_string()
        })
    });
    let bytes = match unusable {
        Some(_) => Vec::new(),
        None => {
            let path = root.join(rel);
            fs::read(&path).with_context(|| format!("reading {}", path.display()))?
        }
    };
    let hash = f.hash.as_str();
    let mut row = ManifestRow {
        path: rel.to_string(),
        split: split.to_string(),
        label: label.to_string(),
        patient_id: name.patient,
        subtype: name.subtype.as_str().to_string(),
        width: None,
        height: None,
        channels: None,
        bit_depth: None,
        bytes: bytes.len() as u64,
        hash: hash.to_string(),
        error: None,
    };
    if let Some(why) = unusable {
        row.error = Some(why);
        return Ok(row);
    }
    match inspect(&bytes, max_pixels) {
        Ok(facts) if is_jpeg(&bytes) && !has_jpeg_end(&bytes) => {
            row.width = Some(facts.width);
            row.height = Some(facts.height);
            row.error = Some("truncated JPEG (no end-of-image marker)".into());
        }
        Ok(facts) => {
            row.width = Some(facts.width);
            row.height = Some(facts.height);
            row.channels = Some(facts.channels as u32);
            row.bit_depth = Some(facts.bit_depth as u32);
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    Ok(row)
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8])
}

/// A JPEG ends with the EOI marker `FF D9` (possibly followed by padding). In entropy-coded
/// data `FF` is always stuffed, so `FF D9` near the end means the scan was not cut short.
fn has_jpeg_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn no_layout_message(data: &str, ignored: &[String]) -> String {
    let nested: BTreeSet<&str> = ignored
        .iter()
        .filter_map(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            let n = parts.len();
            (n >= 4 && SPLITS.contains(&parts[n - 3]) && LABELS.contains(&parts[n - 2]))
                .then(|| p.rsplitn(4, '/').nth(3).unwrap_or(""))
        })
        .collect();
    let mut msg = format!(
        "no images in `{data}` follow the dataset layout `{{train,val,test}}/{{NORMAL,PNEUMONIA}}/<file>` ({} other files)",
        ignored.len()
    );
    if let Some(inner) = nested.iter().next() {
        msg.push_str(&format!(
            "\n  hint: the dataset seems to be inside `{data}/{inner}`; set `params.data: {data}/{inner}` on the index stage or link that folder"
        ));
    } else {
        msg.push_str(&format!("\n  hint: {}", missing_dataset_hint(data)));
    }
    msg
}

/// Counts, bad files, duplicates and cross-split patients of a manifest.
pub fn summarize(data: &str, rows: &[ManifestRow], ignored: Vec<String>) -> IndexSummary {
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut by_hash: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut splits_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut bad_files = Vec::new();
    for r in rows {
        if let Some(error) = &r.error {
            bad_files.push(BadFile {
                path: r.path.clone(),
                error: error.clone(),
            });
            continue;
        }
        *counts
            .entry(r.split.clone())
            .or_default()
            .entry(r.label.clone())
            .or_default() += 1;
        by_hash.entry(&r.hash).or_default().push(r.path.clone());
        splits_of.entry(&r.patient_id).or_default().insert(&r.split);
    }
    let missing_splits = SPLITS
        .iter()
        .filter(|s| !counts.contains_key(**s))
        .map(|s| s.to_string())
        .collect();
    let mut duplicate_groups: Vec<Vec<String>> = by_hash
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    duplicate_groups.sort();
    let cross_split_patients = splits_of
        .into_iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(p, s)| (p.to_string(), s.into_iter().map(str::to_string).collect()))
        .collect();
    IndexSummary {
        format: crate::contract::index::FORMAT,
        data: data.to_string(),
        images: rows.len() - bad_files.len(),
        counts,
        missing_splits,
        bad_files,
        ignored_files: ignored,
        duplicate_groups,
        cross_split_patients,
    }
}

/// The summary as the CLI prints it.
pub fn render_summary(s: &IndexSummary) -> String {
    let mut out = format!("index: {} usable images in {}\n", s.images, s.data);
    for split in SPLITS {
        if let Some(labels) = s.counts.get(split) {
            let parts: Vec<String> = LABELS
                .iter()
                .map(|l| format!("{l} {}", labels.get(*l).copied().unwrap_or(0)))
                .collect();
            out.push_str(&format!("  {split:<5}  {}\n", parts.join(", ")));
        }
    }
    for m in &s.missing_splits {
        out.push_str(&format!(
            "  {m:<5}  missing (no `{m}/` folder with images)\n"
        ));
    }
    out.push_str(&format!("  bad files: {}\n", s.bad_files.len()));
    for b in s.bad_files.iter().take(10) {
        out.push_str(&format!("    {}: {}\n", b.path, b.error));
    }
    if !s.ignored_files.is_empty() {
        out.push_str(&format!(
            "  ignored (outside the layout): {}\n",
            s.ignored_files.len()
        ));
    }
    let extra: usize = s.duplicate_groups.iter().map(|g| g.len() - 1).sum();
    out.push_str(&format!(
        "  byte-identical duplicates: {} groups ({} extra copies)\n",
        s.duplicate_groups.len(),
        extra
    ));
    out.push_str(&format!(
        "  patients in more than one split: {}",
        s.cross_split_patients.len()
    ));
    for (p, splits) in s.cross_split_patients.iter().take(10) {
        out.push_str(&format!("\n    {p}: {}", splits.join(", ")));
    }
    out
}
