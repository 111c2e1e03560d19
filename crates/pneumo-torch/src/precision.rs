//! bf16 autocast. tch's `autocast` switches CUDA autocast on at libtorch's default dtype,
//! float16, and never on the CPU; mixed precision as the issue asks for (and as PyTorch users
//! write `torch.autocast(device, dtype=torch.bfloat16)`) needs the dtype too. libtorch exports
//! `at::autocast::{set_autocast_enabled, set_autocast_dtype, ...}` as plain C++ functions
//! taking `c10::DeviceType` and `c10::ScalarType` (both `enum class : int8_t`), so they are
//! called here by their Itanium-mangled names, with no C++ shim to compile. The symbols are
//! checked at link time: a libtorch without them fails the build, not a run.

use std::os::raw::c_int;

use tch::Device;

mod ffi {
    use std::os::raw::c_int;

    // SAFETY (for every call): plain functions of libtorch_cpu, which tch already links; they
    // only read or write autocast's thread-local state and do not throw for CPU or CUDA.
    unsafe extern "C" {
        #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
        pub fn is_autocast_enabled(device: i8) -> bool;
        #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
        pub fn set_autocast_enabled(device: i8, enabled: bool);
        #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
        pub fn get_autocast_dtype(device: i8) -> i8;
        #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
        pub fn set_autocast_dtype(device: i8, dtype: i8);
        #[link_name = "_ZN2at8autocast17increment_nestingEv"]
        pub fn increment_nesting() -> c_int;
        #[link_name = "_ZN2at8autocast17decrement_nestingEv"]
        pub fn decrement_nesting() -> c_int;
        #[link_name = "_ZN2at8autocast11clear_cacheEv"]
        pub fn clear_cache();
    }
}

/// Overrides the native-bf16 detection (`1` or `0`), for tests and for a CPU whose flags
/// say less than it can do.
pub const NATIVE_BF16_ENV: &str = "PNEUMO_NATIVE_BF16";

/// Whether `device` runs bfloat16 natively: CUDA (every GPU this project targets, Ampere
/// and later; on an older one write `precision: fp32`), or a CPU with AMX or AVX512-BF16
/// (where oneDNN has bf16 kernels; elsewhere bf16 is emulated and slower than fp32).
pub fn native_bf16(device: Device) -> bool {
    match std::env::var(NATIVE_BF16_ENV).as_deref() {
        Ok("1") => return true,
        Ok("0") => return false,
        _ => {}
    }
    if device.is_cuda() {
        return true;
    }
    let (_, flags) = pneumo_contract::runtime::Runtime::cpu_of_this_machine();
    pneumo_contract::runtime::cpu_has_native_bf16(&flags)
}

/// Whether training autocasts to bf16 for `precision` on `device`.
pub fn resolve(precision: pneumo_contract::choices::Precision, device: Device) -> bool {
    use pneumo_contract::choices::Precision;
    match precision {
        Precision::Fp32 => false,
        Precision::Bf16 => true,
        Precision::Auto => native_bf16(device),
    }
}

/// c10::DeviceType.
const CPU: i8 = 0;
const CUDA: i8 = 1;
/// c10::ScalarType::BFloat16.
const BFLOAT16: i8 = 15;

/// Runs `f` with bf16 autocast on `device` when `enabled` (eligible ops such as convolutions
/// and matmuls compute in bfloat16, the rest in float32), restoring the previous state after.
pub fn autocast_bf16<T>(device: Device, enabled: bool, f: impl FnOnce() -> T) -> T {
    if !enabled {
        return f();
    }
    let dev = if device.is_cuda() { CUDA } else { CPU };
    // SAFETY: see `ffi`.
    let (was_enabled, was_dtype) =
        unsafe { (ffi::is_autocast_enabled(dev), ffi::get_autocast_dtype(dev)) };
    unsafe {
        ffi::set_autocast_dtype(dev, BFLOAT16);
        ffi::set_autocast_enabled(dev, true);
        ffi::increment_nesting();
    }
    let out = f();
    unsafe {
        let depth: c_int = ffi::decrement_nesting();
        if depth == 0 {
            ffi::clear_cache();
        }
        ffi::set_autocast_enabled(dev, was_enabled);
        ffi::set_autocast_dtype(dev, was_dtype);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resnet::ResNet;
    use tch::nn::{ModuleT, VarStore};
    use tch::{Kind, Tensor};

    #[test]
    fn bf16_autocast_computes_convolutions_in_bf16_and_trains() {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let net = ResNet::resnet18(&vs.root(), 1);
        let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let logits = autocast_bf16(Device::Cpu, true, || net.forward_t(&x, true));
        assert_eq!(logits.kind(), Kind::BFloat16);
        let y = Tensor::from_slice(&[1.0f32, 0.0]).view([2, 1]);
        let loss = logits
            .to_kind(Kind::Float)
            .binary_cross_entropy_with_logits::<Tensor>(&y, None, None, tch::Reduction::Mean);
        loss.backward();
        assert!(loss.double_value(&[]).is_finite());
        let g = vs.variables()["conv1.weight"].grad();
        assert_eq!(
            g.kind(),
            Kind::Float,
            "master weights and their grads stay fp32"
        );
        // off again afterwards, and `enabled: false` is plain fp32
        assert_eq!(net.forward_t(&x, false).kind(), Kind::Float);
        let plain = autocast_bf16(Device::Cpu, false, || net.forward_t(&x, false));
        assert_eq!(plain.kind(), Kind::Float);
    }
}
