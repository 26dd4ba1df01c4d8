//! Reductions over a sorted set of axes ([`ReduceOp`]), keeping NumPy's summation order.
//!
//! NumPy reduces a C-contiguous array by walking it in memory order. When the innermost axis
//! is reduced, its inner loop sees a contiguous run of reduced elements (trailing reduced axes
//! coalesce into one run) and adds it with pairwise summation: `out += pairwise(run)`. When
//! the innermost axis is kept, each output element accumulates its inputs one at a time, in
//! order. [`fold_runs`] reproduces both orders, so float sums round like NumPy's.

use super::map::{build, out_view};
use super::math::{self, pairwise_sum};
use super::num::{Float, Ordered, Truthy};
use crate::element::Element;
use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use ember_ir::{DType, ReduceOp, ValueType};
use ndarray::{Axis, IxDyn};

/// Runs reduction `op` over `axes` (sorted, unique, in range) of `x`.
pub(crate) fn reduce(op: ReduceOp, x: &Tensor, axes: &[usize], out: &ValueType) -> Result<Tensor> {
    if let Some(&bad) = axes.iter().find(|&&a| a >= x.ndim()) {
        return Err(EmberError::Index(format!(
            "{}: axis {bad} is out of bounds for array of dimension {}",
            op.name(),
            x.ndim()
        )));
    }
    match op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => {
            let &[axis] = axes else {
                return Err(EmberError::Value(format!(
                    "{}: expected exactly one axis, got {axes:?}",
                    op.name()
                )));
            };
            crate::with_dtype!(x.dtype(), T => arg_reduce::<T>(op, x, axis, out))
        }
        ReduceOp::Any | ReduceOp::All => {
            let all = op == ReduceOp::All;
            crate::with_dtype!(x.dtype(), T => truth_reduce::<T>(all, x, axes, out))
        }
        ReduceOp::Sum | ReduceOp::Prod => {
            let sum = op == ReduceOp::Sum;
            match x.dtype() {
                DType::F32 => float_sum_prod::<f32>(sum, x, axes, out),
                DType::F64 => float_sum_prod::<f64>(sum, x, axes, out),
                DType::I32 => int_sum_prod::<i32>(sum, x, axes, out),
                DType::I64 => int_sum_prod::<i64>(sum, x, axes, out),
                DType::Bool => int_sum_prod::<bool>(sum, x, axes, out),
            }
        }
        ReduceOp::Max | ReduceOp::Min => {
            let max = op == ReduceOp::Max;
            match x.dtype() {
                DType::F32 => float_extreme::<f32>(max, x, axes, out),
                DType::F64 => float_extreme::<f64>(max, x, axes, out),
                DType::I32 => ord_extreme::<i32>(max, x, axes, out),
                DType::I64 => ord_extreme::<i64>(max, x, axes, out),
                DType::Bool => ord_extreme::<bool>(max, x, axes, out),
            }
        }
    }
}

/// The order in which NumPy's iterator walks an operand: axes sorted by decreasing |stride|
/// (outermost first) with NumPy's insertion sort (`npyiter_find_best_axis_ordering`), which
/// keeps C order for equal strides and steps over stride-0 (broadcast) axes undecided.
fn memory_order(strides: &[isize]) -> Vec<usize> {
    // `fast` lists axes innermost first, as NumPy's iterator does internally.
    let mut fast: Vec<usize> = (0..strides.len()).rev().collect();
    for i0 in 1..fast.len() {
        let a = fast[i0];
        let mut ipos = i0;
        for i1 in (0..i0).rev() {
            let (sa, sb) = (strides[a].unsigned_abs(), strides[fast[i1]].unsigned_abs());
            if sa != 0 && sb != 0 {
                if sb <= sa {
                    break;
                }
                ipos = i1;
            }
        }
        if ipos != i0 {
            let a = fast.remove(i0);
            fast.insert(ipos, a);
        }
    }
    fast.reverse();
    fast
}

