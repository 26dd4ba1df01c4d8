//! Rewrites every [`Composite`] op into primitives. The expansion is written once, in
//! [`expand`], against the [`Emitter`] trait: this pass emits into the graph, and eager mode
//! emits by running kernels, so both compute exactly the same thing.
//!
//! Result dtypes follow NumPy (as [`Op::infer`] on the composite defines them): the input is
//! cast to its float result dtype first (int32 becomes float64, float32 stays), and every
//! scalar constant has that dtype, so nothing is promoted to float64 by accident.

use super::PassContext;
use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId, SourceLoc};
use crate::literal::{Literal, Scalar};
use crate::op::{BinaryOp, Composite, Device, Op, ReduceOp, UnaryOp, ValueType};
use crate::shape::{reduced_shape, Shape};
use smallvec::SmallVec;

/// Where an expansion puts the primitives it makes: graph nodes, or eagerly computed tensors.
pub trait Emitter {
    /// A value: a node id, a tensor.
    type Value: Clone;
    /// Applies a primitive `op` to `args`; implementations check types with [`Op::infer`].
    fn emit(&mut self, op: Op, args: &[Self::Value]) -> Result<Self::Value>;
    /// The dtype and shape of a value.
    fn value_type(&self, v: &Self::Value) -> ValueType;
    /// A constant value.
    fn constant(&mut self, lit: Literal) -> Result<Self::Value>;
}

/// Expands composite `c` applied to `x` into primitives emitted through `e`, returning the
/// value of the composite's result (whose type is `Op::Composite(c).infer(x)`).
///
/// Reductions of an empty axis follow NumPy: a mean or variance over nothing is NaN (0/0), a
/// logsumexp over nothing is `-inf`.
pub fn expand<E: Emitter>(c: &Composite, x: E::Value, e: &mut E) -> Result<E::Value> {
    let xt = e.value_type(&x);
    let want = Op::Composite(c.clone()).infer(&[&xt])?;
    let float = want.dtype;
    let xf = cast(e, x, float)?;
    let shape = xt.shape.clone();
    let out = match c {
        Composite::Mean { axes, keepdims } => mean(e, xf, &shape, axes, *keepdims)?,
        Composite::Var {
            axes,
            keepdims,
            ddof,
        } => var(e, xf, &shape, axes, *keepdims, *ddof)?,
        Composite::Std {
            axes,
            keepdims,
            ddof,
        } => {
            let v = var(e, xf, &shape, axes, *keepdims, *ddof)?;
            unary(e, UnaryOp::Sqrt, v)?
        }
        Composite::Softmax { axis } => {
            if numel(&shape) == 0 {
                // Nothing to compute (and `max` of an empty axis would be an error).
                xf
            } else {
                // exp(x - max) / sum(exp(x - max)), like scipy.special.softmax.
                let m = reduce(e, ReduceOp::Max, xf.clone(), &[*axis], true)?;
                let shifted = binary(e, BinaryOp::Sub, xf, m)?;
                let ex = unary(e, UnaryOp::Exp, shifted)?;
                let s = reduce(e, ReduceOp::Sum, ex.clone(), &[*axis], true)?;
                binary(e, BinaryOp::Div, ex, s)?
            }
        }
        Composite::LogSoftmax { axis } => {
            if numel(&shape) == 0 {
                xf
            } else {
                // (x - max) - log(sum(exp(x - max))), like scipy.special.log_softmax.
                let m = finite_max(e, xf.clone(), &[*axis], float)?;
                let shifted = binary(e, BinaryOp::Sub, xf, m)?;
                let ex = unary(e, UnaryOp::Exp, shifted.clone())?;
                let s = reduce(e, ReduceOp::Sum, ex, &[*axis], true)?;
                let l = unary(e, UnaryOp::Log, s)?;
                binary(e, BinaryOp::Sub, shifted, l)?
            }
        }
        Composite::LogSumExp { axes, keepdims } => {
            if axes.iter().any(|&a| shape[a] == 0) {
                // log(sum(exp(nothing))) = log(0) = -inf; there is no max to shift by.
                let ex = unary(e, UnaryOp::Exp, xf)?;
                let s = reduce(e, ReduceOp::Sum, ex, axes, *keepdims)?;
                unary(e, UnaryOp::Log, s)?
            } else {
                // log(sum(exp(x - m))) + m with m = max(x) where finite, else 0, like scipy.
                let m = finite_max(e, xf.clone(), axes, float)?;
                let shifted = binary(e, BinaryOp::Sub, xf, m.clone())?;
                let ex = unary(e, UnaryOp::Exp, shifted)?;
                let s = reduce(e, ReduceOp::Sum, ex, axes, *keepdims)?;
                let l = unary(e, UnaryOp::Log, s)?;
                let m = if *keepdims {
                    m
                } else {
                    e.emit(Op::Reshape(reduced_shape(&shape, axes, false)), &[m])?
                };
                binary(e, BinaryOp::Add, l, m)?
            }
        }
        Composite::Gelu { approximate: false } => {
            // 0.5 * x * (1 + erf(x / sqrt(2)))
            let root2 = constant(e, std::f64::consts::SQRT_2, float)?;
            let scaled = binary(e, BinaryOp::Div, xf.clone(), root2)?;
            let erf = unary(e, UnaryOp::Erf, scaled)?;
            gelu_tail(e, xf, erf, float)?
        }
        Composite::Gelu { approximate: true } => {
            // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
            let sq = unary(e, UnaryOp::Square, xf.clone())?;
            let cube = binary(e, BinaryOp::Mul, sq, xf.clone())?;
            let k = constant(e, 0.044715, float)?;
            let kc = binary(e, BinaryOp::Mul, k, cube)?;
            let inner = binary(e, BinaryOp::Add, xf.clone(), kc)?;
            let scale = constant(e, (2.0 / std::f64::consts::PI).sqrt(), float)?;
            let arg = binary(e, BinaryOp::Mul, scale, inner)?;
            let t = unary(e, UnaryOp::Tanh, arg)?;
            gelu_tail(e, xf, t, float)?
        }
        Composite::Silu => {
            let s = unary(e, UnaryOp::Sigmoid, xf.clone())?;
            binary(e, BinaryOp::Mul, xf, s)?
        }
        Composite::LayerNorm { axes, eps_bits } => {
            // (x - mean) / sqrt(var + eps), the variance over the same axes with ddof 0.
            let m = mean(e, xf.clone(), &shape, axes, true)?;
            let d = binary(e, BinaryOp::Sub, xf, m)?;
            let sq = unary(e, UnaryOp::Square, d.clone())?;
            let v = mean(e, sq, &shape, axes, true)?;
            let eps = constant(e, f64::from_bits(*eps_bits), float)?;
            let ve = binary(e, BinaryOp::Add, v, eps)?;
            let sd = unary(e, UnaryOp::Sqrt, ve)?;
            binary(e, BinaryOp::Div, d, sd)?
        }
    };
    let got = e.value_type(&out);
    if got != want {
        return Err(IrError::Verify(format!(
            "decompose {}: the expansion gives {got}, expected {want}",
            c.name()
        )));
    }
    Ok(out)
}

