//! `runtime.json`: what a stage's figures depend on besides its inputs. Floating-point
//! results of libtorch differ between machines (oneDNN, MKL and ATen pick kernels by CPU,
//! and reductions split by thread count), so a stage that runs the network describes where
//! it ran; the engine copies it into `pipeline.lock` and the report prints it. A reader
//! comparing two runs then sees why their digits differ.

use fs_err as fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file a stage may write into its output folder.
pub const RUNTIME_FILE: &str = "runtime.json";

/// CPU flags that change which kernels libtorch runs (and so the last digits).
const FLAGS: &[&str] = &[
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "neon",
    "asimd",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// The file's format ([`FORMAT`]); absent in files written before it had one (1).
    #[serde(default = "crate::format_one")]
    pub format: u32,
    /// The device the network ran on (`cpu`, `cuda`).
    pub device: String,
    /// The CPU model (`/proc/cpuinfo`), `unknown` where it cannot be read.
    pub cpu: String,
    /// The CPU's kernel-relevant flags, from [`FLAGS`].
    pub cpu_flags: Vec<String>,
    /// The kernel family ATen dispatches to on this CPU (`AVX512`, `AVX2`, `DEFAULT`, ...).
    pub cpu_kernels: String,
    /// libtorch's version (its build settings' `TORCH_VERSION`).
    pub libtorch: String,
    /// libtorch's intra-op threads.
    pub threads: i64,
    /// The GPU's CUDA runtime and cuDNN versions, when the device is CUDA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    /// The precision training or scoring ran in (`fp32`, `bf16`): what `precision: auto`
    /// resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
}

/// runtime.json. 2: `format`; 1: without it.
pub const FORMAT: u32 = 2;

crate::versioned!(Runtime, "runtime description", FORMAT);

/// Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16), from its flags.
pub fn cpu_has_native_bf16(flags: &[String]) -> bool {
    flags.iter().any(|f| f == "amx_bf16" || f == "avx512_bf16")
}

impl Runtime {
    /// The CPU model and flags of this machine (the libtorch fields are the caller's).
    pub fn cpu_of_this_machine() -> (String, Vec<String>) {
        let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        cpu_from_cpuinfo(&info)
    }

    /// `dir`'s runtime.json; `None` where the stage wrote none (it runs no network). A
    /// damaged or newer file is an error naming it.
    pub fn read(dir: &Path) -> anyhow::Result<Option<Runtime>> {
        let path = dir.join(RUNTIME_FILE);
        if !path.exists() {
            return Ok(None);
        }
        crate::load(&path).map(Some)
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        crate::save(&dir.join(RUNTIME_FILE), self)
    }

    /// One line for people: `Intel Xeon (avx512f, amx_bf16); libtorch 2.11.0, AVX512
    /// kernels, 2 threads, cpu`.
    pub fn describe(&self) -> String {
        let flags = if self.cpu_flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.cpu_flags.join(", "))
        };
        let cuda = self
            .cuda
            .as_deref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default();
        let precision = self
            .precision
            .as_deref()
            .map(|p| format!(", {p}"))
            .unwrap_or_default();
        format!(
            "{}{flags}; libtorch {}, {} kernels, {} threads, device {}{cuda}{precision}",
            self.cpu, self.libtorch, self.cpu_kernels, self.threads, self.device
        )
    }
}

/// The first `model name` (x86) or `CPU part`/`Hardware` line, and the known flags.
fn cpu_from_cpuinfo(info: &str) -> (String, Vec<String>) {
    let field = |names: &[&str]| {
        info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            names
                .contains(&k.trim())
                .then(|| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
    };
    let model = field(&["model name", "Hardware", "CPU part"]).unwrap_or_else(|| "unknown".into());
    let flags = field(&["flags", "Features"]).unwrap_or_default();
    let have: Vec<&str> = flags.split(' ').collect();
    let flags = FLAGS
        .iter()
        .filter(|f| have.contains(f))
        .map(|f| f.to_string())
        .collect();
    (model, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_and_known_flags() {
        let info = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)   Processor\n\
                    flags\t\t: fpu sse avx2 fma avx512f amx_bf16 amx_tile\n\
                    processor\t: 1\nmodel name\t: ignored\n";
        let (model, flags) = cpu_from_cpuinfo(info);
        assert_eq!(model, "Intel(R) Xeon(R) Processor");
        assert_eq!(flags, ["avx2", "fma", "avx512f", "amx_tile", "amx_bf16"]);
        assert_eq!(cpu_from_cpuinfo("").0, "unknown");
    }

    #[test]
    fn round_trips_and_describes() {
        let dir = tempfile::tempdir().unwrap();
        let r = Runtime {
            format: FORMAT,
            device: "cpu".into(),
            cpu: "AMD EPYC".into(),
            cpu_flags: vec!["avx2".into()],
            cpu_kernels: "AVX2".into(),
            libtorch: "2.11.0".into(),
            threads: 2,
            cuda: None,
            precision: Some("fp32".into()),
        };
        r.write(dir.path()).unwrap();
        assert_eq!(Runtime::read(dir.path()).unwrap(), Some(r.clone()));
        assert_eq!(Runtime::read(&dir.path().join("absent")).unwrap(), None);
        assert_eq!(
            r.describe(),
            "AMD EPYC (avx2); libtorch 2.11.0, AVX2 kernels, 2 threads, device cpu, fp32"
        );
        assert!(!cpu_has_native_bf16(&r.cpu_flags));
        assert!(cpu_has_native_bf16(&["avx2".into(), "amx_bf16".into()]));
    }
}
