//! Planning: each selected stage's key, compared with pipeline.lock and the cache, gives
//! its freshness and the reasons for it. `status` shows the plan; `run` carries it out.

use fs_err as fs;
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use serde::Serialize;

use super::cache::{Cache, Entry, Lookup};
use super::dag;
use super::decl::{StageDecl, StageKind};
use super::inputs::{HashCache, InputError, InputSet};
use super::key::{CACHE_SCHEMA, StageKey};

/// Why a stage runs under `--force` (it is then neither restored nor pulled).
pub const FORCED: &str = "forced (--force)";
use super::lockfile::{self, LockFile, LockedStage};
use super::runner::Engine;

/// Whether a stage has to run, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Freshness {
    /// Its key matches the lock and its outputs are in place.
    Fresh,
    /// Its key is in the run cache: outputs are restored without running.
    Cached { why: Vec<String> },
    /// It must run.
    Stale { why: Vec<String> },
}

/// The plan for one stage.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub stage: String,
    pub kind: String,
    pub key: String,
    #[serde(flatten)]
    pub freshness: Freshness,
    #[serde(skip)]
    pub(super) full_key: StageKey,
    #[serde(skip)]
    pub(super) inputs: InputSet,
}

/// Which stages to consider.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Stages to bring up to date with what they need; empty means all.
    pub targets: Vec<String>,
    /// Re-run the targets even when fresh.
    pub force: bool,
}

