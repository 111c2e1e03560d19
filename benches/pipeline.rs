//! `cargo bench --bench pipeline`: the engine's no-op run, planning at scale, and
//! preprocessing throughput,
//! side by side with Pillow on the same files in the same run.
//!
//! `cargo bench --bench pipeline -- preprocessing` runs one section (`noop`, `planning`,
//! `preprocessing`). Pillow runs when `PILLOW_PYTHON` (default `python3`) can `import PIL`;
//! otherwise its rows say so. Needs ../shared/data.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rayon::prelude::*;

use pneumo_pipeline::data::resize::resize;
use pneumo_pipeline::data::scaled::{self, Decode};

const BIN: &str = env!("CARGO_BIN_EXE_pneumo-pipeline");
const SIDE: u32 = 224;

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    assert!(p.exists(), "benchmark needs {}", p.display());
    p
}

fn images(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "jpeg"))
        .map(|e| e.into_path())
        .collect();
    v.sort();
    v
}

fn prep(path: &Path, decode: Decode) -> Vec<u8> {
    let bytes = fs::read(path).expect("read");
    let gray = scaled::gray(decode, &bytes, u64::MAX, SIDE).expect("decode");
    resize(&gray, SIDE, SIDE).expect("resize")
}

/// Images per second over `work`, best of `tries`, on `threads` threads.
fn ours(work: &[PathBuf], decode: Decode, threads: usize, tries: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    (0..tries)
        .map(|_| {
            let t = Instant::now();
            pool.install(|| work.par_iter().for_each(|p| drop(prep(p, decode))));
            work.len() as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn python() -> Option<String> {
    let py = std::env::var("PILLOW_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import PIL"])
        .output()
        .ok()?
        .status
        .success();
    ok.then_some(py)
}

/// Pillow's images per second, best of `tries`; `draft`: the JPEG drafted to grey at the
/// output size first (the peer of `decode: scaled`).
fn pillow(py: &str, list: &Path, repeat: usize, procs: usize, draft: bool, tries: usize) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pillow_preprocess.py");
    (0..tries)
        .map(|_| {
            let out = Command::new(py)
                .arg(&script)
                .arg(list)
                .args([
                    "--repeat",
                    &repeat.to_string(),
                    "--procs",
                    &procs.to_string(),
                ])
                .args(draft.then_some("--draft"))
                .output()
                .expect("run pillow");
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("pillow json");
            v["images"].as_f64().unwrap_or(0.0) / v["seconds"].as_f64().unwrap_or(1.0)
        })
        .fold(0.0, f64::max)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("n/a (no Pillow)".into(), |x| format!("{x:.0}"))
}

fn preprocessing(py: Option<&str>, tmp: &Path) {
    println!("\n## Preprocessing: read + decode + grayscale + resize to 224x224 (img/s)\n");
    println!(
        "| data | files | ours, 1 thread | ours, 2 threads | Pillow, 1 process | Pillow, 2 processes | ours (2) / Pillow (2) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, root, repeat, decode) in [
        (
            "kermany-fullres (9 originals x 20)",
            shared("kermany-fullres"),
            20,
            Decode::Full,
        ),
        (
            "kermany-fullres, `decode: scaled` (Pillow: `draft`)",
            shared("kermany-fullres"),
            20,
            Decode::Scaled,
        ),
        (
            "kermany-dev (224 px JPEG)",
            shared("kermany-dev"),
            1,
            Decode::Full,
        ),
    ] {
        let files = images(&root);
        let work: Vec<PathBuf> = files
            .iter()
            .cycle()
            .take(files.len() * repeat)
            .cloned()
            .collect();
        let list = tmp.join("list.txt");
        let text: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        fs::write(&list, text.join("\n")).expect("write list");
        let one = ours(&work, decode, 1, 3);
        let two = ours(&work, decode, 2, 3);
        let draft = !decode.is_full();
        let (p1, p2) = match py {
            Some(py) => (
                Some(pillow(py, &list, repeat, 1, draft, 3)),
                Some(pillow(py, &list, repeat, 2, draft, 3)),
            ),
            None => (None, None),
        };
        println!(
            "| {name} | {} | {one:.0} | {two:.0} | {} | {} | {} |",
            work.len(),
            fmt(p1),
            fmt(p2),
            p2.map_or("-".into(), |p| format!("{:.2}x", two / p))
        );
    }
    if let Some(py) = py {
        let files = images(&shared("kermany-fullres"));
        let list = tmp.join("list.txt");
        let text: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        fs::write(&list, text.join("\n")).expect("write list");
        let dump = tmp.join("pillow.u8");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pillow_preprocess.py");
        let status = Command::new(py)
            .arg(&script)
            .arg(&list)
            .arg("--dump")
            .arg(&dump)
            .output()
            .expect("pillow dump")
            .status;
        assert!(status.success());
        let theirs = fs::read(&dump).expect("read dump");
        let mine: Vec<u8> = files.iter().flat_map(|p| prep(p, Decode::Full)).collect();
        let diffs: Vec<u32> = mine
            .iter()
            .zip(&theirs)
            .map(|(a, b)| a.abs_diff(*b) as u32)
            .collect();
        let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
        let exact = diffs.iter().filter(|d| **d == 0).count() as f64 / diffs.len() as f64;
        println!(
            "\nPixel agreement with Pillow on the 9 originals: mean |ours - Pillow| = {mean:.3} grey levels, max {}, {:.1}% identical",
            diffs.iter().max().unwrap_or(&0),
            exact * 100.0
        );
    }
}

fn noop_run(tmp: &Path) {
    let ws = tmp.join("ws");
    fs::create_dir_all(ws.join("data")).expect("ws");
    std::os::unix::fs::symlink(shared("kermany-dev"), ws.join("data/chest_xray")).expect("link");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml"),
        ws.join("pipeline.yaml"),
    )
    .expect("config");
    let run = || {
        let t = Instant::now();
        let out = Command::new(BIN)
            .arg("-w")
            .arg(&ws)
            // the data stages only: the default pipeline also trains (minutes), which is not
            // what this row measures
            .args(["run", "-q", "split", "preprocess"])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.elapsed().as_secs_f64() * 1000.0
    };
    let cold = run();
    let mut times: Vec<f64> = (0..30).map(|_| run()).collect();
    times.sort_by(f64::total_cmp);
    // a fresh stat cache: every image re-hashed, no stage re-run
    fs::remove_file(ws.join(".pneumo/state/hashes.tsv")).expect("stat cache");
    let rehash = run();
    println!(
        "\n## Engine on kermany-dev (5,232 images), default pipeline.yaml's data stages, wall time incl. process start\n"
    );
    println!("| run | ms |");
    println!("|---|---:|");
    println!("| first run (index + split + preprocess) | {cold:.0} |");
    println!(
        "| no-op run, median of 30 | {:.1} |",
        times[times.len() / 2]
    );
    println!(
        "| no-op run, min / max | {:.1} / {:.1} |",
        times[0],
        times[times.len() - 1]
    );
    println!("| no-op run with the stat cache deleted (re-hash all inputs) | {rehash:.0} |");
}

