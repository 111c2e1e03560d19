//! Outputs stay inside the workspace. pipeline.yaml's paths are checked as text when it is
//! read (no `..`, not absolute); a symlink on disk can still lead elsewhere (`escape ->
//! /home/me`, or `build` itself linked out), so before the engine deletes, links or writes a
//! declared output it resolves each existing component of the path, symlinks included, and
//! refuses one that leaves the workspace. The last component is never followed: the engine
//! replaces or removes a link there, never what it points to.

use fs_err as fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

use super::key::CACHE_SCHEMA;

/// `workspace/rel` with its parent folders resolved, or an error naming the link that leads
/// out of the workspace.
pub fn inside(workspace: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    let root = workspace
        .canonicalize()
        .with_context(|| format!("resolving the workspace {}", workspace.display()))?;
    let parts: Vec<&std::ffi::OsStr> = Path::new(rel)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect();
    let mut cur = root.clone();
    for (i, part) in parts.iter().enumerate() {
        let next = cur.join(part);
        let last = i + 1 == parts.len();
        match fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() && !last => {
                let target = next.canonicalize().with_context(|| {
                    format!(
                        "`{rel}` passes through {}, a link that leads nowhere; remove it or change the output path",
                        next.display()
                    )
                })?;
                if !target.starts_with(&root) {
                    bail!(
                        "`{rel}` leaves the workspace through the link {} -> {}; outputs must stay inside {} (remove the link or change the output path)",
                        next.display(),
                        target.display(),
                        root.display()
                    );
                }
                cur = target;
            }
            _ => cur = next,
        }
    }
    Ok(cur)
}

/// Refuses a workspace whose engine folder, `.pneumo`, or a folder in it (the cache, jobs,
/// scratch, experiments) is a symlink: everything the engine writes or prunes there would
/// land wherever the link points, and `clean` would delete what another workspace sharing
/// the folder still holds. (A shared cache is a remote: `cache: {remote: file:///path}`.)
pub fn state_dir(workspace: &Path) -> anyhow::Result<()> {
    let root = workspace.join(".pneumo");
    let mut check = vec![root.clone()];
    for dir in [
        root.clone(),
        root.join("cache"),
        root.join(format!("cache/v{CACHE_SCHEMA}")),
    ] {
        if fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
            && let Ok(listing) = std::fs::read_dir(&dir)
        {
            check.extend(listing.flatten().map(|e| e.path()));
        }
    }
    for path in check {
        if let Ok(m) = fs::symlink_metadata(&path)
            && m.file_type().is_symlink()
        {
            let target = fs::read_link(&path)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into());
            bail!(
                "{} is a link (-> {target}); pneumo-pipeline keeps its cache and state inside the workspace and does not follow links there (clean would prune what another workspace sharing it still uses). Replace the link with a folder (move its contents in), and share results between workspaces with a remote cache: `cache: {{remote: file:///path}}` in pipeline.yaml",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_inside_are_followed_and_links_out_refused() {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let w = ws.path();
        fs::create_dir(w.join("real")).unwrap();
        symlink(w.join("real"), w.join("inner")).unwrap();
        symlink(outside.path(), w.join("escape")).unwrap();
        symlink(w.join("missing"), w.join("dangling")).unwrap();
        let root = w.canonicalize().unwrap();
        assert_eq!(inside(w, "build/x").unwrap(), root.join("build/x"));
        assert_eq!(inside(w, "inner/x").unwrap(), root.join("real/x"));
        // the last component is never followed: the engine replaces the link itself
        assert_eq!(inside(w, "escape").unwrap(), root.join("escape"));
        let err = inside(w, "escape/victim.txt").unwrap_err().to_string();
        assert!(
            err.contains("leaves the workspace through the link"),
            "{err}"
        );
        assert!(inside(w, "dangling/x").is_err());
    }
}