/// Folds the elements of `x` into `out` (pre-filled with the identity; one accumulator per
/// output element, in C order), reducing `axes`.
///
/// The input is walked like NumPy walks it: size-1 axes dropped, the rest in memory order,
/// adjacent axes coalesced when the output allows. When the innermost remaining axis is
/// reduced, each of its contiguous runs folds into one accumulator with `run(acc, elems)`
/// (pairwise for float sums); otherwise each element folds into its accumulator with
/// `step(acc, elem)`, in iteration order.
fn fold_runs<T: Element, A: Copy>(
    x: &Tensor,
    axes: &[usize],
    out: &mut [A],
    run: impl Fn(A, &[T]) -> A,
    step: impl Fn(A, T) -> A,
) -> Result<()> {
    if x.numel() == 0 {
        // Nothing to fold: `out` keeps the identities (or is empty itself).
        return Ok(());
    }
    let dims = x.shape();
    // Output stride of each input axis: C-order strides of the kept axes, 0 if reduced.
    let mut ostride = vec![0usize; dims.len()];
    let mut acc = 1;
    for i in (0..dims.len()).rev() {
        if !axes.contains(&i) {
            ostride[i] = acc;
            acc *= dims[i];
        }
    }
    // Drop size-1 axes (NumPy coalesces them away).
    let mut view = x.view::<T>()?;
    for i in (0..dims.len()).rev() {
        if dims[i] == 1 {
            view = view.index_axis_move(Axis(i), 0);
            ostride.remove(i);
        }
    }
    let order = memory_order(view.strides());
    let view = view.permuted_axes(IxDyn(&order));
    // Zero-copy when the input is contiguous in memory order (C, Fortran, any permutation);
    // otherwise one gather into that order.
    let std_layout = view.as_standard_layout();
    let data = std_layout
        .as_slice()
        .ok_or_else(|| EmberError::Backend("reduce: input is not contiguous after copy".into()))?;
    // (size, output stride) per axis, outermost first, coalescing neighbours whose output
    // strides line up (both reduced, or contiguous in the output).
    let pdims = view.shape();
    let mut loops: Vec<(usize, usize)> = Vec::with_capacity(order.len());
    for (k, &i) in order.iter().enumerate() {
        let (d, os) = (pdims[k], ostride[i]);
        match loops.last_mut() {
            Some(last) if last.1 == os * d => *last = (last.0 * d, os),
            _ => loops.push((d, os)),
        }
    }
    let Some((&(inner, istride), lead)) = loops.split_last() else {
        // Every axis has size 1: a single element into a single accumulator.
        if let (Some(o), Some(&v)) = (out.first_mut(), data.first()) {
            *o = step(*o, v);
        }
        return Ok(());
    };
    let runs: usize = lead.iter().map(|l| l.0).product();
    let mut idx = vec![0usize; lead.len()];
    let mut o = 0usize;
    for chunk in data.chunks_exact(inner).take(runs) {
        if istride == 0 {
            out[o] = run(out[o], chunk);
        } else if istride == 1 {
            for (a, &v) in out[o..o + inner].iter_mut().zip(chunk) {
                *a = step(*a, v);
            }
        } else {
            for (j, &v) in chunk.iter().enumerate() {
                let a = &mut out[o + j * istride];
                *a = step(*a, v);
            }
        }
        // Advance the odometer over the outer loops, tracking the output offset.
        for (k, &(d, os)) in lead.iter().enumerate().rev() {
            idx[k] += 1;
            o += os;
            if idx[k] < d {
                break;
            }
            o -= os * d;
            idx[k] = 0;
        }
    }
    Ok(())
}

/// Builds the output of `out`'s type, filled with `init`, and folds `x` into it.
fn reduce_into<T: Element, A: Element>(
    x: &Tensor,
    axes: &[usize],
    out: &ValueType,
    init: A,
    run: impl Fn(A, &[T]) -> A,
    step: impl Fn(A, T) -> A,
) -> Result<Tensor> {
    if out.dtype != A::DTYPE {
        return Err(EmberError::Type(format!(
            "reduce: result dtype {} does not match the accumulator {}",
            out.dtype,
            A::DTYPE
        )));
    }
    build::<A>(&out.shape, |o| {
        o.fill(init);
        fold_runs(x, axes, o, run, step)
    })
}

