//! The CUDA backend is linked whenever the libtorch this build used has one, so that a GPU
//! machine finds its GPU. Checked on a CPU machine: the worker's dynamic section, and the
//! kind of error libtorch gives when asked for a CUDA tensor with no GPU present.

use std::path::Path;
use std::process::Command;

const WORKER: &str = env!("CARGO_BIN_EXE_pneumo-torch");

/// The `NEEDED` entries of an ELF file's dynamic section, via readelf.
fn needed(file: &str) -> Vec<String> {
    let out = Command::new("readelf")
        .args(["-d", file])
        .output()
        .expect("readelf (binutils) runs");
    assert!(out.status.success(), "readelf -d {file} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_string()))
        .collect()
}

fn libtorch_has_cuda() -> bool {
    Path::new(env!("PNEUMO_LIBTORCH_LIB"))
        .join("libtorch_cuda.so")
        .exists()
}

#[test]
fn the_worker_links_libtorch_cuda_exactly_when_libtorch_has_it() {
    let needed = needed(WORKER);
    assert!(needed.iter().any(|n| n == "libtorch_cpu.so"), "{needed:?}");
    assert_eq!(
        needed.iter().any(|n| n == "libtorch_cuda.so"),
        libtorch_has_cuda(),
        "NEEDED of {WORKER}: {needed:?} (libtorch at {})",
        env!("PNEUMO_LIBTORCH_LIB")
    );
}

/// The engine binary stays free of libtorch (its no-op `run` takes 20 ms, not 300).
#[test]
fn the_pipeline_binary_links_no_libtorch() {
    let engine = Path::new(WORKER).with_file_name("pneumo-pipeline");
    if !engine.exists() {
        return; // built by `cargo test --workspace`; this crate's tests alone do not build it
    }
    let needed = needed(engine.to_str().unwrap());
    assert!(
        !needed
            .iter()
            .any(|n| n.contains("torch") || n.contains("c10")),
        "{needed:?}"
    );
}

#[test]
fn asking_for_cuda_reaches_the_cuda_backend() {
    let out = Command::new(WORKER)
        .args(["runtime", "--device", "cuda"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // the runtime description comes first either way
    let rt: serde_json::Value = serde_json::from_str(&stdout).expect("runtime JSON on stdout");
    assert_eq!(rt["device"], "cuda");
    // "without ATen_cuda library" means the backend was never loaded: the bug this guards
    assert!(!stderr.contains("ATen_cuda"), "{stderr}");
    if !libtorch_has_cuda() {
        assert!(!out.status.success());
        return;
    }
    if out.status.success() {
        // a GPU machine: the tensor was made and summed there
        assert!(rt["cuda"].as_str().unwrap().contains("cuDNN"), "{rt}");
    } else {
        // no GPU here: libtorch's CUDA backend itself says there is no driver or device
        let lower = stderr.to_lowercase();
        assert!(
            lower.contains("driver") || lower.contains("no cuda gpus") || lower.contains("device"),
            "{stderr}"
        );
    }
}
