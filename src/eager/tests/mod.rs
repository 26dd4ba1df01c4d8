//! Tests of the eager kernels against hand-checked NumPy 2 results (values noted next to
//! each case were produced by NumPy 2.4 on x86-64). Full differential tests live in Python.

mod bench;
mod creation;
mod dump;
mod elementwise;
mod matmul;
mod movement;
mod reduce;

use super::execute;
use crate::element::Element;
use crate::error::Result;
use crate::tensor::Tensor;
use ember_ir::{BinaryOp, Op, UnaryOp, ValueType};

/// Infers the result type and runs `op`, as the rest of the crate does.
fn run(op: Op, inputs: &[&Tensor]) -> Result<Tensor> {
    let types: Vec<&ValueType> = inputs.iter().map(|t| t.value_type()).collect();
    let out = op.infer(&types)?;
    let r = execute(&op, inputs, &out)?;
    assert_eq!(
        r.value_type(),
        &out,
        "{} returned the wrong type",
        op.name()
    );
    Ok(r)
}

/// A tensor from values and a shape.
fn t<T: Element>(v: Vec<T>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape).unwrap()
}

/// A 1-d tensor.
fn t1<T: Element>(v: Vec<T>) -> Tensor {
    let n = v.len();
    t(v, &[n])
}

/// The elements in logical row-major order.
fn vals<T: Element>(x: &Tensor) -> Vec<T> {
    x.view::<T>().unwrap().iter().copied().collect()
}

fn bin(op: BinaryOp, a: &Tensor, b: &Tensor) -> Tensor {
    run(Op::Binary(op), &[a, b]).unwrap()
}

fn un(op: UnaryOp, a: &Tensor) -> Tensor {
    run(Op::Unary(op), &[a]).unwrap()
}

/// Asserts bitwise equality of float vectors (NaN == NaN, and -0.0 != 0.0).
fn assert_bits_f64(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "element {i}: got {g:?}, want {w:?} (all: {got:?})"
        );
    }
}
