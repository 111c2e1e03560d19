//! Helpers for the integration tests: temp workspaces, generated datasets, running the
//! binary and reading what it says.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{ImageBuffer, Luma, Rgb};

pub const BIN: &str = env!("CARGO_BIN_EXE_pneumo-pipeline");

/// The shared development dataset; fails loudly when it is not there.
pub fn kermany_dev() -> PathBuf {
    shared("data/kermany-dev")
}

pub fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    assert!(
        p.exists(),
        "real-data test needs {} (the shared folder beside the repository); it is missing",
        p.display()
    );
    p
}

/// A temp workspace holding a pipeline.yaml.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

/// Index, split and a 32 px preprocess: the head of a test config (`Ws::generated`).
pub const DATA_32: &str = "\
stages:
  index:
    kind: index
  split:
    kind: split
    needs: [index]
  preprocess:
    kind: preprocess
    needs: [index]
    params: {size: 32}
";

/// Index, split, a 64 px preprocess and a short training on kermany-dev (`Ws::linked`).
pub const TRAIN_64: &str = "\
stages:
  index:
    kind: index
  split:
    kind: split
    needs: [index]
  preprocess:
    kind: preprocess
    needs: [index]
    params: {size: 64}
  train:
    kind: train
    needs: [split, preprocess]
    params: {batch_size: 16, eval_every: 4, max_iterations: 8, patience: 5, seed: 3}
";

pub const THREE_STAGES: &str = "\
stages:
  index:
    kind: index
  split:
    kind: split
    needs: [index]
    params:
      seed: 42
  preprocess:
    kind: preprocess
    needs: [index]
    params:
      size: 32
";

impl Ws {
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("pipeline.yaml"), config).expect("write config");
        Ws { dir }
    }

    /// A workspace whose `data/chest_xray` links to `data`.
    pub fn linked(config: &str, data: &Path) -> Self {
        let ws = Self::new(config);
        fs::create_dir_all(ws.path().join("data")).unwrap();
        std::os::unix::fs::symlink(data, ws.path().join("data/chest_xray")).unwrap();
        ws
    }

    /// A workspace with a small generated dataset in `data/chest_xray`.
    pub fn generated(config: &str) -> Self {
        let ws = Self::new(config);
        make_dataset(&ws.path().join("data/chest_xray"));
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.path().join("data/chest_xray")
    }

    pub fn set_config(&self, config: &str) {
        fs::write(self.path().join("pipeline.yaml"), config).unwrap();
    }

    pub fn edit_config(&self, from: &str, to: &str) {
        let p = self.path().join("pipeline.yaml");
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "config has no `{from}`");
        fs::write(p, text.replace(from, to)).unwrap();
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--workspace").arg(self.path()).args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd(args).output().expect("start binary"))
    }

    /// `run` that must succeed.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(r.0.status.success(), "{args:?} failed:\n{}", r.stderr());
        r
    }
}

/// What one invocation printed.
pub struct Run(pub Output);

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    /// Stages by outcome word as `run` reports them: "ran", "fresh" or "restored".
    pub fn stages(&self, outcome: &str) -> Vec<String> {
        self.stderr()
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let stage = w.next()?;
                let what = w.next()?;
                (what.trim_end_matches(',') == outcome).then(|| stage.to_string())
            })
            .collect()
    }
}

/// Writes a Kaggle-layout dataset with Kermany file names: 3 patients per class in train
/// (one with two films), 1 per class in val and test.
pub fn make_dataset(root: &Path) {
    let files = [
        ("train/NORMAL", "IM-0001-0001.jpeg"),
        ("train/NORMAL", "IM-0001-0002.jpeg"),
        ("train/NORMAL", "IM-0002-0001.jpeg"),
        ("train/NORMAL", "NORMAL2-IM-0003-0001.jpeg"),
        ("train/PNEUMONIA", "person1_bacteria_1.jpeg"),
        ("train/PNEUMONIA", "person1_virus_2.jpeg"),
        ("train/PNEUMONIA", "person2_bacteria_3.jpeg"),
        ("train/PNEUMONIA", "person3_virus_4.jpeg"),
        ("train/PNEUMONIA", "person4_bacteria_5.jpeg"),
        ("val/NORMAL", "NORMAL2-IM-0100-0001.jpeg"),
        ("val/PNEUMONIA", "person100_bacteria_100.jpeg"),
        ("test/NORMAL", "IM-0200-0001.jpeg"),
        ("test/PNEUMONIA", "person200_virus_200.jpeg"),
    ];
    for (i, (dir, name)) in files.iter().enumerate() {
        let d = root.join(dir);
        fs::create_dir_all(&d).unwrap();
        write_jpeg(&d.join(name), 48 + i as u32, 40, i as u8);
    }
}

/// A gray JPEG with a seeded gradient.
pub fn write_jpeg(path: &Path, w: u32, h: u32, seed: u8) {
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        Luma([((x * 5 + y * 3) as u8).wrapping_add(seed.wrapping_mul(37))])
    });
    img.save(path).unwrap();
}

/// An RGB JPEG.
pub fn write_rgb_jpeg(path: &Path, w: u32, h: u32) {
    let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
    img.save(path).unwrap();
}

/// Every Markdown table row has as many cells as its header.
pub fn assert_tables_rectangular(md: &str) {
    let mut width = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            width = None;
            continue;
        }
        let cells = line.replace("\\|", "").matches('|').count();
        match width {
            None => width = Some(cells),
            Some(w) => assert_eq!(cells, w, "ragged table row: {line}"),
        }
    }
}

/// `predict --json` on the kermany-dev film `rel` with the model evaluate wrote to
/// `eval_dir` (workspace-relative) gives evaluate's own probability for it (from that
/// folder's predictions.csv): predict preprocesses and scores new files as the stages did.
pub fn assert_predict_matches_evaluate(ws: &Ws, eval_dir: &str, rel: &str) {
    let film = kermany_dev().join(rel);
    let out = ws
        .cmd(&["predict", "--json", film.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let predicted = v[0]["probability"].as_f64().unwrap();
    let csv = fs::read_to_string(ws.path().join(eval_dir).join("predictions.csv")).unwrap();
    let evaluated: f64 = csv
        .lines()
        .find(|l| l.starts_with(&format!("{rel},")))
        .and_then(|l| l.split(',').nth(5))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (predicted - evaluated).abs() < 1e-4,
        "{rel}: predict {predicted} vs evaluate {evaluated}"
    );
}
