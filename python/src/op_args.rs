//! NumPy-signature entry points shared by `Tensor` methods and module functions: argument
//! parsing (`axis`, `dtype`, `out`, Python scalars) around the `ember::ops` calls.

use crate::convert::{parse_axes, parse_dtype, to_operand, to_tensor};
use crate::dispatch::{operands, run, wrap};
use crate::errors::IntoPy;
use crate::tensor::PyTensor;
use ember::ir::ReduceOp;
use ember::ops::{self, Operand};
use ember::{DType, Tensor};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// `a @ b` on any array-likes.
pub fn matmul_objs(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
    let py = a.py();
    let (a, b) = (to_tensor(a, "x1")?, to_tensor(b, "x2")?);
    let traced = a.is_traced() || b.is_traced();
    let r = run(py, traced, || ops::matmul(&a, &b))?;
    wrap(py, r)
}

/// `np.clip(x, lo, hi)`.
pub fn clip_impl(
    x: &Bound<'_, PyAny>,
    lo: Option<&Bound<'_, PyAny>>,
    hi: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyTensor>> {
    let py = x.py();
    let xt = to_tensor(x, "a")?;
    // NumPy drops a Python-int bound at or beyond an integer array's range on the side that
    // clips nothing (`ops::clip` does for those within int64); one beyond int64 has no
    // operand, so it is dropped here: `clip(int64_array, 0, 2**64)`.
    let int = matches!(xt.dtype(), DType::I32 | DType::I64);
    let beyond_int64 = |v: &Bound<'_, PyAny>, above: bool| -> PyResult<bool> {
        Ok(int
            && v.is_exact_instance_of::<pyo3::types::PyInt>()
            && v.extract::<i64>().is_err()
            && v.gt(0)? == above)
    };
    let conv = |o: Option<&Bound<'_, PyAny>>, n: &str, above: bool| -> PyResult<Option<Operand>> {
        match o {
            Some(v) if !v.is_none() && !beyond_int64(v, above)? => to_operand(v, n).map(Some),
            _ => Ok(None),
        }
    };
    let (lo, hi) = (conv(lo, "a_min", false)?, conv(hi, "a_max", true)?);
    let traced = xt.is_traced()
        || [&lo, &hi]
            .iter()
            .any(|o| matches!(o, Some(Operand::Tensor(t)) if t.is_traced()));
    let r = run(py, traced, || ops::clip(&xt, lo, hi))?;
    wrap(py, r)
}

