//! Algebraic simplification: rewrites that are exact for every input, NaN, infinities and the
//! sign of zero included.
//!
//! - `x * 1`, `1 * x`, `x / 1`, `x + c`, `c + x`, `x - c` become `x` when the result has
//!   exactly `x`'s dtype and shape (so `x_i32 * 1.0`, a float64, stays, and so does a
//!   broadcast that grows the shape). The constant may be any splat and is judged after
//!   conversion to the computation's dtype. For floats the additive identity is `-0.0`
//!   (`-0.0 + 0.0` is `+0.0`), so `x + 0.0` stays while `x - 0.0` goes; for ints and bools any
//!   zero works.
//! - `x - x` becomes zeros for integers only (floats: `inf - inf` is NaN).
//! - `-(-x)`, and `logical_not(logical_not(x))` for bool `x`, become `x`.
//! - Permutes compose; reshapes and broadcasts of the same kind collapse into one; an identity
//!   permute, a reshape or broadcast to the operand's own shape, a cast to its own dtype and a
//!   slice that takes everything disappear.
//! - `cast(cast(x, wide), narrow)` becomes `x` when `narrow` is `x`'s dtype and every value of
//!   it is exactly representable in `wide` (bool to anything, i32 to i64 or f64, f32 to f64).

use super::PassContext;
use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::graph::{Graph, Node, NodeId};
use crate::literal::{Literal, Scalar};
use crate::op::{BinaryOp, Op, UnaryOp};
use crate::text::numbering;

/// Applies every rewrite once over the graph; returns whether any applied. Replaced nodes are
/// removed; operands they leave unused are for `dce`.
pub fn run(graph: &mut Graph, _ctx: &PassContext<'_>) -> Result<bool> {
    let mut changed = false;
    for id in graph.topo_order()? {
        if graph.try_node(id).is_err() {
            continue;
        }
        let Some(new) = rewrite(graph, id)? else {
            continue;
        };
        let (old_ty, new_ty) = (&graph.node(id).ty, &graph.node(new).ty);
        if old_ty != new_ty {
            let k = numbering(graph).get(&id).copied().unwrap_or(id.index());
            return Err(IrError::Verify(format!(
                "simplify: rewriting %{k} {} changed its type from {old_ty} to {new_ty}",
                graph.node(id).op.name()
            )));
        }
        graph.replace_uses(id, new);
        graph.remove(id);
        changed = true;
    }
    Ok(changed)
}

/// The value that replaces `id`, when a rule applies (it may be a new node).
fn rewrite(g: &mut Graph, id: NodeId) -> Result<Option<NodeId>> {
    let node = g.node(id).clone();
    let ops = g.operands(id);
    let op_of = |g: &Graph, x: NodeId| g.node(x).op.clone();
    // The operand of a unary node `x` (graphs are verified, but a pass must not panic).
    let inner = |g: &Graph, x: NodeId| g.operands(x).first().copied();
    let Some(&x) = ops.first() else {
        return Ok(None);
    };
    let xt = g.node(x).ty.clone();
    Ok(match &node.op {
        Op::Binary(b) if ops.len() == 2 => binary(g, *b, &node, x, ops[1])?,
        Op::Unary(u @ (UnaryOp::Neg | UnaryOp::LogicalNot)) => match op_of(g, x) {
            Op::Unary(v) if v == *u => inner(g, x).filter(|&src| g.node(src).ty == node.ty),
            _ => None,
        },
        Op::Permute(p) => {
            let (src, perm) = match op_of(g, x) {
                // out[i] = mid[p[i]] = src[q[p[i]]]
                Op::Permute(q) => {
                    match (inner(g, x), p.iter().map(|&i| q.get(i).copied()).collect()) {
                        (Some(src), Some(q)) => (src, q),
                        _ => return Ok(None),
                    }
                }
                _ => (x, p.clone()),
            };
            if perm.iter().enumerate().all(|(i, &p)| i == p) {
                Some(src)
            } else if src != x {
                Some(g.add(Op::Permute(perm), &[src], node.loc.clone())?)
            } else {
                None
            }
        }
        Op::Reshape(shape) | Op::Broadcast(shape) => {
            let same_kind =
                std::mem::discriminant(&op_of(g, x)) == std::mem::discriminant(&node.op);
            let src = if same_kind {
                inner(g, x).unwrap_or(x)
            } else {
                x
            };
            if g.node(src).ty.shape == *shape {
                Some(src)
            } else if src != x {
                Some(g.add(node.op.clone(), &[src], node.loc.clone())?)
            } else {
                None
            }
        }
        Op::Cast(to) if xt.dtype == *to => Some(x),
        Op::Cast(to) => match op_of(g, x) {
            Op::Cast(mid) => {
                inner(g, x).filter(|&src| g.node(src).ty.dtype == *to && exact_widening(*to, mid))
            }
            _ => None,
        },
        Op::Slice(dims) => {
            let all = dims.len() == xt.shape.len()
                && dims.iter().zip(&xt.shape).all(|(d, &n)| {
                    d.len == n && (n == 0 || d.start == 0) && (n <= 1 || d.step == 1)
                });
            all.then_some(x)
        }
        _ => None,
    })
}

