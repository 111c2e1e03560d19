//! Reads a `torch.save(model.state_dict())` file (torchvision's `.pth` format) without
//! Python: a zip holding `data.pkl` (a pickle of name -> tensor references) and one raw
//! little-endian storage file per tensor under `data/`.
//!
//! The pickle reader knows the opcodes `torch.save` emits (protocol 2) and the two callables
//! a state_dict uses (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`); anything
//! else is an error naming the opcode, never code execution.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

use super::pickle::parse_state_dict;

/// Element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    U8,
}

impl DType {
    pub(crate) fn from_storage(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ByteStorage" => DType::U8,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::U8 => 1,
        }
    }
}

/// One tensor of a state_dict: contiguous little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Tensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values as f32 (integers and half floats converted).
    pub fn to_f32(&self) -> Vec<f32> {
        let b = &self.bytes;
        match self.dtype {
            DType::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            DType::I64 => b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            DType::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            DType::BF16 => b
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect(),
            DType::F16 => b
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DType::U8 => b.iter().map(|&v| v as f32).collect(),
        }
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // subnormal: normalise
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Reads every tensor of a `.pth` state_dict, by parameter name.
pub fn read(path: &Path) -> anyhow::Result<BTreeMap<String, Tensor>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file).with_context(|| {
        format!(
            "{} is not a zip-format PyTorch checkpoint (save it with torch.save in PyTorch >= 1.6)",
            path.display()
        )
    })?;
    let pkl_name = zip
        .file_names()
        .map(str::to_string)
        .find(|n| n.ends_with("/data.pkl") || n == "data.pkl")
        .with_context(|| format!("{}: no data.pkl inside", path.display()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)?.read_to_end(&mut pkl)?;
    let refs =
        parse_state_dict(&pkl).with_context(|| format!("{}: reading data.pkl", path.display()))?;
    let mut out = BTreeMap::new();
    for (name, r) in refs {
        let entry = format!("{prefix}data/{}", r.storage);
        let mut storage = Vec::new();
        zip.by_name(&entry)
            .with_context(|| format!("{}: missing storage {entry} for {name}", path.display()))?
            .read_to_end(&mut storage)?;
        // every size read from the file is checked: a hostile offset or shape is an error,
        // never an overflow
        let too_big = || {
            anyhow::anyhow!(
                "{}: tensor {name} has an impossible shape or offset",
                path.display()
            )
        };
        let numel = r
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(too_big)?;
        let contiguous = contiguous_strides(&r.shape);
        if numel > 0 && r.stride != contiguous {
            bail!(
                "{}: tensor {name} is not contiguous (stride {:?})",
                path.display(),
                r.stride
            );
        }
        let size = r.dtype.size();
        let start = r.offset.checked_mul(size).ok_or_else(too_big)?;
        let end = numel
            .checked_mul(size)
            .and_then(|n| start.checked_add(n))
            .ok_or_else(too_big)?;
        if end > storage.len() {
            bail!("{}: storage of {name} is too short", path.display());
        }
        out.insert(
            name,
            Tensor {
                dtype: r.dtype,
                shape: r.shape,
                bytes: storage[start..end].to_vec(),
            },
        );
    }
    Ok(out)
}

fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1usize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i]);
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_convert() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    }

    /// Hostile sizes (made by tests/fixtures/hostile's generator, see its README) are
    /// errors naming the file, not overflows or aborts.
    #[test]
    fn hostile_offsets_and_shapes_are_errors() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hostile");
        for (file, says) in [
            ("offset-overflow.pth", "impossible shape or offset"),
            ("shape-overflow.pth", "impossible shape or offset"),
            ("too-short.pth", "storage of fc.weight is too short"),
        ] {
            let err = format!("{:#}", read(&dir.join(file)).unwrap_err());
            assert!(err.contains(file) && err.contains(says), "{file}: {err}");
        }
    }

    #[test]
    fn arbitrary_callables_are_refused() {
        // cos\nsystem\n(S'true'\ntR. in protocol 2 opcodes we support: GLOBAL, MARK, X, TUPLE, REDUCE
        let mut pkl = b"\x80\x02cos\nsystem\n(X\x04\x00\x00\x00truetR.".to_vec();
        let err = parse_state_dict(&pkl).unwrap_err().to_string();
        assert!(err.contains("refusing to call os.system"), "{err}");
        pkl.clear();
    }
}
