//! External `cmd` stages: the command runs in the workspace with its upstreams' folders in
//! its environment; its declared outputs are copied into the pending cache entry. A failed
//! command's half-written outputs are the runner's to clear (it restores the last good ones).

use fs_err as fs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::confine;
use super::decl::StageDecl;
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
    for out in outs {
        remove_path(&confine::inside(workspace, out)?)?;
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
    let status = command
        .status()
        .with_context(|| format!("starting `sh -c {cmd}` for stage `{}`", decl.name))?;
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
        for e in walkdir::WalkDir::new(&src) {
            let e = e?;
            if e.file_type().is_file() {
                let rel = e.path().strip_prefix(workspace).unwrap_or(e.path());
                let dst = out_dir.join(rel);
                fs::create_dir_all(dst.parent().unwrap_or(out_dir))?;
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
