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
        c.arg("--workspace").arg(self.path()).args(with_json(args));
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd(args).output().expect("start binary"))
    }

    /// The binary with the workspace given the way `form` says (see [`Form`]).
    pub fn cmd_as(&self, form: Form, cwd_elsewhere: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        match form {
            Form::Cwd => {
                c.current_dir(self.path());
            }
            Form::Dot => {
                c.current_dir(self.path()).args(["-w", "."]);
            }
            Form::Relative => {
                let parent = self.path().parent().expect("a temp dir has a parent");
                let name = self.path().file_name().expect("and a name");
                c.current_dir(parent).arg("-w").arg(name);
            }
            Form::Absolute => {
                c.current_dir(cwd_elsewhere).arg("-w").arg(self.path());
            }
        }
        c.args(with_json(args));
        c
    }

    /// `run` with the workspace given as `form`; with an absolute `-w` the command runs from
    /// an empty folder elsewhere, which must stay empty.
    pub fn run_as(&self, form: Form, args: &[&str]) -> Run {
        let elsewhere = tempfile::tempdir().expect("temp dir");
        let r = Run(self
            .cmd_as(form, elsewhere.path(), args)
            .output()
            .expect("start binary"));
        let left: Vec<_> = fs::read_dir(elsewhere.path()).unwrap().collect();
        assert!(
            left.is_empty(),
            "{form:?} {args:?} wrote into the current folder"
        );
        r
    }

    /// [`Ws::run_as`] that must succeed.
    pub fn ok_as(&self, form: Form, args: &[&str]) -> Run {
        let r = self.run_as(form, args);
        assert!(
            r.0.status.success(),
            "{form:?} {args:?} failed:\n{}",
            r.stderr()
        );
        r
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

    /// Stages by outcome ("ran", "fresh", "restored", "pulled"), read from the JSON that
    /// `run --json` prints on stdout (`Ws::cmd` passes `--json` to `run` and `exp run`), not
    /// from stderr's wording. A run that failed printed none: no stage.
    pub fn stages(&self, outcome: &str) -> Vec<String> {
        let results = self
            .stdout()
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Vec<serde_json::Value>>(l).ok());
        let Some(results) = results else {
            assert!(
                !self.0.status.success(),
                "a successful run printed no JSON results on stdout:\n{}",
                self.stdout()
            );
            return Vec::new();
        };
        results
            .iter()
            .filter(|r| r["outcome"] == outcome)
            .map(|r| r["stage"].as_str().expect("a stage name").to_string())
            .collect()
    }
}

/// How a user names the workspace: from inside it with no `-w`, with `-w .`, with a relative
/// path from the folder above, and with an absolute path from somewhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Cwd,
    Dot,
    Relative,
    Absolute,
}

pub const FORMS: [Form; 4] = [Form::Cwd, Form::Dot, Form::Relative, Form::Absolute];

/// `args` with `--json` after `run` and `exp run`, so [`Run::stages`] can read the outcomes.
fn with_json<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    match args {
        ["run", ..] => v.insert(1, "--json"),
        ["exp", "run", ..] => v.insert(2, "--json"),
        _ => {}
    }
    v
}

/// Every path under `dir` with its bytes (folders and links: empty), sorted: a snapshot to
/// compare before and after a command that must not touch `dir`.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            (rel, fs::read(e.path()).unwrap_or_default())
        })
        .collect();
    out.sort();
    out
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
