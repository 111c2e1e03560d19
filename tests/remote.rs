//! The remote cache: a workspace pushes what it ran; a second workspace with an empty local
//! cache pulls every stage without running any, from a folder (`file://`) and from a real
//! S3-compatible server (moto's, started here on 127.0.0.1); a damaged object is caught by
//! its hash and that stage runs instead.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Ws;

/// After `common::DATA_32`.
const REST: &str = "  train:
    kind: train
    needs: [split, preprocess]
    params: {batch_size: 4, eval_every: 1, max_iterations: 3}
  evaluate:
    kind: evaluate
    needs: [split, preprocess, train]
    params: {bootstrap: 10}
";

const ALL: [&str; 5] = ["index", "split", "preprocess", "train", "evaluate"];

fn lock(ws: &Ws) -> serde_json::Value {
    let text = std::fs::read_to_string(ws.path().join("pipeline.lock")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

#[test]
fn a_second_workspace_pulls_every_stage_from_a_folder_remote() {
    let remote = tempfile::tempdir().unwrap();
    let config = format!(
        "cache: {{remote: 'file://{}'}}\n{}{REST}",
        remote.path().display(),
        common::DATA_32
    );
    let first = Ws::generated(&config);
    let r = first.ok(&["run"]);
    assert_eq!(r.stages("ran"), ALL);
    assert_eq!(
        r.stderr().matches("pushed to file://").count(),
        5,
        "{}",
        r.stderr()
    );

    let second = Ws::generated(&config);
    let r = second.ok(&["run"]);
    assert_eq!(r.stages("pulled"), ALL, "{}", r.stderr());
    assert!(r.stages("ran").is_empty());
    assert_eq!(lock(&second), lock(&first));
    assert!(second.path().join("build/evaluate/metrics.json").exists());
    // a pulled workspace is like any other: nothing to do next time
    assert_eq!(second.ok(&["run"]).stages("fresh"), ALL);

    // damage the largest object (the weights, which train and evaluate both hold): caught by
    // its hash and removed; train runs again and its push puts the object back, so evaluate,
    // whose key is unchanged, is still pulled
    let objects = remote.path().join("objects");
    let biggest = std::fs::read_dir(&objects)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&biggest).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&biggest, bytes).unwrap();
    let third = Ws::generated(&config);
    let r = third.ok(&["run"]);
    let err = r.stderr();
    assert!(
        err.contains("could not pull `train` from the remote cache")
            && err.contains("does not match its hash"),
        "{err}"
    );
    assert_eq!(r.stages("ran"), ["train"], "{err}");
    assert_eq!(
        r.stages("pulled"),
        ["index", "split", "preprocess", "evaluate"]
    );
}

/// moto's S3 server on a free port of 127.0.0.1, stopped on drop.
struct S3Server {
    child: Child,
    port: u16,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    fn start() -> S3Server {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin");
        let bin = venv.join("moto_server");
        if !bin.exists() {
            // what .ci/run does beforehand; here so that the README's test command holds alone
            let st = Command::new(venv.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg("moto[server]==5.*")
                .status();
            assert!(
                st.is_ok_and(|s| s.success()) && bin.exists(),
                "no S3 server for the tests: `.venv/bin/pip install 'moto[server]'` failed (run scripts/setup.sh first)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = S3Server { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (an S3 `PUT /bucket`).
    fn bucket(&self, bucket: &str) {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
}

#[test]
fn a_second_workspace_pulls_every_stage_from_an_s3_remote() {
    let server = S3Server::start();
    server.bucket("pneumo-test");
    let run = |ws: &Ws| {
        let out = ws
            .cmd(&["run", "--remote", "s3://pneumo-test/team/cache"])
            .env("AWS_ACCESS_KEY_ID", "testing-key-id")
            .env("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
            .env("AWS_ENDPOINT", server.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        let r = common::Run(out);
        assert!(r.0.status.success(), "{}", r.stderr());
        r
    };
    let first = Ws::generated(&format!("{}{REST}", common::DATA_32));
    assert_eq!(run(&first).stages("ran"), ALL);
    let second = Ws::generated(&format!("{}{REST}", common::DATA_32));
    let r = run(&second);
    assert_eq!(r.stages("pulled"), ALL, "{}", r.stderr());
    assert_eq!(lock(&second), lock(&first));
    // credentials are never written into the workspace
    for e in walkdir::WalkDir::new(second.path()).into_iter().flatten() {
        if e.file_type().is_file() && !e.path().starts_with(second.data()) {
            let text = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
            assert!(
                !text.contains("testing-secret-value"),
                "{}",
                e.path().display()
            );
        }
    }
}

/// A workspace that ran before a remote was set up shares its results with `push`.
#[test]
fn push_shares_what_ran_before_the_remote_was_set_up() {
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    let config = format!("{}{REST}", common::DATA_32);
    let first = Ws::generated(&config);
    first.ok(&["run"]);
    let out = first.ok(&["push", "--remote", &url]).stdout();
    assert!(out.starts_with("pushed 5 new entries"), "{out}");
    // write-once: nothing new the second time
    assert!(
        first
            .ok(&["push", "--remote", &url])
            .stdout()
            .starts_with("pushed 0 new entries")
    );
    let second = Ws::generated(&config);
    let r = second.ok(&["run", "--remote", &url]);
    assert_eq!(r.stages("pulled"), ALL, "{}", r.stderr());
    // without a remote, push says how to give one
    let err = first.run(&["push"]);
    assert_eq!(err.code(), 1);
    assert!(err.stderr().contains("no remote cache"), "{}", err.stderr());
}
