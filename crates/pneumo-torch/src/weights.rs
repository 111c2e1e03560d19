//! Copies a torchvision-format state_dict (`.pth` or safetensors) into a VarStore by name.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use tch::{Kind, Tensor, nn::VarStore};

use pneumo_core::model::pth;

/// What a load did, for the user.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub copied: usize,
    /// Parameters kept at their fresh initialisation because the file's shape differs
    /// (the 1000-class ImageNet head, `fc` or `classifier`, under a 1-logit head).
    pub kept_fresh: Vec<String>,
}

/// Loads `path` into `vs`. Every VarStore variable must be in the file, except a head whose
/// shape differs (replaced by the fresh one) ; extra entries (`num_batches_tracked`) are ignored.
/// DenseNet's old spelling (torchvision's published `densenet121-a639ec97.pth`:
/// `denselayer1.norm.1.weight`) is read as today's (`denselayer1.norm1.weight`).
pub fn load(vs: &mut VarStore, path: &Path) -> anyhow::Result<Loaded> {
    let tensors: BTreeMap<String, pth::Tensor> = read_any(path)?
        .into_iter()
        .map(|(name, t)| (modern_name(&name), t))
        .collect();
    let mut loaded = Loaded::default();
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let Some(t) = tensors.get(name.as_str()) else {
            bail!(
                "{}: no `{name}` in the checkpoint (is it a torchvision state_dict of the network `arch` names, {} tensors?)",
                path.display(),
                vars.len()
            );
        };
        let want: Vec<i64> = var.size();
        let have: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        if want != have {
            if name.starts_with("fc.") || name.starts_with("classifier.") {
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

/// `features.denseblock1.denselayer1.norm.1.weight` -> `...denselayer1.norm1.weight`: the
/// rename torchvision's `_load_state_dict` does with a regular expression (`norm`, `relu` or
/// `conv`, then `1` or `2`, right after a `denselayerN`); every other name as it is.
fn modern_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    let mut i = 0;
    while i < parts.len() {
        let after_layer = i > 0 && parts[i - 1].starts_with("denselayer");
        if after_layer
            && matches!(parts[i], "norm" | "relu" | "conv")
            && matches!(parts.get(i + 1), Some(&"1" | &"2"))
            && i + 2 < parts.len()
        {
            out.push(format!("{}{}", parts[i], parts[i + 1]));
            i += 2;
        } else {
            out.push(parts[i].to_string());
            i += 1;
        }
    }
    out.join(".")
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

#[cfg(test)]
mod tests {
    use super::modern_name;

    #[test]
    fn densenet_names_are_read_in_todays_spelling() {
        for (old, new) in [
            (
                "features.denseblock1.denselayer1.norm.1.weight",
                "features.denseblock1.denselayer1.norm1.weight",
            ),
            (
                "features.denseblock4.denselayer16.conv.2.weight",
                "features.denseblock4.denselayer16.conv2.weight",
            ),
            (
                "features.denseblock1.denselayer1.norm1.weight",
                "features.denseblock1.denselayer1.norm1.weight",
            ),
            (
                "features.transition1.norm.weight",
                "features.transition1.norm.weight",
            ),
            (
                "layer1.0.downsample.1.running_var",
                "layer1.0.downsample.1.running_var",
            ),
            ("features.norm5.bias", "features.norm5.bias"),
        ] {
            assert_eq!(modern_name(old), new);
        }
    }
}
