//! Reading `torch.save` checkpoints without Python: the zip format (torch >= 1.6) and the legacy
//! format before it (five pickles followed by the raw storages). A small pickle machine runs
//! the opcodes state dicts use and rebuilds each tensor from its storage, offset, shape and
//! **strides** (checkpoints converted from TensorFlow store permuted, non-contiguous weights).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// A tensor of the checkpoint: stored dtype name, shape and values as f32 (row-major).
pub(crate) type Loaded = (String, Vec<usize>, Vec<f32>);

/// Magic number of the legacy format's first pickle.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;

#[derive(Clone, Debug)]
enum Obj {
    None,
    /// A bool or float: present in state dicts' metadata, never needed.
    Scalar,
    Int(i128),
    Str(String),
    Tuple(Vec<Obj>),
    List(Vec<Obj>),
    Dict(Vec<(Obj, Obj)>),
    Global(String),
    Storage {
        key: String,
        dtype: String,
    },
    Tensor(TensorRef),
    /// The result of calling something this reader does not model.
    Opaque,
    Mark,
}

#[derive(Clone, Debug)]
struct TensorRef {
    key: String,
    dtype: String,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// How deep pickled containers may nest (state dicts nest a few levels). Bounding it keeps
/// every recursion over an [`Obj`] (clone, drop, [`collect`]) shallow whatever the file holds.
const MAX_DEPTH: u32 = 64;

struct Pickle<'a> {
    data: &'a [u8],
    pos: usize,
    /// Objects with their nesting depth.
    stack: Vec<(Obj, u32)>,
    memo: HashMap<u32, (Obj, u32)>,
    /// Objects the memo may still copy: a pickle can copy a memoized object many times in a few
    /// bytes, doubling its size each time, so copies are bounded by the file's length.
    budget: usize,
}

fn over_budget() -> String {
    String::from("the pickle copies memoized objects past what its size allows")
}

/// Objects in `obj`, itself included.
fn nodes(obj: &Obj) -> usize {
    1 + match obj {
        Obj::Tuple(items) | Obj::List(items) => items.iter().map(nodes).sum(),
        Obj::Dict(items) => items.iter().map(|(k, v)| nodes(k) + nodes(v)).sum(),
        _ => 0,
    }
}

