//! The operations users call, eager or traced. Every op goes through [`apply`]: it infers
//! the result type with the IR's one definition (`Op::infer`), then either records a node
//! (when an operand is traced) or runs the eager kernel (a compiled single-op kernel for large
//! arrays, see `compiled_eager`).

mod compiled_eager;
mod composite;
mod device_eager;
mod elementwise;
mod operators;
mod reduce;
mod shape_ops;

pub use composite::*;
pub use elementwise::*;
pub use reduce::*;
pub use shape_ops::*;

use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use crate::trace;
use ember_ir::{promote_weak, DType, Device, Op, Scalar, ValueType, WeakKind};

/// Applies one op to tensors: records it while tracing, computes it otherwise.
#[track_caller]
pub fn apply(op: Op, inputs: &[&Tensor]) -> Result<Tensor> {
    if inputs.iter().any(|t| t.is_traced()) {
        return trace::record(op, inputs);
    }
    let types: Vec<&ValueType> = inputs.iter().map(|t| t.value_type()).collect();
    let out = op.infer(&types)?;
    if inputs.iter().any(|t| t.device() != Device::Cpu) {
        return device_eager::run(&op, inputs, &out);
    }
    if let Some(r) = compiled_eager::try_run(&op, inputs, &out) {
        return r;
    }
    match &op {
        Op::Composite(c) => composite::eager_composite(c, inputs[0]),
        _ => crate::eager::execute(&op, inputs, &out),
    }
}

/// An operand of a NumPy-like function: a tensor, or a weakly typed Python-style scalar
/// that takes the other operand's dtype (NEP 50).
#[derive(Clone, Debug)]
pub enum Operand {
    /// A tensor (strongly typed).
    Tensor(Tensor),
    /// A weak scalar: its value and kind (`2.5` is a weak float).
    Weak(Scalar, WeakKind),
}

impl From<Tensor> for Operand {
    fn from(t: Tensor) -> Self {
        Operand::Tensor(t)
    }
}
impl From<&Tensor> for Operand {
    fn from(t: &Tensor) -> Self {
        Operand::Tensor(t.clone())
    }
}
impl From<f64> for Operand {
    fn from(v: f64) -> Self {
        Operand::Weak(Scalar::F64(v), WeakKind::Float)
    }
}
impl From<i64> for Operand {
    fn from(v: i64) -> Self {
        Operand::Weak(Scalar::I64(v), WeakKind::Int)
    }
}
impl From<i32> for Operand {
    fn from(v: i32) -> Self {
        Operand::Weak(Scalar::I64(v as i64), WeakKind::Int)
    }
}
impl From<bool> for Operand {
    fn from(v: bool) -> Self {
        Operand::Weak(Scalar::Bool(v), WeakKind::Bool)
    }
}

impl Operand {
    fn strong_dtype(&self) -> Option<DType> {
        match self {
            Operand::Tensor(t) => Some(t.dtype()),
            Operand::Weak(..) => None,
        }
    }
}

/// Converts a weak scalar to a 0-d tensor of `dtype`, refusing Python ints that do not fit
/// (NumPy 2 raises `OverflowError` for `int32_array + 2**40`).
pub fn weak_to_tensor(value: Scalar, dtype: DType) -> Result<Tensor> {
    if let (Scalar::I64(v), DType::I32) = (value, dtype) {
        if i32::try_from(v).is_err() {
            return Err(EmberError::Overflow(format!(
                "Python integer {v} out of bounds for int32"
            )));
        }
    }
    Ok(Tensor::scalar(value.cast(dtype)))
}

/// Resolves operands to tensors: weak scalars take the dtype NEP 50 gives them against the
/// strong operands and the other weak scalars together (all weak: each its default dtype).
/// With two weak scalars of different kinds, the higher kind decides for both:
/// `clip(int32_array, 2**40, 0.5)` computes in float64, where 2**40 fits.
pub fn resolve(operands: &[Operand]) -> Result<Vec<Tensor>> {
    let strong = operands
        .iter()
        .filter_map(Operand::strong_dtype)
        .reduce(ember_ir::promote)
        .map(|s| {
            operands.iter().fold(s, |d, o| match o {
                Operand::Weak(_, kind) => promote_weak(d, *kind),
                Operand::Tensor(_) => d,
            })
        });
    operands
        .iter()
        .map(|o| match o {
            Operand::Tensor(t) => Ok(t.clone()),
            Operand::Weak(v, kind) => {
                let dtype = strong.map_or(kind.default_dtype(), |s| promote_weak(s, *kind));
                if let (Scalar::F64(f), WeakKind::Int) = (v, kind) {
                    // A Python int beyond int64 (held as a float64): out of bounds for an
                    // integer dtype, and unconvertible beyond float64's range (NumPy's
                    // errors for `int_array + 2**70` and `float_array + 2**1100`).
                    if !dtype.is_float() {
                        return Err(EmberError::Overflow(format!(
                            "Python integer {f:e} out of bounds for {dtype}"
                        )));
                    }
                    if f.is_infinite() {
                        return Err(EmberError::Overflow(
                            "Python integer too large to convert to float".into(),
                        ));
                    }
                }
                weak_to_tensor(*v, dtype)
            }
        })
        .collect()
}
