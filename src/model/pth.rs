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
    fn from_storage(name: &str) -> Option<DType> {
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

/// Where a tensor's values live.
#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    storage: String,
    dtype: DType,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum V {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<V>),
    List(Vec<V>),
    Dict(Vec<(V, V)>),
    Global(String, String),
    Persistent(Box<V>),
    Tensor(TensorRef),
    Mark,
}

impl V {
    fn int(&self) -> anyhow::Result<usize> {
        match self {
            V::Int(i) if *i >= 0 => Ok(*i as usize),
            other => bail!("expected a non-negative integer, found {other:?}"),
        }
    }

    fn ints(&self) -> anyhow::Result<Vec<usize>> {
        match self {
            V::Tuple(v) | V::List(v) => v.iter().map(V::int).collect(),
            other => bail!("expected a tuple of integers, found {other:?}"),
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .context("pickle ends early")?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> anyhow::Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn line(&mut self) -> anyhow::Result<String> {
        let rest = &self.b[self.pos..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .context("unterminated line")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
    fn str(&mut self, n: usize) -> anyhow::Result<String> {
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

/// Runs the pickle and returns the state_dict's tensors (non-tensor entries are skipped).
fn parse_state_dict(pkl: &[u8]) -> anyhow::Result<Vec<(String, TensorRef)>> {
    let mut r = Reader { b: pkl, pos: 0 };
    let mut stack: Vec<V> = Vec::new();
    let mut memo: BTreeMap<u32, V> = BTreeMap::new();
    let pop = |stack: &mut Vec<V>| stack.pop().context("pickle stack underflow");
    let pop_mark = |stack: &mut Vec<V>| -> anyhow::Result<Vec<V>> {
        let at = stack
            .iter()
            .rposition(|v| *v == V::Mark)
            .context("no MARK on the pickle stack")?;
        let items = stack.split_off(at + 1);
        stack.pop();
        Ok(items)
    };
    loop {
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?; // PROTO
            }
            0x95 => {
                r.take(8)?; // FRAME
            }
            b'.' => break,
            b'(' => stack.push(V::Mark),
            b'N' => stack.push(V::None),
            0x88 => stack.push(V::Bool(true)),
            0x89 => stack.push(V::Bool(false)),
            b'J' => stack.push(V::Int(r.u32()? as i32 as i64)),
            b'K' => stack.push(V::Int(r.u8()? as i64)),
            b'M' => stack.push(V::Int(r.u16()? as i64)),
            0x8a => {
                let n = r.u8()? as usize;
                let bytes = r.take(n)?;
                let mut v: i64 = 0;
                for (i, &byte) in bytes.iter().enumerate().take(8) {
                    v |= (byte as i64) << (8 * i);
                }
                if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(V::Int(v));
            }
            b'G' => {
                let s = r.take(8)?;
                stack.push(V::Float(f64::from_be_bytes(s.try_into().unwrap_or([0; 8]))));
            }
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(V::Str(r.str(n)?));
            }
            0x8c => {
                let n = r.u8()? as usize;
                stack.push(V::Str(r.str(n)?));
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(V::Global(module, name));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (V::Str(m), V::Str(n)) => stack.push(V::Global(m, n)),
                    _ => bail!("STACK_GLOBAL needs two strings"),
                }
            }
            b')' => stack.push(V::Tuple(Vec::new())),
            b']' => stack.push(V::List(Vec::new())),
            b'}' => stack.push(V::Dict(Vec::new())),
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(V::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let at = stack
                    .len()
                    .checked_sub(n)
                    .context("pickle stack underflow")?;
                let items = stack.split_off(at);
                stack.push(V::Tuple(items));
            }
            b'q' => {
                let k = r.u8()? as u32;
                memo.insert(k, stack.last().cloned().context("BINPUT on empty stack")?);
            }
            b'r' => {
                let k = r.u32()?;
                memo.insert(
                    k,
                    stack
                        .last()
                        .cloned()
                        .context("LONG_BINPUT on empty stack")?,
                );
            }
            0x94 => {
                let k = memo.len() as u32;
                memo.insert(k, stack.last().cloned().context("MEMOIZE on empty stack")?);
            }
            b'h' => {
                let k = r.u8()? as u32;
                stack.push(memo.get(&k).cloned().context("BINGET of an unknown memo")?);
            }
            b'j' => {
                let k = r.u32()?;
                stack.push(
                    memo.get(&k)
                        .cloned()
                        .context("LONG_BINGET of an unknown memo")?,
                );
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(V::Persistent(Box::new(pid)));
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let func = pop(&mut stack)?;
                stack.push(reduce(func, args)?);
            }
            b'b' => {
                pop(&mut stack)?; // BUILD: state (e.g. a state_dict's _metadata) is not needed
            }
            b'a' => {
                let item = pop(&mut stack)?;
                if let Some(V::List(l)) = stack.last_mut() {
                    l.push(item);
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                if let Some(V::List(l)) = stack.last_mut() {
                    l.extend(items);
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                if let Some(V::Dict(d)) = stack.last_mut() {
                    d.push((k, v));
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                if let Some(V::Dict(d)) = stack.last_mut() {
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.push((k, v));
                    }
                }
            }
            other => bail!(
                "unsupported pickle opcode 0x{other:02x} at byte {}",
                r.pos - 1
            ),
        }
    }
    let Some(V::Dict(items)) = stack.pop() else {
        bail!("data.pkl does not hold a dict (is this a state_dict?)");
    };
    Ok(items
        .into_iter()
        .filter_map(|(k, v)| match (k, v) {
            (V::Str(name), V::Tensor(t)) => Some((name, t)),
            _ => None,
        })
        .collect())
}

/// Applies one of the callables a state_dict pickle uses.
fn reduce(func: V, args: V) -> anyhow::Result<V> {
    let V::Global(module, name) = &func else {
        bail!("REDUCE on a non-callable {func:?}");
    };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Ok(V::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let V::Tuple(a) = args else {
                bail!("_rebuild_tensor_v2 without an argument tuple");
            };
            if a.len() < 4 {
                bail!("_rebuild_tensor_v2 with {} arguments", a.len());
            }
            let V::Persistent(pid) = &a[0] else {
                bail!("tensor without a persistent storage id");
            };
            // ('storage', torch.FloatStorage, key, location, numel)
            let V::Tuple(p) = pid.as_ref() else {
                bail!("unexpected storage id {pid:?}");
            };
            let (Some(V::Global(_, storage_type)), Some(V::Str(key))) = (p.get(1), p.get(2)) else {
                bail!("unexpected storage id {p:?}");
            };
            let dtype = DType::from_storage(storage_type)
                .with_context(|| format!("unsupported storage type {storage_type}"))?;
            Ok(V::Tensor(TensorRef {
                storage: key.clone(),
                dtype,
                offset: a[1].int()?,
                shape: a[2].ints()?,
                stride: a[3].ints()?,
            }))
        }
        _ => {
            bail!("refusing to call {module}.{name} from a checkpoint (only state_dicts are read)")
        }
    }
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
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
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
