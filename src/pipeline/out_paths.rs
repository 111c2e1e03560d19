//! The checks on output paths written in pipeline.yaml, as text: inside the workspace, not
//! the engine's own folder, and whether two of them overlap. (On disk, symlinks included,
//! `confine.rs` checks them again before a run touches anything.)

use std::path::{Component, Path};

pub fn check_out_path(path: &str) -> Result<(), &'static str> {
    let p = Path::new(path);
    if path.trim().is_empty() {
        return Err("is empty");
    }
    if p.is_absolute() {
        return Err("is absolute");
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err("leaves the workspace (`..`)");
    }
    if p.components().next() == Some(Component::Normal(".pneumo".as_ref())) {
        return Err("is inside the engine's own `.pneumo` folder");
    }
    if p.components().all(|c| c == Component::CurDir) {
        return Err("is the workspace itself");
    }
    match components_key(path.trim_end_matches('/')).as_str() {
        "pipeline.yaml" => return Err("is the pipeline's own config"),
        "pipeline.lock" => return Err("is the engine's lock file"),
        _ => {}
    }
    if p.components()
        .any(|c| c == Component::Normal(".git".as_ref()))
    {
        return Err("is inside a `.git` folder");
    }
    Ok(())
}

/// Whether two workspace-relative paths (as [`components_key`]s) are one path, or one lies
/// inside the other.
pub fn overlap(a: &str, b: &str) -> bool {
    let within = |x: &str, y: &str| x == y || (x.starts_with(y) && x[y.len()..].starts_with('/'));
    within(a, b) || within(b, a)
}

/// A path's components (`.` dropped) joined with `/`: `./out//a/` and `out/a` are one key.
pub fn components_key(p: &str) -> String {
    Path::new(p)
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `key` itself and each of its ancestors: `a/b/c`, `a/b`, `a`.
pub fn ancestors_of(key: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(key), |k| k.rsplit_once('/').map(|(a, _)| a))
}
