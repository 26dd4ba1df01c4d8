//! Constant tensors embedded in the graph.

use crate::dtype::DType;
use crate::shape::{numel, Shape};
use std::sync::Arc;

/// A constant: dtype, shape and row-major native-endian bytes. Equality and hashing are by
/// content, so common-subexpression elimination merges equal constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Literal {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Shape,
    /// `numel * dtype.size()` bytes, row-major.
    pub data: Arc<[u8]>,
}

/// A scalar element of any supported dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// A bool.
    Bool(bool),
    /// An int32.
    I32(i32),
    /// An int64.
    I64(i64),
    /// A float32.
    F32(f32),
    /// A float64.
    F64(f64),
}

impl Scalar {
    /// The scalar's dtype.
    pub fn dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::I32(_) => DType::I32,
            Scalar::I64(_) => DType::I64,
            Scalar::F32(_) => DType::F32,
            Scalar::F64(_) => DType::F64,
        }
    }

    /// The value as f64 (lossy for large int64).
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as u8 as f64,
            Scalar::I32(v) => v as f64,
            Scalar::I64(v) => v as f64,
            Scalar::F32(v) => v as f64,
            Scalar::F64(v) => v,
        }
    }

    /// Converts to `dtype` with NumPy `astype` semantics (floats to ints truncate).
    pub fn cast(self, dtype: DType) -> Scalar {
        let as_i64 = match self {
            Scalar::Bool(b) => b as i64,
            Scalar::I32(v) => v as i64,
            Scalar::I64(v) => v,
            Scalar::F32(v) => v as i64,
            Scalar::F64(v) => v as i64,
        };
        match dtype {
            DType::Bool => Scalar::Bool(self.to_f64() != 0.0 || as_i64 != 0),
            DType::I32 => Scalar::I32(match self {
                Scalar::F32(v) => v as i32,
                Scalar::F64(v) => v as i32,
                _ => as_i64 as i32,
            }),
            DType::I64 => Scalar::I64(as_i64),
            DType::F32 => Scalar::F32(match self {
                Scalar::I64(v) => v as f32,
                _ => self.to_f64() as f32,
            }),
            DType::F64 => Scalar::F64(match self {
                Scalar::I64(v) => v as f64,
                _ => self.to_f64(),
            }),
        }
    }

    /// Native-endian bytes of the value.
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            Scalar::Bool(b) => vec![b as u8],
            Scalar::I32(v) => v.to_ne_bytes().to_vec(),
            Scalar::I64(v) => v.to_ne_bytes().to_vec(),
            Scalar::F32(v) => v.to_ne_bytes().to_vec(),
            Scalar::F64(v) => v.to_ne_bytes().to_vec(),
        }
    }

    /// Reads a value of `dtype` from native-endian bytes (at least `dtype.size()` long).
    pub fn from_bytes(dtype: DType, b: &[u8]) -> Scalar {
        match dtype {
            DType::Bool => Scalar::Bool(b[0] != 0),
            DType::I32 => Scalar::I32(i32::from_ne_bytes(b[..4].try_into().expect("4 bytes"))),
            DType::I64 => Scalar::I64(i64::from_ne_bytes(b[..8].try_into().expect("8 bytes"))),
            DType::F32 => Scalar::F32(f32::from_ne_bytes(b[..4].try_into().expect("4 bytes"))),
            DType::F64 => Scalar::F64(f64::from_ne_bytes(b[..8].try_into().expect("8 bytes"))),
        }
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::I32(v) => write!(f, "{v}"),
            Scalar::I64(v) => write!(f, "{v}"),
            // `{:?}` prints the shortest text that parses back to the same float.
            Scalar::F32(v) => write!(f, "{v:?}"),
            Scalar::F64(v) => write!(f, "{v:?}"),
        }
    }
}

impl Literal {
    /// A 0-d constant.
    pub fn scalar(s: Scalar) -> Literal {
        Literal {
            dtype: s.dtype(),
            shape: Shape::new(),
            data: s.to_bytes().into(),
        }
    }

    /// A constant from raw row-major bytes; `None` when the length does not match.
    pub fn from_bytes(dtype: DType, shape: &[usize], data: Vec<u8>) -> Option<Literal> {
        (data.len() == numel(shape) * dtype.size()).then(|| Literal {
            dtype,
            shape: Shape::from_slice(shape),
            data: data.into(),
        })
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// The `i`-th element in row-major order.
    pub fn get(&self, i: usize) -> Scalar {
        let sz = self.dtype.size();
        Scalar::from_bytes(self.dtype, &self.data[i * sz..(i + 1) * sz])
    }

    /// When every element is equal, that element (a splat); `None` otherwise or when empty.
    pub fn splat_value(&self) -> Option<Scalar> {
        let sz = self.dtype.size();
        let first = self.data.get(..sz)?;
        self.data
            .chunks_exact(sz)
            .all(|c| c == first)
            .then(|| Scalar::from_bytes(self.dtype, first))
    }
}