impl<'a> Pickle<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| String::from("truncated pickle"))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> std::result::Result<usize, String> {
        Ok(self.take(1)?[0] as usize)
    }

    fn u32(&mut self) -> std::result::Result<usize, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn line(&mut self) -> std::result::Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| String::from("unterminated GLOBAL"))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn text(&mut self, n: usize) -> std::result::Result<Obj, String> {
        Ok(Obj::Str(
            String::from_utf8_lossy(self.take(n)?).into_owned(),
        ))
    }

    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            stack: Vec::new(),
            memo: HashMap::new(),
            budget: 16 * data.len() + 4096,
        }
    }

    fn push(&mut self, obj: Obj, depth: u32) -> std::result::Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "containers nested more than {MAX_DEPTH} deep at byte {}",
                self.pos
            ));
        }
        self.stack.push((obj, depth));
        Ok(())
    }

    fn pop_with_depth(&mut self) -> std::result::Result<(Obj, u32), String> {
        self.stack
            .pop()
            .ok_or_else(|| String::from("pickle stack underflow"))
    }

    fn pop(&mut self) -> std::result::Result<Obj, String> {
        Ok(self.pop_with_depth()?.0)
    }

    /// The items above the last MARK, and their greatest depth.
    fn pop_mark(&mut self) -> std::result::Result<(Vec<Obj>, u32), String> {
        let at = self
            .stack
            .iter()
            .rposition(|(o, _)| matches!(o, Obj::Mark))
            .ok_or_else(|| String::from("pickle MARK missing"))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        let depth = items.iter().map(|(_, d)| *d).max().unwrap_or(0);
        Ok((items.into_iter().map(|(o, _)| o).collect(), depth))
    }

    /// Adds `items` (of greatest depth `depth`) to the container on top, through `add`.
    fn extend_top(
        &mut self,
        depth: u32,
        add: impl FnOnce(&mut Obj),
    ) -> std::result::Result<(), String> {
        let pos = self.pos;
        let (top, top_depth) = self
            .stack
            .last_mut()
            .ok_or_else(|| String::from("pickle stack underflow"))?;
        *top_depth = (*top_depth).max(depth + 1);
        if *top_depth > MAX_DEPTH {
            return Err(format!(
                "containers nested more than {MAX_DEPTH} deep at byte {pos}"
            ));
        }
        add(top);
        Ok(())
    }

    /// A copy of `obj`, counted against the copy budget.
    fn copy(&mut self, obj: &Obj) -> std::result::Result<Obj, String> {
        self.budget = self
            .budget
            .checked_sub(nodes(obj))
            .ok_or_else(over_budget)?;
        Ok(obj.clone())
    }

    /// Memoizes the top of the stack under `k`.
    fn put(&mut self, k: u32) -> std::result::Result<(), String> {
        let (top, depth) = self
            .stack
            .last()
            .ok_or_else(|| String::from("pickle stack underflow"))?;
        self.budget = self
            .budget
            .checked_sub(nodes(top))
            .ok_or_else(over_budget)?;
        let entry = (top.clone(), *depth);
        self.memo.insert(k, entry);
        Ok(())
    }

    /// Runs one pickle to its STOP; `persistent` maps a persistent id to an object.
    fn run(
        &mut self,
        persistent: &dyn Fn(Obj) -> std::result::Result<Obj, String>,
    ) -> std::result::Result<Obj, String> {
        self.stack.clear();
        self.memo.clear();
        loop {
            let op = self.u8()? as u8;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => return self.pop(),
                b'(' => self.push(Obj::Mark, 0)?,
                b'N' => self.push(Obj::None, 0)?,
                0x88 | 0x89 => self.push(Obj::Scalar, 0)?,
                b'K' => {
                    let v = self.u8()? as i128;
                    self.push(Obj::Int(v), 0)?;
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.push(Obj::Int(u16::from_le_bytes([b[0], b[1]]) as i128), 0)?;
                }
                b'J' => {
                    let b = self.take(4)?;
                    self.push(
                        Obj::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i128),
                        0,
                    )?;
                }
                0x8a => {
                    let n = self.u8()?;
                    let b = self.take(n)?;
                    if n > 16 {
                        return Err(String::from("integer too long"));
                    }
                    let mut v: i128 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= (x as i128) << (8 * i);
                    }
                    if n > 0 && b[n - 1] & 0x80 != 0 && n < 16 {
                        v -= 1i128 << (8 * n);
                    }
                    self.push(Obj::Int(v), 0)?;
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Obj::Scalar, 0)?;
                }
                b'X' => {
                    let n = self.u32()?;
                    let s = self.text(n)?;
                    self.push(s, 0)?;
                }
                0x8c | b'U' => {
                    let n = self.u8()?;
                    let s = self.text(n)?;
                    self.push(s, 0)?;
                }
                b'T' => {
                    let n = self.u32()?;
                    let s = self.text(n)?;
                    self.push(s, 0)?;
                }
                b'}' => self.push(Obj::Dict(Vec::new()), 1)?,
                b']' => self.push(Obj::List(Vec::new()), 1)?,
                b')' => self.push(Obj::Tuple(Vec::new()), 1)?,
                b't' => {
                    let (items, depth) = self.pop_mark()?;
                    self.push(Obj::Tuple(items), depth + 1)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(String::from("pickle stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let depth = items.iter().map(|(_, d)| *d).max().unwrap_or(0);
                    let items = items.into_iter().map(|(o, _)| o).collect();
                    self.push(Obj::Tuple(items), depth + 1)?;
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    self.put(k)?;
                }
                b'r' => {
                    let k = self.u32()? as u32;
                    self.put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.put(k)?;
                }
                b'h' | b'j' => {
                    let k = if op == b'h' { self.u8()? } else { self.u32()? } as u32;
                    let (v, depth) = self
                        .memo
                        .get(&k)
                        .cloned()
                        .ok_or_else(|| format!("memo {k} missing"))?;
                    let v = self.copy(&v)?;
                    self.push(v, depth)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Obj::Global(format!("{module}.{name}")), 0)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Obj::Str(m), Obj::Str(n)) => {
                            self.push(Obj::Global(format!("{m}.{n}")), 0)?
                        }
                        _ => return Err(String::from("STACK_GLOBAL without names")),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let obj = persistent(pid)?;
                    self.push(obj, 1)?;
                }
                b'R' => {
                    let (args, da) = self.pop_with_depth()?;
                    let (func, df) = self.pop_with_depth()?;
                    let out = call(func, args)?;
                    self.push(out, da.max(df) + 1)?;
                }
                0x81 => {
                    self.pop()?;
                    self.pop()?;
                    self.push(Obj::Opaque, 0)?;
                }
                b'b' => {
                    self.pop()?; // BUILD state (e.g. an OrderedDict's _metadata): not needed
                }
                b's' => {
                    let (v, dv) = self.pop_with_depth()?;
                    let (k, dk) = self.pop_with_depth()?;
                    self.extend_top(dv.max(dk), |top| {
                        if let Obj::Dict(d) = top {
                            d.push((k, v));
                        }
                    })?;
                }
                b'u' => {
                    let (items, depth) = self.pop_mark()?;
                    self.extend_top(depth, |top| {
                        if let Obj::Dict(d) = top {
                            let mut it = items.into_iter();
                            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                                d.push((k, v));
                            }
                        }
                    })?;
                }
                b'a' => {
                    let (v, dv) = self.pop_with_depth()?;
                    self.extend_top(dv, |top| {
                        if let Obj::List(l) = top {
                            l.push(v);
                        }
                    })?;
                }
                b'e' => {
                    let (items, depth) = self.pop_mark()?;
                    self.extend_top(depth, |top| {
                        if let Obj::List(l) = top {
                            l.extend(items);
                        }
                    })?;
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} at byte {}",
                        self.pos - 1
                    ))
                }
            }
        }
    }
}

