//! `np.matmul`: 1-d operands are promoted to matrices (and the added axis removed from the
//! result), leading batch axes broadcast, both operands are cast to the promoted dtype.
//! Floats use ndarray's `general_mat_mul` (matrixmultiply's blocked GEMM); ints and bool use
//! plain loops in i-k-j order (bool: or of ands).

use super::cast::astype;
use super::map::build;
use crate::element::Element;
use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use ember_ir::op::matmul_shape;
use ember_ir::shape::numel;
use ember_ir::{DType, ValueType};
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Ix2, IxDyn};

/// `a @ b` with result type `out`.
pub(crate) fn matmul(a: &Tensor, b: &Tensor, out: &ValueType) -> Result<Tensor> {
    let expect = matmul_shape(a.shape(), b.shape())?;
    if expect[..] != out.shape[..] {
        return Err(EmberError::Value(format!(
            "matmul: result shape {:?} expected, {:?} given",
            expect.as_slice(),
            out.shape.as_slice()
        )));
    }
    let a = astype(a, out.dtype)?;
    let b = astype(b, out.dtype)?;
    match out.dtype {
        DType::F32 => batched::<f32>(&a, &b, out, |x, y, c| general_mat_mul(1.0, x, y, 0.0, c)),
        DType::F64 => batched::<f64>(&a, &b, out, |x, y, c| general_mat_mul(1.0, x, y, 0.0, c)),
        DType::I32 => batched::<i32>(&a, &b, out, |x, y, c| {
            loops(x, y, c, |acc, p, q| acc.wrapping_add(p.wrapping_mul(q)))
        }),
        DType::I64 => batched::<i64>(&a, &b, out, |x, y, c| {
            loops(x, y, c, |acc, p, q| acc.wrapping_add(p.wrapping_mul(q)))
        }),
        DType::Bool => batched::<bool>(&a, &b, out, |x, y, c| {
            loops(x, y, c, |acc, p, q| acc | (p & q))
        }),
    }
}

/// `c = a @ b` with `c` zeroed on entry, by `c[i, j] = f(c[i, j], a[i, k], b[k, j])`.
fn loops<T: Element>(
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    c: &mut ArrayViewMut2<'_, T>,
    f: impl Fn(T, T, T) -> T,
) {
    // i-k-j order walks rows of b and c contiguously.
    for (a_row, mut c_row) in a.outer_iter().zip(c.outer_iter_mut()) {
        for (&p, b_row) in a_row.iter().zip(b.outer_iter()) {
            for (o, &q) in c_row.iter_mut().zip(b_row.iter()) {
                *o = f(*o, p, q);
            }
        }
    }
}

/// Runs `mm` on each pair of broadcast batch matrices.
fn batched<T: Element>(
    a: &Tensor,
    b: &Tensor,
    out: &ValueType,
    mm: impl Fn(&ArrayView2<'_, T>, &ArrayView2<'_, T>, &mut ArrayViewMut2<'_, T>),
) -> Result<Tensor> {
    // Promote 1-d operands: a [k] -> [1, k], b [k] -> [k, 1].
    let mut av: ArrayViewD<'_, T> = a.view::<T>()?;
    let mut bv: ArrayViewD<'_, T> = b.view::<T>()?;
    if av.ndim() == 1 {
        av.insert_axis_inplace(Axis(0));
    }
    if bv.ndim() == 1 {
        bv.insert_axis_inplace(Axis(1));
    }
    let (an, bn) = (av.ndim(), bv.ndim());
    let (m, k, n) = (av.shape()[an - 2], av.shape()[an - 1], bv.shape()[bn - 1]);
    // The batch shape is out's shape without the matrix axes (and without squeezed ones).
    let batch_nd = out.shape.len() + usize::from(a.ndim() == 1) + usize::from(b.ndim() == 1) - 2;
    let batch: Vec<usize> = out.shape[..batch_nd].to_vec();
    // Views with stride 0 along broadcast batch axes.
    let with_batch = |r: usize, c: usize| {
        let mut s = batch.clone();
        s.extend([r, c]);
        s
    };
    let (sa, sb) = (with_batch(m, k), with_batch(k, n));
    let err = |v: &ArrayViewD<'_, T>, s: &[usize]| {
        EmberError::Value(format!("matmul: cannot broadcast {:?} to {s:?}", v.shape()))
    };
    let full_a = av.broadcast(IxDyn(&sa)).ok_or_else(|| err(&av, &sa))?;
    let full_b = bv.broadcast(IxDyn(&sb)).ok_or_else(|| err(&bv, &sb))?;
    let nb = numel(&batch);
    build::<T>(&out.shape, |o| {
        if k == 0 || o.is_empty() {
            // The zeroed output is the answer (an empty sum is 0 / false).
            return Ok(());
        }
        for (bi, chunk) in o.chunks_exact_mut(m * n).enumerate().take(nb) {
            // Unravel the batch index and take that matrix from each operand.
            let (mut x, mut y) = (full_a.view(), full_b.view());
            let mut rest = bi;
            let mut idx = vec![0usize; batch.len()];
            for d in (0..batch.len()).rev() {
                idx[d] = rest % batch[d];
                rest /= batch[d];
            }
            for &i in &idx {
                x = x.index_axis_move(Axis(0), i);
                y = y.index_axis_move(Axis(0), i);
            }
            let x = x
                .into_dimensionality::<Ix2>()
                .map_err(|e| EmberError::Backend(format!("matmul: {e}")))?;
            let y = y
                .into_dimensionality::<Ix2>()
                .map_err(|e| EmberError::Backend(format!("matmul: {e}")))?;
            let mut c = ArrayViewMut2::from_shape((m, n), chunk)
                .map_err(|e| EmberError::Backend(format!("matmul: {e}")))?;
            mm(&x, &y, &mut c);
        }
        Ok(())
    })
}
