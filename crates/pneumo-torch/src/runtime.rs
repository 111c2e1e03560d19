//! What this process's libtorch is and which kernels it picks here: the `runtime.json` a
//! network stage writes beside its outputs ([`pneumo_contract::runtime`]).
//!
//! libtorch reports its version and ATen's CPU dispatch level only as `std::string`s
//! (`at::show_config()`, `at::get_cpu_capability()`, what `torch.__config__.show()` and
//! `torch.backends.cpu.get_cpu_capability()` print). They are called by their mangled names,
//! as in `precision.rs`; the `B5cxx11` tag in the names means a libtorch built with another
//! string ABI fails the link, not a run.

use std::os::raw::c_void;

use pneumo_contract::runtime::Runtime;
use tch::Device;

/// libstdc++'s `std::__cxx11::basic_string<char>`: data pointer, length, then either the
/// short-string buffer or the capacity.
#[repr(C)]
struct CxxString {
    ptr: *const u8,
    len: usize,
    local: [u8; 16],
}

mod ffi {
    use super::CxxString;
    use std::os::raw::c_void;

    // SAFETY (for every call): plain functions of libtorch_cpu, which tch links; they build
    // a string from static build information and do not throw.
    unsafe extern "C" {
        #[link_name = "_ZN2at11show_configB5cxx11Ev"]
        pub fn show_config() -> CxxString;
        #[link_name = "_ZN2at18get_cpu_capabilityB5cxx11Ev"]
        pub fn get_cpu_capability() -> CxxString;
        /// `operator delete(void*)`, which `std::allocator<char>` frees with.
        #[link_name = "_ZdlPv"]
        pub fn operator_delete(p: *mut c_void);
    }
}

/// Copies a returned string and frees its heap buffer. A short string (under 16 bytes)
/// lives in the struct itself, which may have moved since the call, so it is read from
/// `local`, never through `ptr`.
fn take(s: CxxString) -> String {
    if s.len < s.local.len() {
        return String::from_utf8_lossy(&s.local[..s.len]).into_owned();
    }
    // SAFETY: a long string's `ptr` owns `len` initialised bytes allocated by operator new.
    let text = unsafe { std::slice::from_raw_parts(s.ptr, s.len) };
    let out = String::from_utf8_lossy(text).into_owned();
    unsafe { ffi::operator_delete(s.ptr as *mut c_void) };
    out
}

/// libtorch's version from its build settings (`TORCH_VERSION=2.11.0`).
pub fn libtorch_version() -> String {
    // SAFETY: see `ffi`.
    let config = take(unsafe { ffi::show_config() });
    config
        .split([',', ' ', '\n'])
        .find_map(|w| w.trim().strip_prefix("TORCH_VERSION="))
        .unwrap_or("unknown")
        .to_string()
}

/// The kernel family ATen dispatches to on this CPU (honours `ATEN_CPU_CAPABILITY`).
pub fn cpu_kernels() -> String {
    // SAFETY: see `ffi`.
    take(unsafe { ffi::get_cpu_capability() })
}

/// This process's runtime on `device`.
pub fn current(device: Device) -> Runtime {
    let (cpu, cpu_flags) = Runtime::cpu_of_this_machine();
    let cuda = device.is_cuda().then(|| {
        format!(
            "CUDA runtime {}, cuDNN {}",
            tch::utils::version_cudart(),
            tch::utils::version_cudnn()
        )
    });
    Runtime {
        format: pneumo_contract::runtime::FORMAT,
        device: if device.is_cuda() { "cuda" } else { "cpu" }.into(),
        cpu,
        cpu_flags,
        cpu_kernels: cpu_kernels(),
        libtorch: libtorch_version(),
        threads: tch::utils::get_num_threads().into(),
        cuda,
        precision: None,
    }
}

/// Puts a small tensor on `device` and computes with it: libtorch's own error when that
/// fails (no driver, no device, or a libtorch without the backend).
/// Only the first line of libtorch's message: the C++ backtrace after it helps nobody here.
pub fn check_device(device: Device) -> anyhow::Result<()> {
    let first_line = |e: tch::TchError| {
        let text = e.to_string();
        anyhow::anyhow!("{}", text.lines().next().unwrap_or_default())
    };
    let t = tch::Tensor::f_ones([4], (tch::Kind::Float, device)).map_err(first_line)?;
    let sum = t
        .f_sum(tch::Kind::Float)
        .and_then(|s| s.f_double_value(&[]))
        .map_err(first_line)?;
    anyhow::ensure!(sum == 4.0, "a sum on {device:?} gave {sum}, not 4");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_linked_libtorch_and_its_kernels() {
        // scripts/setup.sh installs torch 2.11.0; tch 0.24 is built for it
        assert_eq!(libtorch_version(), "2.11.0");
        let kernels = cpu_kernels();
        assert!(
            [
                "DEFAULT", "AVX2", "AVX512", "ZVECTOR", "NEON", "SVE256", "VSX"
            ]
            .iter()
            .any(|k| kernels.starts_with(k)),
            "{kernels}"
        );
        let r = current(Device::Cpu);
        assert_eq!(r.device, "cpu");
        assert!(r.threads >= 1);
        assert!(r.cuda.is_none());
    }
}