/// Sum or product of floats: sums are pairwise over reduced runs (NumPy's order), products
/// are sequential (NumPy's multiply has no pairwise loop).
fn float_sum_prod<F: Float>(
    sum: bool,
    x: &Tensor,
    axes: &[usize],
    out: &ValueType,
) -> Result<Tensor> {
    if sum {
        reduce_into(
            x,
            axes,
            out,
            F::ZERO,
            |a, r: &[F]| a + pairwise_sum(r),
            |a, v: F| a + v,
        )
    } else {
        let mul = |a: F, v: F| a * v;
        reduce_into(
            x,
            axes,
            out,
            F::ONE,
            |a, r: &[F]| r.iter().fold(a, |a, &v| mul(a, v)),
            mul,
        )
    }
}

/// Widening of bool and int elements to the int64 accumulator of sum/prod.
trait ToI64: Element {
    fn to_i64(self) -> i64;
}
impl ToI64 for bool {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
}
impl ToI64 for i32 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
}
impl ToI64 for i64 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
}

/// Sum or product of bools and ints, accumulated in int64 with wrapping (order-independent).
fn int_sum_prod<T: ToI64>(
    sum: bool,
    x: &Tensor,
    axes: &[usize],
    out: &ValueType,
) -> Result<Tensor> {
    if sum {
        let add = |a: i64, v: T| a.wrapping_add(v.to_i64());
        reduce_into(
            x,
            axes,
            out,
            0i64,
            |a, r: &[T]| r.iter().fold(a, |a, &v| add(a, v)),
            add,
        )
    } else {
        let mul = |a: i64, v: T| a.wrapping_mul(v.to_i64());
        reduce_into(
            x,
            axes,
            out,
            1i64,
            |a, r: &[T]| r.iter().fold(a, |a, &v| mul(a, v)),
            mul,
        )
    }
}

/// max/min of floats, NaN-propagating. -inf/+inf are identities of max/min on floats (NaN
/// still propagates), so no "first element" bookkeeping is needed; `infer` rejects empty
/// reductions anyway.
fn float_extreme<F: Float>(
    max: bool,
    x: &Tensor,
    axes: &[usize],
    out: &ValueType,
) -> Result<Tensor> {
    // Two monomorphized calls rather than a function pointer, so `pick` inlines and the
    // loops vectorize.
    fn with<F: Float>(
        x: &Tensor,
        axes: &[usize],
        out: &ValueType,
        init: F,
        pick: impl Fn(F, F) -> F + Copy,
    ) -> Result<Tensor> {
        reduce_into(x, axes, out, init, |a, r: &[F]| fold8(a, r, pick), pick)
    }
    if max {
        with(x, axes, out, -F::ONE / F::ZERO, math::maximum::<F>)
    } else {
        with(x, axes, out, F::ONE / F::ZERO, math::minimum::<F>)
    }
}

/// Folds `r` into `init` with an associative `f` through 8 independent accumulators, which
/// the compiler turns into SIMD. For max/min this can only change which of ±0 (or which NaN
/// payload) is returned, as NumPy's own SIMD loops do.
#[inline(always)]
fn fold8<F: Copy>(init: F, r: &[F], f: impl Fn(F, F) -> F) -> F {
    let mut acc = [init; 8];
    let chunks = r.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = f(*a, v);
        }
    }
    let mut res = acc.iter().fold(init, |a, &v| f(a, v));
    for &v in rest {
        res = f(res, v);
    }
    res
}

/// The extreme values of types whose max/min are total orders (ints, bool).
trait Bounded: Element + Ord {
    const LOWEST: Self;
    const HIGHEST: Self;
}
impl Bounded for bool {
    const LOWEST: Self = false;
    const HIGHEST: Self = true;
}
impl Bounded for i32 {
    const LOWEST: Self = i32::MIN;
    const HIGHEST: Self = i32::MAX;
}
impl Bounded for i64 {
    const LOWEST: Self = i64::MIN;
    const HIGHEST: Self = i64::MAX;
}

