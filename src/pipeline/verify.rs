//! Content checks of the cache entries a run is about to read. Planning checks only that an
//! entry's files have their recorded sizes (cheap, so a no-op `run` stays fast); a stage that
//! will run reads its upstreams' entries, so those are hashed first (blake3, GB/s), and an
//! upstream whose entry was damaged in place (same size, other bytes) re-runs instead of
//! feeding the stage garbage.

use std::collections::{BTreeMap, BTreeSet};

use super::cache::{Cache, Lookup};
use super::decl::Pipeline;
use super::report::Reporter;
use super::runner::{Freshness, Planned};

/// Marks every fresh upstream of a stage that will run as stale when its entry's content no
/// longer matches its hashes, with a warning. Walks the plan (in dependency order) backwards,
/// so an upstream set to re-run has its own upstreams checked too. Returns how many entries
/// were hashed.
pub fn upstreams(
    plan: &mut [Planned],
    pipeline: &Pipeline,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> usize {
    let index: BTreeMap<String, usize> = plan
        .iter()
        .enumerate()
        .map(|(i, p)| (p.stage.clone(), i))
        .collect();
    let mut checked = BTreeSet::new();
    for i in (0..plan.len()).rev() {
        if matches!(plan[i].freshness, Freshness::Fresh) {
            continue;
        }
        let Some(decl) = pipeline.stage(&plan[i].stage) else {
            continue;
        };
        for need in &decl.needs {
            let Some(&j) = index.get(need) else {
                continue;
            };
            if !matches!(plan[j].freshness, Freshness::Fresh) || !checked.insert(j) {
                continue;
            }
            if let Lookup::Corrupt(why) = cache.lookup(&plan[j].key, true) {
                reporter.warn(&format!(
                    "cache entry of `{need}` is damaged ({why}); re-running it before `{}` reads it",
                    plan[i].stage
                ));
                plan[j].freshness = Freshness::Stale {
                    why: vec![format!("its cache entry is damaged ({why})")],
                };
            }
        }
    }
    checked.len()
}
