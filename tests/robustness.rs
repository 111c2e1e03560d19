//! A killed run leaves nothing corrupt; two runs in one workspace do not clobber each other.

mod common;

use std::fs;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{THREE_STAGES, Ws};

/// A pipeline whose last stage writes half its output, then (when SLOW is set) hangs.
fn slow_config() -> String {
    format!(
        "{THREE_STAGES}  slow:\n    cmd: echo partial > out.txt; if [ -n \"$SLOW\" ]; then sleep 30; fi; echo done > out.txt\n    needs: [split]\n    outs: [out.txt]\n"
    )
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        sleep(Duration::from_millis(20));
    }
}

/// A `run` that is inside the slow stage when this returns.
fn start_slow_run(ws: &Ws) -> Child {
    let child = ws
        .cmd(&["run"])
        .env("SLOW", "1")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the slow stage to start", || {
        ws.path().join("out.txt").exists()
    });
    child
}

#[test]
fn kill_9_during_a_command_stage_then_run_again() {
    let ws = Ws::generated(&slow_config());
    let mut child = start_slow_run(&ws);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let lock = fs::read_to_string(ws.path().join("pipeline.lock")).unwrap();
    assert!(lock.contains("split:") && !lock.contains("slow:"), "{lock}");
    let status = ws.ok(&["status"]).stdout();
    assert!(status.contains("split        fresh"), "{status}");
    assert!(status.contains("slow         stale"), "{status}");

    let r = ws.ok(&["run", "--no-wait"]);
    assert_eq!(r.stages("ran"), ["slow"]);
    assert_eq!(
        fs::read_to_string(ws.path().join("out.txt")).unwrap(),
        "done\n"
    );
    let leftovers = fs::read_dir(ws.path().join(".pneumo/cache/v1/tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "the killed run's temp folder was not cleared");
}

#[test]
fn kill_9_during_preprocess_on_real_data_then_run_again() {
    let ws = Ws::linked(
        "stages:\n  index:\n    kind: index\n  preprocess:\n    kind: preprocess\n    needs: [index]\n",
        &common::kermany_dev(),
    );
    let mut child = ws.cmd(&["run"]).stderr(Stdio::null()).spawn().unwrap();
    let tmp = ws.path().join(".pneumo/cache/v1/tmp");
    wait_for("preprocess to start writing", || {
        fs::read_dir(&tmp)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| fs::metadata(e.path().join("out/images.u8")).is_ok_and(|m| m.len() > 0))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!ws.path().join("build/preprocess").exists());

    let r = ws.ok(&["run"]);
    assert_eq!(r.stages("fresh"), ["index"]);
    assert_eq!(r.stages("ran"), ["preprocess"]);
    let size = fs::metadata(ws.path().join("build/preprocess/images.u8"))
        .unwrap()
        .len();
    assert_eq!(size, 5232 * 224 * 224);
}

#[test]
fn two_concurrent_runs_both_finish_and_agree() {
    let ws = Ws::generated(&slow_config());
    let spawn = || {
        ws.cmd(&["run"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        common::Run(a.wait_with_output().unwrap()),
        common::Run(b.wait_with_output().unwrap()),
    );
    assert!(a.0.status.success() && b.0.status.success());
    let (ea, eb) = (a.stderr(), b.stderr());
    assert_eq!(
        a.stages("ran").len() + b.stages("ran").len(),
        4,
        "each stage runs exactly once:\n{ea}\n---\n{eb}"
    );
    assert!(ea.contains("waiting for another run") || eb.contains("waiting for another run"));
    let status = ws.ok(&["status"]).stdout();
    assert_eq!(status.matches(" fresh").count(), 4, "{status}");
}

#[test]
fn no_wait_refuses_while_another_run_holds_the_workspace() {
    let ws = Ws::generated(&slow_config());
    let mut slow = start_slow_run(&ws);
    let r = ws.run(&["run", "--no-wait"]);
    slow.kill().unwrap();
    slow.wait().unwrap();
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr().contains("another pneumo-pipeline run (pid "),
        "{}",
        r.stderr()
    );
}

/// `chmod -R a-w .pneumo/cache` by its owner (not root, whom permissions do not stop): a
/// no-op run still works, and a killed run's leftover it cannot remove is a warning.
#[test]
fn a_read_only_cache_still_allows_a_no_op_run() {
    use std::os::unix::fs::{PermissionsExt, lchown};
    let ws = Ws::generated(THREE_STAGES);
    let root = String::from_utf8(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
        == "0";
    // as root, the workspace goes to `nobody` and the binary runs as nobody
    let run = |args: &[&str]| {
        let mut c = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                common::BIN,
            ]);
            c
        } else {
            std::process::Command::new(common::BIN)
        };
        c.arg("--workspace")
            .arg(ws.path())
            .args(args)
            .output()
            .unwrap()
    };
    let each = |f: &dyn Fn(&std::path::Path)| {
        for e in walkdir::WalkDir::new(ws.path()) {
            f(e.unwrap().path());
        }
    };
    if root {
        each(&|p| lchown(p, Some(65534), Some(65534)).unwrap());
    }
    let first = run(&["run"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let cache = ws.path().join(".pneumo/cache");
    fs::create_dir_all(cache.join("v1/tmp/leftover-of-a-killed-run")).unwrap();
    if root {
        each(&|p| lchown(p, Some(65534), Some(65534)).unwrap());
    }
    for e in walkdir::WalkDir::new(&cache) {
        let p = e.unwrap().into_path();
        let mode = fs::metadata(&p).unwrap().permissions().mode();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode & !0o222)).unwrap();
    }
    let again = run(&["run"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(
        stderr.contains("could not clear .pneumo/cache's tmp folder"),
        "{stderr}"
    );
    // give the folder back its write bits so the temp dir can be removed
    for e in walkdir::WalkDir::new(&cache) {
        let p = e.unwrap().into_path();
        let mode = fs::metadata(&p).unwrap().permissions().mode();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode | 0o200)).unwrap();
    }
}

/// A failed command neither loses the last good output nor leaves its half-written one; a
/// file it writes beside its declared outputs without declaring it is a warning.
#[test]
fn a_failed_command_leaves_the_last_good_output_in_place() {
    let ws = Ws::new(
        "stages:\n  s:\n    cmd: mkdir -p out && echo good > out/a.txt && echo extra > out/b.txt\n    outs: [out/a.txt]\n",
    );
    let r = ws.ok(&["run"]);
    assert!(
        r.stderr()
            .contains("stage `s` wrote `out/b.txt`, which is not among its `outs`"),
        "{}",
        r.stderr()
    );
    ws.edit_config("echo good > out/a.txt", "echo half > out/a.txt && exit 3");
    let r = ws.run(&["run"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        r.stderr()
            .contains("stage `s` failed; its last good outputs are back in place"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        fs::read_to_string(ws.path().join("out/a.txt")).unwrap(),
        "good\n"
    );
    // a stage that never succeeded leaves nothing half-written behind
    let fresh = Ws::new("stages:\n  t:\n    cmd: echo half > t.txt && exit 3\n    outs: [t.txt]\n");
    assert_eq!(fresh.run(&["run"]).code(), 1);
    assert!(!fresh.path().join("t.txt").exists());
}