fn usizes(obj: &Obj, what: &str) -> std::result::Result<Vec<usize>, String> {
    match obj {
        Obj::Tuple(items) | Obj::List(items) => items
            .iter()
            .map(|o| match o {
                Obj::Int(v) if *v >= 0 && *v <= usize::MAX as i128 => Ok(*v as usize),
                _ => Err(format!("{what} is not a tuple of sizes")),
            })
            .collect(),
        _ => Err(format!("{what} is not a tuple")),
    }
}

fn call(func: Obj, args: Obj) -> std::result::Result<Obj, String> {
    let Obj::Global(name) = func else {
        return Ok(Obj::Opaque);
    };
    let args = match args {
        Obj::Tuple(a) => a,
        other => vec![other],
    };
    match name.as_str() {
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let [Obj::Storage { key, dtype }, Obj::Int(offset), shape, stride, ..] = &args[..]
            else {
                return Err(format!("{name} with unexpected arguments"));
            };
            Ok(Obj::Tensor(TensorRef {
                key: key.clone(),
                dtype: dtype.clone(),
                offset: *offset as usize,
                shape: usizes(shape, "tensor size")?,
                stride: usizes(stride, "tensor stride")?,
            }))
        }
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
            Ok(args.into_iter().next().unwrap_or(Obj::None))
        }
        "torch._tensor._rebuild_from_type_v2" => {
            let mut it = args.into_iter();
            match (it.next(), it.next(), it.next()) {
                (Some(f), _, Some(inner)) => call(f, inner),
                _ => Err(String::from(
                    "_rebuild_from_type_v2 with unexpected arguments",
                )),
            }
        }
        "collections.OrderedDict" | "builtins.dict" => Ok(Obj::Dict(Vec::new())),
        _ => Ok(Obj::Opaque),
    }
}

/// `('storage', torch.FloatStorage, key, location, numel[, view])` -> a storage reference.
fn storage_pid(pid: Obj) -> std::result::Result<Obj, String> {
    let Obj::Tuple(items) = pid else {
        return Err(String::from("persistent id is not a tuple"));
    };
    match &items[..] {
        [Obj::Str(tag), Obj::Global(class), Obj::Str(key), ..] if tag == "storage" => {
            let dtype = class
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .trim_end_matches("Storage")
                .to_string();
            Ok(Obj::Storage {
                key: key.clone(),
                dtype,
            })
        }
        _ => Err(format!("unsupported persistent id {items:?}")),
    }
}

/// Converts one stored element's bytes to f32.
type ToF32 = fn(&[u8]) -> f32;

