//! The worker's scores for evaluate: one [`ScoreRow`] per image, as `probability,path`
//! lines (the path last, so a comma in it stays part of it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};

pub const HEADER: &str = "probability,path";

/// One scored image: its split path and its pneumonia probability.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub path: String,
    pub probability: f32,
}

pub fn write_scores(path: &Path, rows: &[ScoreRow]) -> anyhow::Result<()> {
    let mut csv = format!("{HEADER}\n");
    for r in rows {
        if r.path.contains(['\n', '\r']) {
            bail!("image path {:?} holds a line break", r.path);
        }
        writeln!(csv, "{:.9},{}", r.probability, r.path)?;
    }
    fs_err::write(path, csv).with_context(|| format!("writing {}", path.display()))
}

/// Probabilities by path; a malformed line or a probability outside [0, 1] is an error
/// naming the file and line.
pub fn read_scores(path: &Path) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = fs_err::read_to_string(path)?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => bail!("{} does not start with `{HEADER}`", path.display()),
    }
    lines
        .map(|(i, l)| {
            let at = || format!("{} line {}", path.display(), i + 1);
            let (p, name) = l
                .split_once(',')
                .with_context(|| format!("{}: no comma", at()))?;
            let p: f64 = p.parse().with_context(|| format!("{}: `{p}`", at()))?;
            if !(0.0..=1.0).contains(&p) {
                bail!("{}: probability {p} is outside [0, 1]", at());
            }
            Ok((name.to_string(), p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_paths_with_commas_and_refuses_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("scores.csv");
        let rows = vec![
            ScoreRow {
                path: "train/NORMAL/a,b.jpeg".into(),
                probability: 0.25,
            },
            ScoreRow {
                path: "val/PNEUMONIA/c.jpeg".into(),
                probability: 1.0,
            },
        ];
        write_scores(&f, &rows).unwrap();
        let back = read_scores(&f).unwrap();
        assert_eq!(back["train/NORMAL/a,b.jpeg"], 0.25);
        assert_eq!(back.len(), 2);
        fs_err::write(&f, "probability,path\n1.5,x\n").unwrap();
        let err = read_scores(&f).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("outside"), "{err}");
    }
}