/// max/min of ints and bools (for bool: any/all).
fn ord_extreme<T: Bounded>(
    max: bool,
    x: &Tensor,
    axes: &[usize],
    out: &ValueType,
) -> Result<Tensor> {
    if max {
        let f = |a: T, v: T| a.max(v);
        reduce_into(
            x,
            axes,
            out,
            T::LOWEST,
            |a, r: &[T]| r.iter().fold(a, |a, &v| f(a, v)),
            f,
        )
    } else {
        let f = |a: T, v: T| a.min(v);
        reduce_into(
            x,
            axes,
            out,
            T::HIGHEST,
            |a, r: &[T]| r.iter().fold(a, |a, &v| f(a, v)),
            f,
        )
    }
}

/// any/all by truthiness; empty reductions give false/true.
fn truth_reduce<T: Truthy>(
    all: bool,
    x: &Tensor,
    axes: &[usize],
    out: &ValueType,
) -> Result<Tensor> {
    if all {
        reduce_into(
            x,
            axes,
            out,
            true,
            |a, r: &[T]| a && r.iter().all(|v| v.truthy()),
            |a, v: T| a & v.truthy(),
        )
    } else {
        reduce_into(
            x,
            axes,
            out,
            false,
            |a, r: &[T]| a || r.iter().any(|v| v.truthy()),
            |a, v: T| a | v.truthy(),
        )
    }
}

/// argmax/argmin along one axis: the first extreme index; NaN counts as the extreme (the
/// first NaN wins), as in NumPy's `@TYPE@_argmax` loops.
fn arg_reduce<T: Ordered>(
    op: ReduceOp,
    x: &Tensor,
    axis: usize,
    out: &ValueType,
) -> Result<Tensor> {
    let v = x.view::<T>()?;
    if x.shape()[axis] == 0 {
        return Err(EmberError::Value(format!(
            "attempt to get {} of an empty sequence",
            op.name()
        )));
    }
    let is_max = op == ReduceOp::ArgMax;
    // The lanes' shape is the input's without `axis`; the output (maybe with a kept size-1
    // axis) has the same elements in the same order.
    let lane_shape: Vec<usize> = x
        .shape()
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != axis)
        .map(|(_, &d)| d)
        .collect();
    build::<i64>(&out.shape, |o| {
        let mut ov = out_view(&lane_shape, o)?;
        ndarray::Zip::from(&mut ov)
            .and(v.lanes(Axis(axis)))
            .for_each(|o, lane| {
                // Contiguous lanes (the last axis of a C-order input) take a slice loop.
                *o = match lane.as_slice() {
                    Some(sl) => first_extreme_slice(sl, is_max),
                    None => first_extreme(lane.iter().copied(), is_max),
                } as i64;
            });
        Ok(())
    })
}

/// The index of the first maximum (or minimum) of a non-empty sequence; a NaN counts as the
/// extreme and ends the search (NumPy's `!(v <= best)` rule).
#[inline]
fn first_extreme<T: Ordered>(mut it: impl Iterator<Item = T>, is_max: bool) -> usize {
    let Some(mut best) = it.next() else {
        return 0;
    };
    if best.is_nan_value() {
        return 0;
    }
    let mut bi = 0usize;
    for (i, v) in it.enumerate() {
        // `best` is never NaN here.
        let better = v.is_nan_value() || if is_max { v > best } else { v < best };
        if better {
            best = v;
            bi = i + 1;
            if v.is_nan_value() {
                break;
            }
        }
    }
    bi
}

/// [`first_extreme`] on a slice in two vectorizable passes: the NaN-propagating extreme,
/// then the first element equal to it (or the first NaN). Equal to the one-pass rule, since
/// the first occurrence of the extreme is the first element that compares equal to it.
fn first_extreme_slice<T: Ordered>(s: &[T], is_max: bool) -> usize {
    let Some(&first) = s.first() else {
        return 0;
    };
    let m = if is_max {
        fold8(
            first,
            s,
            |a: T, v: T| if a > v || a.is_nan_value() { a } else { v },
        )
    } else {
        fold8(
            first,
            s,
            |a: T, v: T| if a < v || a.is_nan_value() { a } else { v },
        )
    };
    let nan = m.is_nan_value();
    s.iter()
        .position(|&v| if nan { v.is_nan_value() } else { v == m })
        .unwrap_or(0)
}