/// Bytes per element and the conversion of one element to f32.
fn element(dtype: &str) -> Option<(usize, ToF32)> {
    Some(match dtype {
        "Float" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "Double" => (8, |b| f64::from_le_bytes(b.try_into().expect("8")) as f32),
        "Half" => (2, |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
        "BFloat16" => (2, |b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        "Long" => (8, |b| i64::from_le_bytes(b.try_into().expect("8")) as f32),
        "Int" => (4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
        "Short" => (2, |b| i16::from_le_bytes([b[0], b[1]]) as f32),
        "Char" => (1, |b| b[0] as i8 as f32),
        "Byte" | "Bool" => (1, |b| b[0] as f32),
        _ => return None,
    })
}

/// A storage type's element type in safetensors' spelling (`Float` -> `F32`).
fn dtype_name(storage: &str) -> String {
    match storage {
        "Float" => "F32",
        "Double" => "F64",
        "Half" => "F16",
        "BFloat16" => "BF16",
        "Long" => "I64",
        "Int" => "I32",
        "Short" => "I16",
        "Char" => "I8",
        "Byte" => "U8",
        "Bool" => "BOOL",
        other => other,
    }
    .to_string()
}

/// Collects `name -> tensor` from a (possibly nested) dict, nested keys joined with '.'.
fn collect(obj: &Obj, prefix: &str, out: &mut Vec<(String, TensorRef)>) {
    if let Obj::Dict(items) = obj {
        for (k, v) in items {
            let key = match k {
                Obj::Str(s) => s.clone(),
                Obj::Int(i) => i.to_string(),
                _ => continue,
            };
            let name = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            match v {
                Obj::Tensor(t) => out.push((name, t.clone())),
                Obj::Dict(_) => collect(v, &name, out),
                _ => {}
            }
        }
    }
}

/// Gathers a tensor's elements (row-major over `shape`) from its storage bytes.
fn gather(t: &TensorRef, storage: &[u8]) -> std::result::Result<Vec<f32>, String> {
    let (size, convert) =
        element(&t.dtype).ok_or_else(|| format!("unsupported storage type {}", t.dtype))?;
    let n_storage = storage.len() / size;
    if t.stride.len() != t.shape.len() {
        return Err(String::from("size and stride differ in length"));
    }
    let implausible = || format!("shape {:?} is implausible", t.shape);
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(implausible)?;
    // A view may repeat storage elements (stride 0), but not without bound: nothing is
    // allocated from a shape the file's bytes cannot back.
    if numel > 16 * n_storage.max(1) {
        return Err(format!(
            "shape {:?} has {numel} elements, far more than its {n_storage}-element storage",
            t.shape
        ));
    }
    if numel > 0 {
        let last = t
            .shape
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |acc, (s, st)| {
                acc.checked_add((s - 1).checked_mul(*st)?)
            })
            .ok_or_else(implausible)?;
        if last >= n_storage {
            return Err(format!(
                "reaches element {last} of a {n_storage}-element storage"
            ));
        }
    }
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..numel {
        let at = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.push(convert(&storage[at * size..(at + 1) * size]));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

fn finish(
    tensors: Vec<(String, TensorRef)>,
    storages: &HashMap<String, Vec<u8>>,
) -> std::result::Result<BTreeMap<String, Loaded>, (String, String)> {
    let mut out = BTreeMap::new();
    for (name, t) in tensors {
        let storage = storages
            .get(&t.key)
            .ok_or_else(|| (name.clone(), format!("storage {} is missing", t.key)))?;
        let values = gather(&t, storage).map_err(|e| (name.clone(), e))?;
        out.insert(name, (dtype_name(&t.dtype), t.shape.clone(), values));
    }
    Ok(out)
}

/// Reads every tensor of a `torch.save`d dict (state dict, or a dict nesting one).
pub(crate) fn read(path: &Path) -> Result<BTreeMap<String, Loaded>> {
    let fail = |tensor: &str, reason: String| Error::Weights {
        path: path.to_path_buf(),
        tensor: tensor.to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (tensors, storages) = if bytes.starts_with(b"PK") {
        read_zip(&bytes).map_err(|e| fail("", e))?
    } else {
        read_legacy(&bytes).map_err(|e| fail("", e))?
    };
    finish(tensors, &storages).map_err(|(name, reason)| fail(&name, reason))
}

type Parsed = (Vec<(String, TensorRef)>, HashMap<String, Vec<u8>>);

fn read_legacy(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let not_torch =
        || String::from("not a PyTorch checkpoint (neither zip nor legacy pickle format)");
    let mut p = Pickle::new(bytes);
    let no_pid = |_| Err(String::from("unexpected persistent id"));
    match p.run(&no_pid) {
        Ok(Obj::Int(LEGACY_MAGIC)) => {}
        _ => return Err(not_torch()),
    }
    p.run(&no_pid)?; // protocol version
    p.run(&no_pid)?; // sys info
    let root = p.run(&storage_pid)?;
    let keys = match p.run(&no_pid)? {
        Obj::List(keys) => keys,
        _ => return Err(String::from("storage key list missing")),
    };
    let mut storage_types = HashMap::new();
    let mut tensors = Vec::new();
    collect(&root, "", &mut tensors);
    for (_, t) in &tensors {
        storage_types.insert(t.key.clone(), t.dtype.clone());
    }
    let mut storages = HashMap::new();
    let mut pos = p.pos;
    for key in keys {
        let Obj::Str(key) = key else {
            return Err(String::from("storage key is not a string"));
        };
        let header = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| format!("storage {key} is truncated"))?;
        let numel = u64::from_le_bytes(header.try_into().expect("8")) as usize;
        let size = storage_types
            .get(&key)
            .and_then(|d| element(d))
            .map_or(4, |(s, _)| s);
        let end = numel
            .checked_mul(size)
            .and_then(|n| n.checked_add(pos + 8))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| format!("storage {key} is truncated"))?;
        storages.insert(key, bytes[pos + 8..end].to_vec());
        pos = end;
    }
    Ok((tensors, storages))
}

fn read_zip(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("unreadable zip: {e}"))?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    let pkl = names
        .iter()
        .find(|n| n.ends_with("/data.pkl") || *n == "data.pkl")
        .ok_or_else(|| String::from("zip without data.pkl: not a torch.save file"))?
        .clone();
    let base = pkl.trim_end_matches("data.pkl").to_string();
    let mut read_entry = |name: &str| -> std::result::Result<Vec<u8>, String> {
        let mut entry = archive.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        let mut out = Vec::new();
        entry
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(out)
    };
    let data = read_entry(&pkl)?;
    let mut p = Pickle::new(&data);
    let root = p.run(&storage_pid)?;
    let mut tensors = Vec::new();
    collect(&root, "", &mut tensors);
    let mut storages = HashMap::new();
    for (_, t) in &tensors {
        if !storages.contains_key(&t.key) {
            let raw = read_entry(&format!("{base}data/{}", t.key))?;
            storages.insert(t.key.clone(), raw);
        }
    }
    Ok((tensors, storages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> std::result::Result<Obj, String> {
        Pickle::new(bytes).run(&|_| Err(String::from("no persistent ids")))
    }

    /// Regressions (found by reading the VM against the fuzz goals): containers nested without
    /// end, and a memoized object copied into itself again and again, are errors, not a stack
    /// overflow or an allocation the file cannot back.
    #[test]
    fn deep_nesting_and_memo_amplification_are_errors() {
        let mut deep = vec![0x80, 2];
        deep.extend(std::iter::repeat_n(b']', 100_000));
        deep.extend(std::iter::repeat_n(b'a', 99_999));
        deep.push(b'.');
        let err = run(&deep).unwrap_err();
        assert!(err.contains("nested more than 64"), "{err}");

        // L0 = []; L(k+1) = [L(k), L(k)]: each step doubles the objects in 8 bytes.
        let mut bomb = vec![0x80, 2, b']', b'q', 0];
        for k in 0..40u8 {
            bomb.extend([b']', b'h', k, b'a', b'h', k, b'a', b'q', k + 1]);
        }
        bomb.push(b'.');
        let err = run(&bomb).unwrap_err();
        assert!(err.contains("copies memoized objects"), "{err}");
        // A few copies are fine.
        let mut small = vec![0x80, 2, b']', b'q', 0];
        for k in 0..3u8 {
            small.extend([b']', b'h', k, b'a', b'h', k, b'a', b'q', k + 1]);
        }
        small.push(b'.');
        assert!(matches!(run(&small), Ok(Obj::List(l)) if l.len() == 2));
    }

    #[test]
    fn shapes_the_storage_cannot_back_are_errors() {
        let t = |shape: Vec<usize>, stride: Vec<usize>| TensorRef {
            key: "0".into(),
            dtype: "Float".into(),
            offset: 0,
            shape,
            stride,
        };
        let storage = [0u8; 16];
        assert_eq!(
            gather(&t(vec![2, 2], vec![2, 1]), &storage).unwrap().len(),
            4
        );
        // A broadcast view (stride 0) a little larger than its storage is read...
        assert_eq!(gather(&t(vec![8], vec![0]), &storage).unwrap().len(), 8);
        // ...one of 2^40 elements is not allocated.
        let err = gather(&t(vec![1 << 40], vec![0]), &storage).unwrap_err();
        assert!(err.contains("far more than"), "{err}");
        let err = gather(&t(vec![1 << 40, 1 << 40], vec![0, 0]), &storage).unwrap_err();
        assert!(err.contains("implausible"), "{err}");
        let err = gather(&t(vec![2], vec![usize::MAX]), &storage).unwrap_err();
        assert!(err.contains("reaches element"), "{err}");
        let err = gather(&t(vec![3], vec![usize::MAX]), &storage).unwrap_err();
        assert!(err.contains("implausible"), "{err}");
    }
}
