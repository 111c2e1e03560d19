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
    Ok(())
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