fn reject_out(out: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<()> {
    if out.is_some_and(|o| !o.is_none()) {
        return Err(PyTypeError::new_err(format!(
            "{name}: out= is not supported: Ember tensors are immutable"
        )));
    }
    Ok(())
}

/// A reduction by name with NumPy's `axis`/`dtype`/`keepdims` arguments.
pub fn reduce_impl(
    x: &Bound<'_, PyAny>,
    name: &str,
    axis: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    out: Option<&Bound<'_, PyAny>>,
    keepdims: bool,
) -> PyResult<Py<PyTensor>> {
    let py = x.py();
    reject_out(out, name)?;
    let mut t = to_tensor(x, "a")?;
    let requested = match dtype.filter(|d| !d.is_none()) {
        Some(d) => Some(parse_dtype(d, "dtype")?),
        None => None,
    };
    let axes = if name != "mean" && zero_d_axis(&t, axis) {
        None
    } else {
        parse_axes(axis)?
    };
    let int_axis = axis.is_none_or(|a| a.is_none() || a.extract::<i64>().is_ok());
    if matches!(name, "argmax" | "argmin") && !int_axis {
        // NumPy takes no tuple here, even of one axis.
        return Err(PyTypeError::new_err(format!(
            "{name}: axis must be None or an int"
        )));
    }
    if let Some(d) = requested.filter(|d| name == "mean" && !d.is_float()) {
        let r = run(py, t.is_traced(), || {
            int_moment(name, &t, axes.as_deref(), d, 0, keepdims)
        })?;
        return wrap(py, r);
    }
    if let Some(d) = requested {
        t = ops::astype(&t, d).py()?;
    }
    let traced = t.is_traced();
    let r = run(py, traced, || match name {
        "argmax" | "argmin" => {
            let axis = match axes.as_deref() {
                None => None,
                Some([a]) => Some(*a),
                Some(_) => {
                    return Err(ember::EmberError::Type(format!(
                        "{name}: axis must be None or an int"
                    )))
                }
            };
            if name == "argmax" {
                ops::argmax(&t, axis, keepdims)
            } else {
                ops::argmin(&t, axis, keepdims)
            }
        }
        "mean" => ops::mean(&t, axes.as_deref(), keepdims),
        _ => {
            let op = ember::ir::ReduceOp::from_name(name)
                .ok_or_else(|| ember::EmberError::Value(format!("unknown reduction {name}")))?;
            let r = ops::reduce(op, &t, axes.as_deref(), keepdims)?;
            // Sums and products of small ints and bools widen to int64 unless a dtype was
            // given: then NumPy accumulates in it (wrapping; a bool sum is `any`, a bool
            // product `all`), which is the int64 result narrowed.
            match requested {
                Some(d) if r.dtype() != d && matches!(name, "sum" | "prod") => ops::astype(&r, d),
                _ => Ok(r),
            }
        }
    })?;
    wrap(py, r)
}

/// `var`/`std` with `ddof`.
pub fn moment_impl(
    x: &Bound<'_, PyAny>,
    name: &str,
    axis: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    out: Option<&Bound<'_, PyAny>>,
    ddof: i64,
    keepdims: bool,
) -> PyResult<Py<PyTensor>> {
    let ddof = u32::try_from(ddof).map_err(|_| {
        PyValueError::new_err(format!("ddof: expected a non-negative int, got {ddof}"))
    })?;
    let py = x.py();
    reject_out(out, name)?;
    let mut t = to_tensor(x, "a")?;
    let axes = parse_axes(axis)?;
    if let Some(d) = dtype.filter(|d| !d.is_none()) {
        let d = parse_dtype(d, "dtype")?;
        if !d.is_float() {
            let r = run(py, t.is_traced(), || {
                int_moment(name, &t, axes.as_deref(), d, ddof, keepdims)
            })?;
            return wrap(py, r);
        }
        t = ops::astype(&t, d).py()?;
    }
    let r = run(py, t.is_traced(), || {
        if name == "var" {
            ops::var(&t, axes.as_deref(), ddof, keepdims)
        } else {
            ops::std(&t, axes.as_deref(), ddof, keepdims)
        }
    })?;
    wrap(py, r)
}

/// NumPy's ufunc reductions (and argmax/argmin) take an int `axis` of 0 or -1 on a 0-d array
/// and reduce nothing, a legacy allowance (`mean`, `var` and `std` raise AxisError).
fn zero_d_axis(t: &Tensor, axis: Option<&Bound<'_, PyAny>>) -> bool {
    t.ndim() == 0
        && axis
            .and_then(|a| a.extract::<i64>().ok())
            .is_some_and(|a| a == 0 || a == -1)
}

/// `mean`, `var` and `std` with an integer or bool `dtype`, step by step as NumPy's
/// `numpy/_core/_methods.py` computes them: sums accumulate in `dtype`, each quotient (a
/// float64 division) is cast back to `dtype`, truncating, and `std` of an array result fails
/// as NumPy's in-place `sqrt` into `dtype` does. (Casting the input and computing in float64
/// gave float64 results, and other values.)
fn int_moment(
    name: &str,
    x: &Tensor,
    axes: Option<&[i64]>,
    dtype: DType,
    ddof: u32,
    keepdims: bool,
) -> ember::Result<Tensor> {
    let reduced = ember::ir::shape::normalize_axes(name, axes, x.ndim())?;
    let count: i64 = reduced.iter().map(|&a| x.shape()[a] as i64).product();
    let mean_in = |t: &Tensor, keepdims: bool, n: i64| -> ember::Result<Tensor> {
        // An int64 sum narrowed to `dtype` wraps exactly like an accumulation in `dtype`.
        let sum = ops::reduce(ReduceOp::Sum, &ops::astype(t, dtype)?, axes, keepdims)?;
        ops::astype(&ops::divide(&ops::astype(&sum, dtype)?, n)?, dtype)
    };
    if name == "mean" {
        return mean_in(x, keepdims, count);
    }
    let dev = ops::subtract(x, &mean_in(x, true, count)?)?;
    let var = mean_in(
        &ops::multiply(&dev, &dev)?,
        keepdims,
        (count - i64::from(ddof)).max(0),
    )?;
    if name == "var" {
        return Ok(var);
    }
    if var.ndim() > 0 {
        return Err(ember::EmberError::Type(format!(
            "std: NumPy's sqrt cannot write its float result into the {dtype} array that \
             dtype={dtype} asks for (casting rule 'same_kind'); only a 0-d result works"
        )));
    }
    ops::astype(&ops::sqrt(&ops::astype(&var, DType::F64)?)?, dtype)
}

/// Several operands converted at once (used by `where`).
pub fn where_impl(
    cond: &Bound<'_, PyAny>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
) -> PyResult<Py<PyTensor>> {
    let py = cond.py();
    let c = to_tensor(cond, "condition")?;
    let (ops_, traced) = operands(&[(a, "x"), (b, "y")])?;
    let mut it = ops_.into_iter();
    let (x, y) = (it.next(), it.next());
    let (Some(x), Some(y)) = (x, y) else {
        return Err(PyValueError::new_err("where: expected x and y"));
    };
    let r = run(py, traced || c.is_traced(), || ops::where_(&c, x, y))?;
    wrap(py, r)
}
