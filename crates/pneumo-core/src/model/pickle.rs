//! The pickle inside a `.pth` (`data.pkl`): a small interpreter for the opcodes `torch.save`
//! emits (protocol 2) that may call only `collections.OrderedDict` and
//! `torch._utils._rebuild_tensor_v2`; anything else is an error naming the opcode or the
//! callable, never code execution. It yields tensor references; `pth.rs` reads their bytes.

use std::collections::BTreeMap;

use anyhow::{Context, bail};

use super::pth::DType;

/// Where a tensor's values live.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: String,
    pub dtype: DType,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
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
pub fn parse_state_dict(pkl: &[u8]) -> anyhow::Result<Vec<(String, TensorRef)>> {
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
