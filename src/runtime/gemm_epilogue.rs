//! Matmul epilogues the GEMM applies itself as it stores each tile of C: when the fused
//! epilogue kernel after a matmul computes `maximum(product + addend, 0)`, `product + addend`
//! or `maximum(product, 0)` (relu written as `np.maximum(x, 0)` or `relu`), the plan runs one
//! GEMM with that epilogue instead of a GEMM followed by a kernel, so the product is written
//! once and never read back. Any other epilogue keeps its compiled kernel.
//!
//! The addend is any value that broadcasts to the product's last two dimensions (a bias row,
//! a per-row column, a full matrix, a scalar) with the product's dtype; it is the same for
//! every matrix of a batched product.

use super::launch::gemm_applies;
use ember_ir::op::{BinaryOp, UnaryOp};
use ember_ir::passes::fuse::KernelStep;
use ember_ir::{Graph, NodeId, Op, ValueType};

/// A matmul step whose epilogue the GEMM stores.
#[derive(Debug, Clone)]
pub(super) struct GemmEpilogue {
    /// The value the step writes (the epilogue's result).
    pub output: NodeId,
    /// Added to the product, if anything is.
    pub addend: Option<NodeId>,
    /// `maximum(x, 0)` last.
    pub relu: bool,
    /// The graph nodes the step computes, the matmul first.
    pub nodes: Vec<NodeId>,
}

/// The GEMM-stored form of the matmul `mm = a @ b` followed by `epilogue`, when it has one.
pub(super) fn recognize(
    graph: &Graph,
    (a, b, mm): (NodeId, NodeId, NodeId),
    epilogue: &KernelStep,
) -> Option<GemmEpilogue> {
    let &[output] = epilogue.outputs.as_slice() else {
        return None;
    };
    let ty = &graph.node(mm).ty;
    if !gemm_applies(&graph.node(a).ty, &graph.node(b).ty, ty) || graph.node(output).ty != *ty {
        return None;
    }
    let mut nodes = Vec::new();
    let mut cur = output;
    let ops = graph.operands(cur);
    let relu = match (&graph.node(cur).op, ops.as_slice()) {
        (Op::Unary(UnaryOp::Relu), &[x]) => Some(x),
        // maximum(x, +0.0) is relu exactly (NaN stays, -0.0 becomes +0.0); maximum(0, x)
        // keeps -0.0, so it is not.
        (Op::Binary(BinaryOp::Max), &[x, z]) if is_positive_zero(graph, z) => Some(x),
        _ => None,
    };
    if let Some(x) = relu {
        nodes.push(cur);
        cur = x;
    }
    let mut addend = None;
    if cur != mm {
        let ops = graph.operands(cur);
        let d = match (&graph.node(cur).op, ops.as_slice()) {
            (Op::Binary(BinaryOp::Add), &[x, d]) if x == mm && d != mm => d,
            (Op::Binary(BinaryOp::Add), &[d, x]) if x == mm && d != mm => d,
            _ => return None,
        };
        // The addend must exist before the step: an input of the epilogue kernel or a
        // constant (bound by the runtime), not a value computed inside the kernel.
        let available = epilogue.inputs.contains(&d) || matches!(graph.node(d).op, Op::Const(_));
        if !available
            || graph.node(cur).ty != *ty
            || !broadcasts_over_batches(&graph.node(d).ty, ty)
        {
            return None;
        }
        nodes.push(cur);
        addend = Some(d);
    }
    nodes.push(mm);
    nodes.reverse();
    // The epilogue must be exactly these ops (nothing else fused into its kernel).
    (nodes.len() > 1).then_some(GemmEpilogue {
        output,
        addend,
        relu: relu.is_some(),
        nodes,
    })
}

/// A constant whose every element is +0.0 (or an integer zero).
fn is_positive_zero(graph: &Graph, n: NodeId) -> bool {
    match &graph.node(n).op {
        Op::Const(lit) => lit.splat_value().is_some_and(|s| {
            let x = s.to_f64();
            x == 0.0 && x.is_sign_positive()
        }),
        _ => false,
    }
}

/// Whether `d` (already known to broadcast to `ty`) has the product's dtype and no batch
/// dimension of its own: one addend matrix serves every matrix of the batch.
fn broadcasts_over_batches(d: &ValueType, ty: &ValueType) -> bool {
    let nd = d.shape.len();
    d.dtype == ty.dtype
        && nd <= ty.shape.len()
        && d.shape[..nd.saturating_sub(2)].iter().all(|&s| s == 1)
}
