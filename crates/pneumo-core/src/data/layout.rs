//! Where a file sits in a Kaggle (`{train,val,test}/{NORMAL,PNEUMONIA}`) or Mendeley
//! (`{train,test}/{NORMAL,PNEUMONIA}`) dataset folder.

use std::path::Path;

/// The official split folders, in the order they are reported.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];
/// The class folders.
pub const LABELS: [&str; 2] = ["NORMAL", "PNEUMONIA"];

/// Split and label of a path relative to the dataset folder, when it follows the layout.
pub fn place(rel: &str) -> Option<(&'static str, &'static str)> {
    let mut parts = rel.split('/');
    let split = parts.next()?;
    let label = parts.next()?;
    parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let split = SPLITS.iter().find(|s| **s == split)?;
    let label = LABELS.iter().find(|l| **l == label)?;
    Some((split, label))
}

/// What to tell a user whose dataset folder is missing.
pub fn missing_dataset_hint(path: &str) -> String {
    format!(
        "put the chest X-ray dataset at `{path}`: download Kaggle \"chest-xray-pneumonia\" \
(or Mendeley Data doi:10.17632/rscbjbr9sj.2) and unzip it so that `{path}/train/NORMAL` exists, \
or link an existing copy: `ln -s /path/to/chest_xray {path}` (for development: \
`ln -s \"$PWD/../shared/data/kermany-dev\" {path}`)"
    )
}

/// Before a dataset folder is hashed: it is a folder you can list with at least one
/// `<split>/<class>` folder in it. `/usr`, `/proc` or a folder one level off are said at once,
/// instead of after hashing every file in them.
pub fn check_root(path: &str, abs: &Path) -> Result<(), String> {
    let listing = std::fs::read_dir(abs).map_err(|e| {
        format!(
            "cannot list it ({e}); the dataset is a folder `{{train,val,test}}/{{NORMAL,PNEUMONIA}}/<file>` this user can read"
        )
    })?;
    if has_layout(abs) {
        return Ok(());
    }
    let mut names: Vec<String> = listing
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let shown = match names.len() {
        0 => "it is empty".to_string(),
        n if n <= 6 => format!("it holds {}", names.join(", ")),
        n => format!("it holds {} and {} more", names[..6].join(", "), n - 6),
    };
    let hint = match nested(abs) {
        Some(inner) => format!(
            "the dataset seems to be inside `{path}/{inner}`; set `params.data: {path}/{inner}` on the index stage or link that folder"
        ),
        // a folder given by absolute path is someone's system or data folder: no advice
        // to link the dataset there
        None if Path::new(path).is_absolute() => {
            "point the index stage's `data` at the folder that holds `train/` (and `val/`, `test/`)"
                .to_string()
        }
        None => missing_dataset_hint(path),
    };
    Err(format!(
        "it does not follow the dataset layout `{{train,val,test}}/{{NORMAL,PNEUMONIA}}/<file>`: it has no split and class folder such as `train/NORMAL` ({shown})\n  hint: {hint}"
    ))
}

fn has_layout(dir: &Path) -> bool {
    SPLITS
        .iter()
        .any(|s| LABELS.iter().any(|l| dir.join(s).join(l).is_dir()))
}

/// A folder one or two levels below `dir` that has the layout (the Kaggle zip unpacks to
/// `chest_xray/chest_xray/train/...`); a bounded look, folders only.
fn nested(dir: &Path) -> Option<String> {
    let children = |d: &Path| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .take(64)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        v
    };
    for child in children(dir) {
        for found in std::iter::once(child.clone()).chain(children(&child)) {
            if has_layout(&found) {
                return found
                    .strip_prefix(dir)
                    .ok()
                    .map(|r| r.to_string_lossy().into_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_layout_paths_only() {
        assert_eq!(place("train/NORMAL/a.jpeg"), Some(("train", "NORMAL")));
        assert_eq!(place("test/PNEUMONIA/b.jpeg"), Some(("test", "PNEUMONIA")));
        assert_eq!(place("train/a.jpeg"), None);
        assert_eq!(place("chest_xray/train/NORMAL/a.jpeg"), None);
        assert_eq!(place("train/OTHER/a.jpeg"), None);
    }

    #[test]
    fn a_folder_without_the_layout_is_said_before_hashing() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("chest_xray/train/NORMAL")).unwrap();
        let err = check_root("data", d.path()).unwrap_err();
        assert!(err.contains("it holds chest_xray"), "{err}");
        assert!(check_root("data", &d.path().join("chest_xray")).is_ok());
        assert!(
            check_root("/", Path::new("/"))
                .unwrap_err()
                .contains("does not follow")
        );
        let file = d.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(
            check_root("f", &file)
                .unwrap_err()
                .contains("cannot list it")
        );
    }
}
