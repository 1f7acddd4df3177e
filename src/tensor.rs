//! A minimal host tensor and the safetensors reader every importer uses.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// How many values a tensor of `dims` holds; None where that passes `usize` (sizes from a
/// caller or a file can be anything, and no memory holds such a tensor).
pub fn elements(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Checks that every value of `name` is finite; the error names the first that is not (NaN or
/// infinity from a caller or a file is refused before it reaches a kernel).
pub(crate) fn all_finite(name: impl Into<String>, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::invalid(name, format!("non-finite value at index {i}"))),
        None => Ok(()),
    }
}

/// A dense row-major f32 tensor on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor from its shape and data; the element count must match.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::shape("tensor", format!("{n} elements for {shape:?}"), data.len()));
        }
        Ok(Tensor { shape, data })
    }
    /// Checks the shape against `expected`, naming the tensor in the error.
    pub fn expect_shape(&self, name: &str, expected: &[usize]) -> Result<()> {
        if self.shape != expected {
            return Err(Error::shape(name, format!("{expected:?}"), format!("{:?}", self.shape)));
        }
        Ok(())
    }
}

/// The tensors and string metadata of one safetensors file, decoded to f32 / i64.
#[derive(Debug, Default, Clone)]
pub struct TensorFile {
    pub metadata: HashMap<String, String>,
    pub floats: HashMap<String, Tensor>,
    pub ints: HashMap<String, (Vec<usize>, Vec<i64>)>,
}

impl TensorFile {
    /// Reads a safetensors file. Float tensors may be F32, F16 or BF16 (widened exactly);
    /// integer tensors I32 or I64. Anything else is an error naming the tensor.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        crate::error::parse_file(path, Self::parse)
    }

    /// Parses safetensors bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let bad = |why: String| Error::File { path: "<bytes>".into(), why };
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let mut out = TensorFile { metadata: meta.metadata().clone().unwrap_or_default(), ..Default::default() };
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let raw = view.data();
            let chunks = |w: usize| raw.chunks_exact(w);
            match view.dtype() {
                Dtype::F32 => {
                    let data = chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
                    out.floats.insert(name, Tensor { shape, data });
                }
                Dtype::F16 => {
                    let data = chunks(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
                    out.floats.insert(name, Tensor { shape, data });
                }
                Dtype::BF16 => {
                    let data = chunks(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
                    out.floats.insert(name, Tensor { shape, data });
                }
                Dtype::I32 => {
                    let data = chunks(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect();
                    out.ints.insert(name, (shape, data));
                }
                Dtype::I64 => {
                    let data = chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
                    out.ints.insert(name, (shape, data));
                }
                other => {
                    return Err(Error::DType {
                        name,
                        dtype: format!("{other:?}"),
                        expected: "F32, F16, BF16, I32 or I64".into(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// A float tensor that must be present.
    pub fn float(&self, name: &str) -> Result<&Tensor> {
        self.floats.get(name).ok_or_else(|| {
            if self.ints.contains_key(name) {
                Error::DType { name: name.into(), dtype: "integer".into(), expected: "a float type".into() }
            } else {
                Error::MissingTensor(name.into())
            }
        })
    }
    /// A float tensor that may be absent.
    pub fn float_opt(&self, name: &str) -> Result<Option<&Tensor>> {
        match self.float(name) {
            Ok(t) => Ok(Some(t)),
            Err(Error::MissingTensor(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// An integer vector that may be absent, checked to have `len` entries.
    pub fn ints_opt(&self, name: &str, len: usize) -> Result<Option<Vec<i64>>> {
        if self.floats.contains_key(name) {
            return Err(Error::DType { name: name.into(), dtype: "float".into(), expected: "I32 or I64".into() });
        }
        match self.ints.get(name) {
            None => Ok(None),
            Some((shape, data)) => {
                if shape != &[len] {
                    return Err(Error::shape(name, format!("[{len}]"), format!("{shape:?}")));
                }
                Ok(Some(data.clone()))
            }
        }
    }
    /// A metadata string that must be present.
    pub fn meta(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::invalid("metadata", format!("missing key `{key}`")))
    }
    /// A metadata integer that must be present.
    pub fn meta_usize(&self, key: &str) -> Result<usize> {
        let s = self.meta(key)?;
        s.trim().parse().map_err(|_| Error::invalid(key, format!("`{s}` is not a non-negative integer")))
    }
    /// A metadata boolean (`true`/`false`/`1`/`0`), `default` when absent.
    pub fn meta_bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.metadata.get(key).map(|s| s.trim()) {
            None | Some("") => Ok(default),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(s) => Err(Error::invalid(key, format!("`{s}` is not a boolean"))),
        }
    }
}

impl TensorFile {
    /// Serializes the file: floats as F32, integers as I32 (I64 when a value needs it).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, t) in &self.floats {
            raw.push((name.clone(), Dtype::F32, t.shape.clone(), bytemuck::cast_slice(&t.data).to_vec()));
        }
        for (name, (shape, v)) in &self.ints {
            if v.iter().all(|&x| i32::try_from(x).is_ok()) {
                let w: Vec<i32> = v.iter().map(|&x| x as i32).collect();
                raw.push((name.clone(), Dtype::I32, shape.clone(), bytemuck::cast_slice(&w).to_vec()));
            } else {
                raw.push((name.clone(), Dtype::I64, shape.clone(), bytemuck::cast_slice(v).to_vec()));
            }
        }
        let views = raw
            .iter()
            .map(|(n, dt, shape, bytes)| {
                safetensors::tensor::TensorView::new(*dt, shape.clone(), bytes)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| Error::invalid(n.clone(), e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta = if self.metadata.is_empty() { None } else { Some(self.metadata.clone()) };
        safetensors::tensor::serialize(views, meta).map_err(|e| Error::invalid("safetensors", e.to_string()))
    }
}