impl Engine<'_> {
    pub(super) fn hash_cache_path(&self) -> PathBuf {
        self.workspace.join(".pneumo/state/hashes.tsv")
    }

    pub(super) fn load_lock(&self) -> LockFile {
        lockfile::load_at(&self.lock_file).unwrap_or_else(|e| {
            self.reporter.warn(&format!(
                "ignoring unreadable lock file ({e}); every stage counts as stale"
            ));
            LockFile {
                schema: CACHE_SCHEMA,
                ..Default::default()
            }
        })
    }

    /// The stat cache is an optimisation: failing to write it costs re-hashing next time.
    pub(super) fn save_hashes(&self, hashes: &mut HashCache) {
        if let Err(e) = hashes.save() {
            self.reporter.warn(&format!(
                "could not save the file-hash cache ({}): the next run re-hashes its inputs",
                e
            ));
        }
    }

    /// Decides, for every selected stage, whether it is fresh and why not.
    pub fn plan(&self, sel: &Selection) -> anyhow::Result<Vec<Planned>> {
        // planning writes the stat cache under `.pneumo`: never through a link
        super::confine::state_dir(self.workspace)?;
        let mut hashes = HashCache::load(&self.hash_cache_path());
        let lock = self.load_lock();
        let plan = self.plan_with(sel, &mut hashes, &lock)?;
        self.save_hashes(&mut hashes);
        Ok(plan)
    }

    fn selected(&self, sel: &Selection) -> anyhow::Result<Vec<&StageDecl>> {
        for t in &sel.targets {
            if self.pipeline.stage(t).is_none() {
                let names: Vec<&str> = self
                    .pipeline
                    .stages
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                bail!(
                    "no stage named `{t}` in pipeline.yaml (stages: {})",
                    names.join(", ")
                );
            }
        }
        let keep = if sel.targets.is_empty() {
            None
        } else {
            Some(dag::closure(&self.pipeline.stages, &sel.targets))
        };
        Ok(dag::topo_order(&self.pipeline.stages)
            .into_iter()
            .filter(|s| keep.as_ref().is_none_or(|k| k.contains(s.name.as_str())))
            .collect())
    }

    pub(super) fn plan_with(
        &self,
        sel: &Selection,
        hashes: &mut HashCache,
        lock: &LockFile,
    ) -> anyhow::Result<Vec<Planned>> {
        let cache = Cache::new(self.workspace);
        let mut digests: BTreeMap<&str, String> = BTreeMap::new();
        let mut plan = Vec::new();
        for decl in self.selected(sel)? {
            if let StageKind::Builtin(k) = decl.kind
                && let Some(stage) = self.registry.get(k)
            {
                for input in &decl.inputs {
                    let abs = self.workspace.join(input);
                    if abs.exists()
                        && let Err(why) = stage.check_input(input, &abs)
                    {
                        anyhow::bail!("stage `{}` reads `{input}`: {why}", decl.name);
                    }
                }
            }
            let inputs = hashes
                .hash_inputs(self.workspace, &decl.inputs)
                .map_err(|e| self.input_error(decl, e))?;
            let version = match decl.kind {
                StageKind::Builtin(k) => self.registry.get(k).map_or(0, |s| s.version()),
                StageKind::Cmd { .. } => 1,
            };
            let key = StageKey {
                schema: CACHE_SCHEMA,
                kind: decl.kind.name().to_string(),
                version,
                params: decl.params.clone(),
                inputs: inputs
                    .files
                    .iter()
                    .map(|(p, f)| (p.clone(), f.hash.clone()))
                    .collect(),
                upstream: decl
                    .needs
                    .iter()
                    .map(|n| {
                        (
                            n.clone(),
                            digests.get(n.as_str()).cloned().unwrap_or_default(),
                        )
                    })
                    .collect(),
            };
            let digest = key.digest();
            let forced = sel.force && (sel.targets.is_empty() || sel.targets.contains(&decl.name));
            let freshness = if forced {
                Freshness::Stale {
                    why: vec![FORCED.into()],
                }
            } else {
                self.freshness(
                    decl,
                    &key,
                    &digest,
                    lock.stages.get(&decl.name),
                    &cache,
                    hashes,
                )
            };
            digests.insert(&decl.name, digest.clone());
            plan.push(Planned {
                stage: decl.name.clone(),
                kind: decl.kind.name().to_string(),
                key: digest,
                freshness,
                full_key: key,
                inputs,
            });
        }
        Ok(plan)
    }

    fn input_error(&self, decl: &StageDecl, e: InputError) -> anyhow::Error {
        match e {
            InputError::Missing(path) => {
                let hint = match decl.kind {
                    StageKind::Builtin(k) => self
                        .registry
                        .get(k)
                        .and_then(|s| s.missing_input_hint(&path)),
                    StageKind::Cmd { .. } => None,
                }
                .unwrap_or_else(|| "create it, or fix the path in pipeline.yaml".into());
                anyhow::anyhow!(
                    "stage `{}` reads `{}`, which does not exist in {}\n  hint: {hint}",
                    decl.name,
                    path,
                    self.workspace.display()
                )
            }
            other => {
                anyhow::Error::new(other).context(format!("hashing inputs of `{}`", decl.name))
            }
        }
    }

    fn freshness(
        &self,
        decl: &StageDecl,
        key: &StageKey,
        digest: &str,
        locked: Option<&LockedStage>,
        cache: &Cache,
        hashes: &mut HashCache,
    ) -> Freshness {
        let lookup = cache.lookup(digest, false);
        let cached = matches!(lookup, Lookup::Hit(_));
        let Some(locked) = locked else {
            let why = vec!["never run".to_string()];
            return if cached {
                Freshness::Cached { why }
            } else {
                Freshness::Stale { why }
            };
        };
        if locked.key == digest {
            return match lookup {
                Lookup::Hit(entry) => match self.materialized(decl, &entry, hashes) {
                    None => Freshness::Fresh,
                    Some(why) => Freshness::Cached { why: vec![why] },
                },
                Lookup::Miss => Freshness::Stale {
                    why: vec![
                        "its cache entry is gone (was `clean` run or .pneumo deleted?)".into(),
                    ],
                },
                Lookup::Corrupt(why) => {
                    self.reporter.warn(&format!(
                        "cache entry of `{}` is damaged ({why}); re-running it",
                        decl.name
                    ));
                    Freshness::Stale {
                        why: vec![format!("cache entry damaged: {why}")],
                    }
                }
            };
        }
        let why = cache
            .key_of(&locked.key)
            .map(|old| key.why_changed(&old))
            .unwrap_or_default();
        let why = if why.is_empty() {
            vec!["key changed (the previous run's details are no longer cached)".into()]
        } else {
            why
        };
        if cached {
            Freshness::Cached { why }
        } else {
            Freshness::Stale { why }
        }
    }

    /// Why the workspace copy of a stage's outputs is not what the entry holds, if it isn't.
    fn materialized(
        &self,
        decl: &StageDecl,
        entry: &Entry,
        hashes: &mut HashCache,
    ) -> Option<String> {
        if !self.link {
            return None; // outputs live in the cache only
        }
        match &decl.kind {
            StageKind::Builtin(_) => {
                let out = decl.out.as_deref().unwrap_or_default();
                let Ok((link, target)) = self.out_link(out, entry) else {
                    return Some(format!("output `{out}` leads out of the workspace"));
                };
                match fs::read_link(&link) {
                    Ok(t) if t == target => None,
                    _ => Some(format!("output `{out}` is missing or points elsewhere")),
                }
            }
            StageKind::Cmd { outs, .. } => {
                let have = match hashes.hash_inputs(self.workspace, outs) {
                    Ok(set) => set,
                    Err(_) => return Some("an output is missing".into()),
                };
                let same = have.files.len() == entry.meta.files.len()
                    && have
                        .files
                        .iter()
                        .all(|(p, f)| entry.meta.files.get(p).is_some_and(|e| e.blake3 == f.hash));
                (!same).then(|| "an output was modified or removed".into())
            }
        }
    }
}
