//! pneumo-pipeline: a content-hashed research pipeline for pediatric chest X-ray
//! classification. See ARCHITECTURE.md for the map.

pub mod exp;
pub mod pipeline;
pub mod stages;

// The contract (every file format) and what the engine shares with the worker: their own
// crates, so that the worker never builds the engine (ARCHITECTURE.md, "The crates").
pub use pneumo_contract as contract;
pub use pneumo_core::{data, model, tables};

#[cfg(test)]
mod formats_test;

#[cfg(test)]
mod layering {
    use std::path::Path;

    fn files(dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs" || x == "toml") {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }

    /// What each crate may not name: the contract nothing of ours, the core not the engine,
    /// the worker not the engine (ARCHITECTURE.md, Invariants).
    #[test]
    fn dependencies_point_down() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
        for (krate, banned) in [
            (
                "pneumo-contract",
                &["pneumo_pipeline", "pneumo_core", "pneumo_torch"][..],
            ),
            ("pneumo-core", &["pneumo_pipeline", "pneumo_torch"]),
            ("pneumo-torch", &["pneumo_pipeline"]),
        ] {
            let mut all = Vec::new();
            files(&root.join(krate).join("src"), &mut all);
            assert!(all.len() > 2, "{krate}: no sources found");
            let manifest = root.join(krate).join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).unwrap();
            let deps = text.split("[dependencies]").nth(1).unwrap_or("");
            for b in banned {
                let package = b.replace('_', "-");
                assert!(
                    !deps.lines().any(|l| l.trim_start().starts_with(&package)),
                    "{}: {krate} may not depend on {package}",
                    manifest.display()
                );
                for (file, text) in &all {
                    // comments and messages may name other crates; code paths may not
                    let hit = text
                        .lines()
                        .map(str::trim_start)
                        .filter(|l| !l.starts_with("//"))
                        .any(|l| {
                            l.contains(&format!("{b}::"))
                                || l.contains(&format!("extern crate {b}"))
                        });
                    assert!(!hit, "{file} names `{b}`: {krate} may not depend on it");
                }
            }
        }
    }
}
