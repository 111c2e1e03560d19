//! `split`: assign every usable image a role (train, val, test or unused) under one of
//! two protocols, seeded, and check that no patient is on two sides.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use crate::contract::split::{COUNTS, FILE, Protocol, ROLES, SplitCounts, SplitRow};
use crate::data::manifest::{self, ManifestRow};
use crate::data::rng::SplitMix64;
use crate::pipeline::stage::{Choice, StageContext, TypedStage};
use crate::stages::Index;
use crate::tables::split::write_split;
pub use crate::tables::split::{read_roles, read_rows};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitParams {
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Share of images (per label) moved to validation by the `patient` protocol.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
}

fn default_protocol() -> Protocol {
    Protocol::Writeup
}
fn default_seed() -> u64 {
    42
}
fn default_val_fraction() -> f64 {
    0.1
}

pub struct Split;

impl TypedStage for Split {
    type Params = SplitParams;
    const USES_ALL_CORES: bool = false;
    const KIND: &'static str = "split";

    // 2: counts.json carries its format (crate::contract::split)
    const VERSION: u32 = 2;

    const UPSTREAMS: &'static [&'static str] = &[Index::KIND];

    const CHOICES: &'static [Choice] = &[("protocol", Protocol::ALL)];

    fn check(&self, p: &mut SplitParams) -> Result<(), String> {
        let f = p.val_fraction;
        if !(f > 0.0 && f < 1.0) {
            return Err(format!(
                "invalid value `val_fraction`: {f} (expected between 0 and 1)"
            ));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext<'_>, p: SplitParams) -> anyhow::Result<()> {
        let rows: Vec<ManifestRow> =
            manifest::read(&ctx.upstream_of::<Index>()?.join(manifest::FILE))?
                .into_iter()
                .filter(|r| r.error.is_none())
                .collect();
        let roles = assign(&rows, &p);
        let counts = count(&rows, &roles, &p);
        write_split(&ctx.out_dir.join(FILE), &rows, &roles)?;
        crate::contract::save(&ctx.out_dir.join(COUNTS), &counts)?;
        for role in &counts.empty_roles {
            ctx.reporter
                .warn(&empty_role_message(role, p.protocol, &rows));
        }
        if !counts.patient_disjoint {
            ctx.reporter.warn(&format!(
                "split: {} patients have images in more than one role (first: {})",
                counts.shared_patients.len(),
                counts.shared_patients.first().map_or("", String::as_str)
            ));
        }
        ctx.reporter.info(&render_counts(&counts));
        Ok(())
    }
}

fn empty_role_message(role: &str, protocol: Protocol, rows: &[ManifestRow]) -> String {
    let in_train = |label: &str| {
        rows.iter()
            .filter(|r| r.error.is_none() && r.split == "train" && r.label == label)
            .count()
    };
    let (normal, pneumonia) = (in_train("NORMAL"), in_train("PNEUMONIA"));
    if let (Protocol::Writeup, "train", 0, n) | (Protocol::Writeup, "train", n, 0) =
        (protocol, role, normal, pneumonia)
        && normal + pneumonia > 0
    {
        let missing = if normal == 0 { "NORMAL" } else { "PNEUMONIA" };
        return format!(
            "split: role `train` is empty: the write-up protocol balances the official `train/` folder (every NORMAL film and as many PNEUMONIA ones), and it has {n} films but no {missing} one to balance against; add `train/{missing}` films, or use `protocol: patient`"
        );
    }
    let source = match (protocol, role) {
        (Protocol::Writeup, "test") => {
            "the write-up protocol takes test from the official `val/` folder, which this dataset lacks (Mendeley layout)"
        }
        (Protocol::Writeup, "val") | (Protocol::Patient, "test") => {
            "it comes from the official `test/` folder, which has no images here"
        }
        _ => "the official `train/` folder has too few images",
    };
    format!("split: role `{role}` is empty: {source}")
}