/// `status` on generated DAGs of `cmd` stages (each needs one or two of the 50 before it):
/// what matrix stages will make common. Near-linear since the quadratic spots went.
fn planning_at_scale(tmp: &Path) {
    println!("\n## Planning at scale: `status` on generated DAGs, wall time incl. process start\n");
    println!("| stages | s |");
    println!("|---:|---:|");
    for n in [1_000usize, 10_000, 100_000] {
        let ws = tmp.join(format!("dag-{n}"));
        fs::create_dir_all(&ws).expect("ws");
        let mut yaml = String::from("stages:\n");
        for i in 0..n {
            yaml.push_str(&format!(
                "  s{i}:\n    cmd: echo {i} > out/{i}.txt\n    outs: [out/{i}.txt]\n"
            ));
            if i > 0 {
                yaml.push_str(&format!(
                    "    needs: [s{}, s{}]\n",
                    i - 1,
                    i.saturating_sub(1 + i % 50)
                ));
            }
        }
        fs::write(ws.join("pipeline.yaml"), yaml).expect("config");
        let t = Instant::now();
        let out = Command::new(BIN)
            .arg("-w")
            .arg(&ws)
            .arg("status")
            .output()
            .expect("status");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("| {n} | {:.2} |", t.elapsed().as_secs_f64());
    }
}

fn main() {
    // `cargo test --benches` smoke-runs benches with --test-ish args: only run when asked
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo bench --bench pipeline -- preprocessing`: only the sections named
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |section: &str| named.is_empty() || named.iter().any(|n| n == section);
    let tmp = tempfile::tempdir().expect("temp dir");
    let py = python();
    if wanted("noop") {
        noop_run(tmp.path());
    }
    if wanted("planning") {
        planning_at_scale(tmp.path());
    }
    if wanted("preprocessing") {
        preprocessing(py.as_deref(), tmp.path());
    }
}
