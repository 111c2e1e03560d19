//! Copies a torchvision-format state_dict (`.pth` or safetensors) into a VarStore by name.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use tch::{Kind, Tensor, nn::VarStore};

use pneumo_pipeline::model::pth;

/// What a load did, for the user.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub copied: usize,
    /// Parameters kept at their fresh initialisation because the file's shape differs
    /// (the 1000-class ImageNet `fc` under a 1-logit head).
    pub kept_fresh: Vec<String>,
}

/// Loads `path` into `vs`. Every VarStore variable must be in the file, except a head whose
/// shape differs (replaced by the fresh one) ; extra entries (`num_batches_tracked`) are ignored.
pub fn load(vs: &mut VarStore, path: &Path) -> anyhow::Result<Loaded> {
    let tensors = read_any(path)?;
    let mut loaded = Loaded::default();
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let Some(t) = tensors.get(name.as_str()) else {
            bail!(
                "{}: no `{name}` in the checkpoint (is it a torchvision ResNet-18 state_dict?)",
                path.display()
            );
        };
        let want: Vec<i64> = var.size();
        let have: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        if want != have {
            if name.starts_with("fc.") {
                loaded.kept_fresh.push(name.clone());
                continue;
            }
            bail!(
                "{}: `{name}` has shape {have:?}, the model wants {want:?}",
                path.display()
            );
        }
        let values = Tensor::from_slice(&t.to_f32())
            .reshape(&want)
            .to_kind(var.kind());
        tch::no_grad(|| {
            let mut v = var.shallow_clone();
            v.copy_(&values.to_device(v.device()));
        });
        loaded.copied += 1;
    }
    Ok(loaded)
}

fn read_any(path: &Path) -> anyhow::Result<BTreeMap<String, pth::Tensor>> {
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
    if !is_safetensors {
        return pth::read(path);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{} is not a safetensors file", path.display()))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => pth::DType::F32,
            safetensors::Dtype::F16 => pth::DType::F16,
            safetensors::Dtype::BF16 => pth::DType::BF16,
            safetensors::Dtype::F64 => pth::DType::F64,
            safetensors::Dtype::I64 => pth::DType::I64,
            other => bail!(
                "{}: `{name}` has unsupported dtype {other:?}",
                path.display()
            ),
        };
        out.insert(
            name,
            pth::Tensor {
                dtype,
                shape: view.shape().to_vec(),
                bytes: view.data().to_vec(),
            },
        );
    }
    Ok(out)
}

/// A float tensor from a safetensors file (fixtures, inputs).
pub fn safetensor(st: &safetensors::SafeTensors<'_>, name: &str) -> anyhow::Result<Tensor> {
    let view = st
        .tensor(name)
        .with_context(|| format!("no tensor `{name}`"))?;
    let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    let t = match view.dtype() {
        safetensors::Dtype::F32 => Tensor::from_data_size(view.data(), &shape, Kind::Float),
        safetensors::Dtype::U8 => Tensor::from_data_size(view.data(), &shape, Kind::Uint8),
        other => bail!("`{name}`: unsupported dtype {other:?}"),
    };
    Ok(t)
}

/// Saves every variable as safetensors under its torchvision name (contiguous NCHW, so
/// PyTorch's `load_state_dict` and [`load`] read it back whatever layout training used).
pub fn save(vs: &VarStore, path: &Path) -> anyhow::Result<()> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.detach().to_device(tch::Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Tensor::write_safetensors(&named, path).with_context(|| format!("writing {}", path.display()))
}