/// The role of each row.
pub fn assign(rows: &[ManifestRow], p: &SplitParams) -> Vec<&'static str> {
    let mut rng = SplitMix64::new(p.seed);
    let mut roles = vec!["unused"; rows.len()];
    match p.protocol {
        Protocol::Writeup => {
            let mut pneumonia = Vec::new();
            let mut normals = 0;
            for (i, r) in rows.iter().enumerate() {
                roles[i] = match (r.split.as_str(), r.label.as_str()) {
                    ("train", "NORMAL") => {
                        normals += 1;
                        "train"
                    }
                    ("train", _) => {
                        pneumonia.push(i);
                        "unused"
                    }
                    ("test", _) => "val",
                    ("val", _) => "test",
                    _ => "unused",
                };
            }
            rng.shuffle(&mut pneumonia);
            for &i in pneumonia.iter().take(normals) {
                roles[i] = "train";
            }
        }
        Protocol::Patient => {
            let test_patients: BTreeSet<&str> = rows
                .iter()
                .filter(|r| r.split == "test")
                .map(|r| r.patient_id.as_str())
                .collect();
            // patient -> (label, rows) over official train + val, minus patients seen in test
            let mut pool: BTreeMap<&str, (&str, Vec<usize>)> = BTreeMap::new();
            for (i, r) in rows.iter().enumerate() {
                if r.split == "test" {
                    roles[i] = "test";
                } else if !test_patients.contains(r.patient_id.as_str()) {
                    pool.entry(&r.patient_id)
                        .or_insert((&r.label, Vec::new()))
                        .1
                        .push(i);
                }
            }
            for label in ["NORMAL", "PNEUMONIA"] {
                let mut patients: Vec<&Vec<usize>> = pool
                    .values()
                    .filter(|(l, _)| *l == label)
                    .map(|(_, v)| v)
                    .collect();
                let total: usize = patients.iter().map(|v| v.len()).sum();
                let target = (total as f64 * p.val_fraction).round() as usize;
                rng.shuffle(&mut patients);
                let mut taken = 0;
                for images in patients {
                    let role = if taken < target { "val" } else { "train" };
                    if role == "val" {
                        taken += images.len();
                    }
                    for &i in images {
                        roles[i] = role;
                    }
                }
            }
        }
    }
    roles
}

fn count(rows: &[ManifestRow], roles: &[&str], p: &SplitParams) -> SplitCounts {
    let mut images: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut patients: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (r, role) in rows.iter().zip(roles) {
        *images
            .entry(role.to_string())
            .or_default()
            .entry(r.label.clone())
            .or_default() += 1;
        patients.entry(role).or_default().insert(&r.patient_id);
    }
    let mut role_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (role, ps) in &patients {
        if *role != "unused" {
            for p in ps {
                role_of.entry(p).or_default().insert(role);
            }
        }
    }
    let shared_patients: Vec<String> = role_of
        .into_iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(p, _)| p.to_string())
        .collect();
    SplitCounts {
        format: crate::contract::split::FORMAT,
        protocol: p.protocol,
        seed: p.seed,
        val_fraction: (p.protocol == Protocol::Patient).then_some(p.val_fraction),
        empty_roles: ["train", "val", "test"]
            .iter()
            .filter(|r| !images.contains_key(**r))
            .map(|r| r.to_string())
            .collect(),
        images,
        patients: patients
            .into_iter()
            .map(|(r, p)| (r.to_string(), p.len()))
            .collect(),
        patient_disjoint: shared_patients.is_empty(),
        shared_patients,
    }
}

/// The counts as the CLI prints them.
pub fn render_counts(c: &SplitCounts) -> String {
    let mut out = format!("split: protocol {:?}, seed {}\n", c.protocol, c.seed).to_lowercase();
    for role in ROLES {
        if let Some(labels) = c.images.get(role) {
            let n = labels.get("NORMAL").copied().unwrap_or(0);
            let pn = labels.get("PNEUMONIA").copied().unwrap_or(0);
            out.push_str(&format!(
                "  {role:<6}  NORMAL {n}, PNEUMONIA {pn}, patients {}\n",
                c.patients.get(role).copied().unwrap_or(0)
            ));
        }
    }
    out.push_str(&format!(
        "  patient-disjoint: {}",
        if c.patient_disjoint { "yes" } else { "NO" }
    ));
    out
}
