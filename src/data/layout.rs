//! Where a file sits in a Kaggle (`{train,val,test}/{NORMAL,PNEUMONIA}`) or Mendeley
//! (`{train,test}/{NORMAL,PNEUMONIA}`) dataset folder.

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
}
