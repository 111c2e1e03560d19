//! Link-time settings for every binary, test and bench of this crate:
//! - libtorch's folder as the run-time library path, so they run without LD_LIBRARY_PATH;
//! - libtorch's CUDA backend, when that libtorch has one. The linker's default
//!   `--as-needed` drops `libtorch_cuda.so` (nothing here calls it by name), and libtorch
//!   registers its CUDA backend only when that library is loaded, so `device: cuda` would
//!   find no GPU (tch-rs#980, #907). Linking it with `--no-as-needed`, as tch's own
//!   build.rs does for its tests, keeps it in the binary's dynamic section.
//!
//! The folder is the one torch-sys linked against (`DEP_TCH_LIBTORCH_LIB`, from its
//! `links = "tch"`), so any way of pointing tch at libtorch works here too.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib = std::env::var_os("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("LIBTORCH").map(|l| PathBuf::from(l).join("lib")));
    let Some(lib) = lib else { return };
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // for tests: which libtorch this build used
    println!("cargo:rustc-env=PNEUMO_LIBTORCH_LIB={}", lib.display());
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
