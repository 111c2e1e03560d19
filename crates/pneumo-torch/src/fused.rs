//! The fused optimizer kernels PyTorch's `torch.optim.AdamW(fused=True)` and
//! `SGD(fused=True)` run: `at::_fused_adamw_` and `at::_fused_sgd_`, one pass over each
//! parameter's memory instead of several small ops per tensor. tch generates no bindings
//! for ops taking tensor lists in place, so they are called like `precision.rs` calls
//! autocast: by their Itanium-mangled names in libtorch_cpu (a libtorch without them fails
//! the link, not a run). The state stays ours, held by name, so checkpoints are unchanged.

use std::os::raw::c_void;

use tch::Tensor;

/// `c10::ArrayRef<at::Tensor>`: a pointer to contiguous `at::Tensor`s (each one
/// `intrusive_ptr<TensorImpl>`, a single pointer) and a length; passed by value.
#[repr(C)]
struct TensorList {
    data: *const *mut c_void,
    len: usize,
}

/// A disengaged `std::optional<at::Tensor>` (libstdc++: the payload, then `_M_engaged`).
#[repr(C)]
struct NoTensor {
    payload: *mut c_void,
    engaged: bool,
}

mod ffi {
    use super::{NoTensor, TensorList};

    // SAFETY (for every call): the ATen operators' C++ entry points, which tch already links.
    // Callers pass lists of live tensors of one dtype and device with equal shapes and
    // strides per parameter (checked by `usable` first), so the kernels' checks do not throw.
    unsafe extern "C" {
        #[link_name = "_ZN2at4_ops13_fused_adamw_4callEN3c108ArrayRefINS_6TensorEEES5_S5_S5_S5_S5_dddddbbRKSt8optionalIS4_ES9_"]
        pub fn fused_adamw(
            params: TensorList,
            grads: TensorList,
            exp_avgs: TensorList,
            exp_avg_sqs: TensorList,
            max_exp_avg_sqs: TensorList,
            state_steps: TensorList,
            lr: f64,
            beta1: f64,
            beta2: f64,
            weight_decay: f64,
            eps: f64,
            amsgrad: bool,
            maximize: bool,
            grad_scale: *const NoTensor,
            found_inf: *const NoTensor,
        );
        #[link_name = "_ZN2at4_ops11_fused_sgd_4callEN3c108ArrayRefINS_6TensorEEES5_S5_ddddbbbRKSt8optionalIS4_ES9_"]
        pub fn fused_sgd(
            params: TensorList,
            grads: TensorList,
            momentum_buffers: TensorList,
            weight_decay: f64,
            momentum: f64,
            lr: f64,
            dampening: f64,
            nesterov: bool,
            maximize: bool,
            is_first_step: bool,
            grad_scale: *const NoTensor,
            found_inf: *const NoTensor,
        );
    }
}

/// The `at::Tensor` handles of some tch tensors, borrowed for one call.
struct Handles(Vec<*mut c_void>);

impl Handles {
    fn of(tensors: &[&Tensor]) -> Handles {
        // a tch Tensor points at a heap `at::Tensor`, whose one field is the TensorImpl
        // pointer; copying it without touching the refcount is what ArrayRef does too
        Handles(
            tensors
                .iter()
                .map(|t| unsafe { *(t.as_ptr() as *const *mut c_void) })
                .collect(),
        )
    }

    /// Column `i` of `groups` (each group's `i`-th tensor).
    fn column(groups: &[Vec<&Tensor>], i: usize) -> Handles {
        Handles::of(&groups.iter().map(|g| g[i]).collect::<Vec<_>>())
    }

    fn list(&self) -> TensorList {
        TensorList {
            data: self.0.as_ptr(),
            len: self.0.len(),
        }
    }
}

const NONE: NoTensor = NoTensor {
    payload: std::ptr::null_mut(),
    engaged: false,
};

/// Whether the fused kernels can take these tensors: float32, one device, and every
/// parameter's companions laid out exactly like it (the CPU kernels walk raw memory).
pub fn usable(groups: &[Vec<&Tensor>]) -> bool {
    let Some(first) = groups.first().and_then(|g| g.first()) else {
        return false;
    };
    let device = first.device();
    groups.iter().all(|g| {
        let (p, rest) = (g[0], &g[1..]);
        p.kind() == tch::Kind::Float
            && p.device() == device
            && rest.iter().all(|t| {
                t.defined()
                    && t.kind() == tch::Kind::Float
                    && t.device() == device
                    && t.size() == p.size()
                    && t.stride() == p.stride()
            })
    })
}

/// `torch._fused_adamw_` over `(param, grad, exp_avg, exp_avg_sq)` groups at step `step`
/// (the count including this one, as torch.optim passes it); false, and nothing done, where
/// the tensors are not [`usable`].
#[must_use]
#[allow(clippy::too_many_arguments)]
pub fn adamw(
    groups: &[Vec<&Tensor>],
    step: i64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    weight_decay: f64,
    eps: f64,
) -> bool {
    if !usable(groups) {
        return false;
    }
    let column = |i| Handles::column(groups, i);
    let (p, g, m, v) = (column(0), column(1), column(2), column(3));
    let step_t = Tensor::from(step as f32).to_device(groups[0][0].device());
    let steps = Handles::of(&vec![&step_t; groups.len()]);
    let empty = Handles(Vec::new());
    unsafe {
        ffi::fused_adamw(
            p.list(),
            g.list(),
            m.list(),
            v.list(),
            empty.list(),
            steps.list(),
            lr,
            beta1,
            beta2,
            weight_decay,
            eps,
            false,
            false,
            &NONE,
            &NONE,
        );
    }
    true
}

/// `torch._fused_sgd_` over `(param, grad, momentum_buffer)` groups (dampening 0, not
/// Nesterov). A zero buffer gives what a first step gives (`buf = grad`), so no step is
/// marked first. False, and nothing done, where the tensors are not [`usable`].
#[must_use]
pub fn sgd(groups: &[Vec<&Tensor>], lr: f64, momentum: f64, weight_decay: f64) -> bool {
    if !usable(groups) {
        return false;
    }
    let (p, g, b) = (
        Handles::column(groups, 0),
        Handles::column(groups, 1),
        Handles::column(groups, 2),
    );
    unsafe {
        ffi::fused_sgd(
            p.list(),
            g.list(),
            b.list(),
            weight_decay,
            momentum,
            lr,
            0.0,
            false,
            false,
            false,
            &NONE,
            &NONE,
        );
    }
    true
}
