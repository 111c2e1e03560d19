//! External `cmd` stages: the command runs in the workspace with its upstreams' folders in
//! its environment; its declared outputs are copied into the pending cache entry. Existing
//! outputs are removed first; the runner has made sure they are the engine's own
//! (`owned.rs`). A failed
//! command's half-written outputs are the runner's to clear (it restores the last good ones).

use fs_err as fs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::confine;
use super::decl::StageDecl;
use super::out_paths::components_key;
use super::owned::InFlight;
use super::runner::remove_path;

/// Runs `cmd` for `decl` and copies its `outs` into `out_dir`. Returns files that appeared
/// beside its declared outputs (in their folders) without being declared: a warning, since
/// nothing caches or restores them.
pub fn run(
    workspace: &Path,
    decl: &StageDecl,
    cmd: &str,
    outs: &[String],
    out_dir: &Path,
    entries: &BTreeMap<String, PathBuf>,
) -> anyhow::Result<Vec<String>> {
    // the caller has checked that every existing output is the engine's own (`owned.rs`);
    // the run is recorded as in flight before anything is removed, so a kill from here on
    // leaves outputs a later run may remove
    let paths = outs
        .iter()
        .map(|out| confine::inside(workspace, out))
        .collect::<anyhow::Result<Vec<_>>>()?;
    InFlight::begin(workspace, &decl.name, outs)?;
    for path in &paths {
        remove_path(path)?;
    }
    let before = beside(workspace, outs);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .current_dir(workspace)
        .env("PNEUMO_STAGE", &decl.name)
        .env("PNEUMO_WORKSPACE", workspace)
        .stdout(std::io::stderr());
    for need in &decl.needs {
        if let Some(dir) = entries.get(need) {
            let var = format!("PNEUMO_IN_{}", need.to_uppercase().replace('-', "_"));
            command.env(var, dir);
        }
    }
    let upstream: Vec<(&String, &PathBuf)> = decl
        .needs
        .iter()
        .filter_map(|n| entries.get(n).map(|d| (n, d)))
        .collect();
    let read_only = fingerprint(&upstream);
    let status = command
        .status()
        .with_context(|| format!("starting `sh -c {cmd}` for stage `{}`", decl.name))?;
    untouched(decl, &upstream, &read_only)?;
    if !status.success() {
        bail!("stage `{}`: command `{cmd}` failed ({status})", decl.name);
    }
    for out in outs {
        // the command may have made links since: resolve again, and refuse an output
        // that is itself a link (its files would be read from wherever it points)
        let src = confine::inside(workspace, out)?;
        if fs::symlink_metadata(&src).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "stage `{}`: declared output `{out}` is a symlink; write the files themselves",
                decl.name
            );
        }
        if !src.exists() {
            bail!(
                "stage `{}`: command `{cmd}` did not write its declared output `{out}`",
                decl.name
            );
        }
        // the entry's names come from the declared path, never from the resolved one: `src`
        // is absolute (and resolved through links), the workspace may be given relative
        let declared = out_dir.join(components_key(out));
        for e in walkdir::WalkDir::new(&src) {
            let e = e?;
            if e.file_type().is_file() {
                let below = e.path().strip_prefix(&src).with_context(|| {
                    format!("{} is not below {}", e.path().display(), src.display())
                })?;
                let dst = if below.as_os_str().is_empty() {
                    declared.clone()
                } else {
                    declared.join(below)
                };
                if !dst.starts_with(out_dir) {
                    bail!(
                        "stage `{}`: output `{out}` maps outside its cache entry",
                        decl.name
                    );
                }
                fs::create_dir_all(dst.parent().unwrap_or(out_dir))?;
                // a read of the workspace file and a write of a new one in the entry: a file
                // hard-linked from elsewhere is never opened for writing
                fs::copy(e.path(), &dst)
                    .with_context(|| format!("copying {} into the cache", e.path().display()))?;
            }
        }
    }
    let declared: BTreeSet<String> = outs
        .iter()
        .map(|o| o.trim_end_matches('/').into())
        .collect();
    Ok(beside(workspace, outs)
        .difference(&before)
        .filter(|f| !declared.contains(*f))
        .cloned()
        .collect())
}

/// Every file in the upstream entries a command is given (`$PNEUMO_IN_<UPSTREAM>`), with its
/// size and modification time.
type Fingerprint = BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)>;

fn fingerprint(upstream: &[(&String, &PathBuf)]) -> Fingerprint {
    let mut files = Fingerprint::new();
    for (_, dir) in upstream {
        for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
            if let Ok(m) = e.metadata() {
                files.insert(e.path().to_path_buf(), (m.len(), m.modified().ok()));
            }
        }
    }
    files
}

/// A command that wrote into an upstream's entry (its `$PNEUMO_IN_...` folder) changed what
/// every later run trusts byte for byte: the entry is dropped, so that stage runs again, and
/// this one fails.
fn untouched(
    decl: &StageDecl,
    upstream: &[(&String, &PathBuf)],
    before: &Fingerprint,
) -> anyhow::Result<()> {
    let after = fingerprint(upstream);
    if &after == before {
        return Ok(());
    }
    let changed = after
        .iter()
        .find(|(p, f)| before.get(*p) != Some(f))
        .map(|(p, _)| p)
        .or_else(|| before.keys().find(|p| !after.contains_key(*p)));
    let Some(changed) = changed else {
        return Ok(());
    };
    let Some((need, dir)) = upstream.iter().find(|(_, d)| changed.starts_with(d)) else {
        return Ok(());
    };
    // `<entry>/out`: the entry is its parent; gone, the lock's key for it is a miss
    if let Some(entry) = dir.parent() {
        let _ = fs::remove_dir_all(entry);
    }
    bail!(
        "stage `{}` changed {}, in the cache entry of `{need}` ($PNEUMO_IN_{}), which later runs trust as it was made; the entry was dropped, so `{need}` runs again. A command writes only its declared `outs`",
        decl.name,
        changed.display(),
        need.to_uppercase().replace('-', "_")
    )
}

/// Workspace-relative paths of the entries in the folders holding `outs` (not the workspace
/// root itself, where the engine's own files live).
fn beside(workspace: &Path, outs: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for out in outs {
        let Some(parent) = Path::new(out.trim_end_matches('/')).parent() else {
            continue;
        };
        if parent.as_os_str().is_empty() {
            continue;
        }
        let Ok(listing) = fs::read_dir(workspace.join(parent)) else {
            continue;
        };
        for e in listing.flatten() {
            found.insert(parent.join(e.file_name()).to_string_lossy().into_owned());
        }
    }
    found
}