/// `0.5 * x * (1 + t)`.
fn gelu_tail<E: Emitter>(e: &mut E, x: E::Value, t: E::Value, dtype: DType) -> Result<E::Value> {
    let one = constant(e, 1.0, dtype)?;
    let half = constant(e, 0.5, dtype)?;
    let hx = binary(e, BinaryOp::Mul, half, x)?;
    let opt = binary(e, BinaryOp::Add, one, t)?;
    binary(e, BinaryOp::Mul, hx, opt)
}

/// `sum(x) / n` over `axes` (`x` already in the float result dtype).
fn mean<E: Emitter>(
    e: &mut E,
    x: E::Value,
    shape: &[usize],
    axes: &[usize],
    keepdims: bool,
) -> Result<E::Value> {
    let dtype = e.value_type(&x).dtype;
    let s = reduce(e, ReduceOp::Sum, x, axes, keepdims)?;
    let n = constant(e, count(shape, axes) as f64, dtype)?;
    binary(e, BinaryOp::Div, s, n)
}

/// `sum(square(x - mean(x))) / max(n - ddof, 0)`, as NumPy computes it.
fn var<E: Emitter>(
    e: &mut E,
    x: E::Value,
    shape: &[usize],
    axes: &[usize],
    keepdims: bool,
    ddof: u32,
) -> Result<E::Value> {
    let dtype = e.value_type(&x).dtype;
    let m = mean(e, x.clone(), shape, axes, true)?;
    let d = binary(e, BinaryOp::Sub, x, m)?;
    let sq = unary(e, UnaryOp::Square, d)?;
    let s = reduce(e, ReduceOp::Sum, sq, axes, keepdims)?;
    let dof = count(shape, axes).saturating_sub(ddof as usize);
    let n = constant(e, dof as f64, dtype)?;
    binary(e, BinaryOp::Div, s, n)
}