/// The rules for binary ops with an identity constant, and `x - x` for integers.
fn binary(g: &mut Graph, b: BinaryOp, node: &Node, a: NodeId, c: NodeId) -> Result<Option<NodeId>> {
    let dtype = node.ty.dtype;
    // The identity holds only when the result is exactly the kept operand's dtype and shape.
    let keeps = |x: NodeId| g.node(x).ty == node.ty;
    let splat = |x: NodeId| match &g.node(x).op {
        Op::Const(lit) => lit.splat_value().map(|s| s.cast(dtype)),
        _ => None,
    };
    let is = |x: NodeId, pred: fn(Scalar) -> bool| splat(x).is_some_and(pred);
    let found = match b {
        BinaryOp::Mul if is(c, is_one) && keeps(a) => Some(a),
        BinaryOp::Mul if is(a, is_one) && keeps(c) => Some(c),
        BinaryOp::Add if is(c, is_add_identity) && keeps(a) => Some(a),
        BinaryOp::Add if is(a, is_add_identity) && keeps(c) => Some(c),
        BinaryOp::Sub if is(c, is_sub_identity) && keeps(a) => Some(a),
        BinaryOp::Div if is(c, is_one) && keeps(a) => Some(a),
        _ => None,
    };
    if found.is_some() {
        return Ok(found);
    }
    if b == BinaryOp::Sub && a == c && dtype.is_int() {
        let zero = Literal::scalar(Scalar::I64(0).cast(dtype));
        let device = node.device;
        let scalar_ty = crate::op::ValueType::new(dtype, &[]);
        let z = g.add_typed(Op::Const(zero), scalar_ty, device, &[], node.loc.clone());
        if node.ty.shape.is_empty() {
            return Ok(Some(z));
        }
        return Ok(Some(g.add(
            Op::Broadcast(node.ty.shape.clone()),
            &[z],
            node.loc.clone(),
        )?));
    }
    Ok(None)
}

fn is_one(s: Scalar) -> bool {
    match s {
        Scalar::Bool(v) => v,
        Scalar::I32(v) => v == 1,
        Scalar::I64(v) => v == 1,
        Scalar::F32(v) => v == 1.0,
        Scalar::F64(v) => v == 1.0,
    }
}

/// `x + s == x` for every `x`: false/0 for bools and ints, `-0.0` for floats.
fn is_add_identity(s: Scalar) -> bool {
    match s {
        Scalar::Bool(v) => !v,
        Scalar::I32(v) => v == 0,
        Scalar::I64(v) => v == 0,
        Scalar::F32(v) => v == 0.0 && v.is_sign_negative(),
        Scalar::F64(v) => v == 0.0 && v.is_sign_negative(),
    }
}

/// `x - s == x` for every `x`: 0 for ints, `+0.0` for floats (bool subtract does not exist).
fn is_sub_identity(s: Scalar) -> bool {
    match s {
        Scalar::Bool(_) => false,
        Scalar::I32(v) => v == 0,
        Scalar::I64(v) => v == 0,
        Scalar::F32(v) => v == 0.0 && v.is_sign_positive(),
        Scalar::F64(v) => v == 0.0 && v.is_sign_positive(),
    }
}

/// True when every value of `from` converts to `to` exactly and back to itself.
fn exact_widening(from: DType, to: DType) -> bool {
    use DType::*;
    matches!(
        (from, to),
        (Bool, I32 | I64 | F32 | F64) | (I32, I64 | F64) | (F32, F64)
    )
}