/// `max(x, axes, keepdims=True)`, with non-finite maxima replaced by 0 so that shifting by it
/// never makes `inf - inf` (scipy's guard in logsumexp and log_softmax).
fn finite_max<E: Emitter>(
    e: &mut E,
    x: E::Value,
    axes: &[usize],
    dtype: DType,
) -> Result<E::Value> {
    let m = reduce(e, ReduceOp::Max, x, axes, true)?;
    let finite = unary(e, UnaryOp::IsFinite, m.clone())?;
    let zero = constant(e, 0.0, dtype)?;
    e.emit(Op::Where, &[finite, m, zero])
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The number of elements each reduction over `axes` combines.
fn count(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter()
        .map(|&a| shape.get(a).copied().unwrap_or(1))
        .product()
}

fn constant<E: Emitter>(e: &mut E, v: f64, dtype: DType) -> Result<E::Value> {
    e.constant(Literal::scalar(Scalar::F64(v).cast(dtype)))
}

fn cast<E: Emitter>(e: &mut E, x: E::Value, dtype: DType) -> Result<E::Value> {
    if e.value_type(&x).dtype == dtype {
        Ok(x)
    } else {
        e.emit(Op::Cast(dtype), &[x])
    }
}

fn unary<E: Emitter>(e: &mut E, op: UnaryOp, x: E::Value) -> Result<E::Value> {
    e.emit(Op::Unary(op), &[x])
}

fn binary<E: Emitter>(e: &mut E, op: BinaryOp, a: E::Value, b: E::Value) -> Result<E::Value> {
    e.emit(Op::Binary(op), &[a, b])
}

fn reduce<E: Emitter>(
    e: &mut E,
    op: ReduceOp,
    x: E::Value,
    axes: &[usize],
    keepdims: bool,
) -> Result<E::Value> {
    let op = Op::Reduce {
        op,
        axes: SmallVec::from_slice(axes),
        keepdims,
    };
    e.emit(op, &[x])
}

/// Emits into a graph: every node gets the composite's device and source location.
pub struct GraphEmitter<'g> {
    /// The graph being rewritten.
    pub graph: &'g mut Graph,
    /// The device of the composite being expanded.
    pub device: Device,
    /// The composite's source location, given to every node of its expansion.
    pub loc: Option<SourceLoc>,
}

impl Emitter for GraphEmitter<'_> {
    type Value = NodeId;

    fn emit(&mut self, op: Op, args: &[NodeId]) -> Result<NodeId> {
        let types: SmallVec<[&ValueType; 4]> = args
            .iter()
            .map(|&a| self.graph.try_node(a).map(|n| &n.ty))
            .collect::<Result<_>>()?;
        let ty = op.infer(&types)?;
        drop(types);
        Ok(self
            .graph
            .add_typed(op, ty, self.device, args, self.loc.clone()))
    }

    fn value_type(&self, v: &NodeId) -> ValueType {
        self.graph
            .try_node(*v)
            .map_or_else(|_| ValueType::new(DType::Bool, &[]), |n| n.ty.clone())
    }

    fn constant(&mut self, lit: Literal) -> Result<NodeId> {
        let ty = ValueType {
            dtype: lit.dtype,
            shape: Shape::from_slice(&lit.shape),
        };
        Ok(self
            .graph
            .add_typed(Op::Const(lit), ty, self.device, &[], self.loc.clone()))
    }
}

/// Replaces every composite node by its expansion; returns whether there was any.
pub fn run(graph: &mut Graph, _ctx: &PassContext<'_>) -> Result<bool> {
    let mut changed = false;
    for id in graph.topo_order()? {
        let node = graph.node(id);
        let Op::Composite(c) = &node.op else {
            continue;
        };
        let (c, device, loc) = (c.clone(), node.device, node.loc.clone());
        let Some(&x) = graph.operands(id).first() else {
            continue;
        };
        let mut emitter = GraphEmitter { graph, device, loc };
        let out = expand(&c, x, &mut emitter)?;
        graph.replace_uses(id, out);
        graph.remove(id);
        changed = true;
    }
    Ok(changed)
}
