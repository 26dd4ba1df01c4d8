//! Which graph nodes an accelerator can run: what placement may move off the host.
//!
//! A device runs what becomes a generated kernel (elementwise ops, casts, `where`,
//! broadcasts, reductions), float matrix products of operands with at least two dimensions
//! (stacks of matrices broadcast like NumPy's; cuBLAS or the tiled kernel), and the layout
//! ops that are views (reshape, permute, slice, broadcast). Everything else (concatenation,
//! integer matmul, products with a 1-d operand, integer powers that may raise, empty values)
//! stays on the host, and placement says so.

use ember_ir::{BinaryOp, Graph, NodeId, Op};

/// `Ok` when an accelerator can run node `n`, else why not (shown by `explain`).
pub fn device_can_run(g: &Graph, n: NodeId) -> Result<(), String> {
    let node = g.node(n);
    let ops = g.operands(n);
    let computed = !matches!(
        node.op,
        Op::Input { .. } | Op::Output { .. } | Op::Const(_) | Op::Copy(_)
    );
    if computed && node.ty.numel() == 0 {
        return Err("empty values are made on the host".into());
    }
    match &node.op {
        Op::Unary(_) | Op::Where | Op::Cast(_) | Op::Broadcast(_) => Ok(()),
        Op::Binary(BinaryOp::Pow) if !node.ty.dtype.is_float() => {
            Err("integer power (may raise for negative exponents) runs on the host".into())
        }
        Op::Binary(_) => Ok(()),
        Op::Reduce { axes, op, .. } => {
            if axes.is_empty() && op.name().starts_with("arg") {
                Err(format!(
                    "{} needs an axis; the host raises the error",
                    op.name()
                ))
            } else {
                Ok(())
            }
        }
        Op::Reshape(_) | Op::Permute(_) | Op::Slice(_) => Ok(()),
        Op::MatMul => {
            let matrices = ops.iter().all(|&o| g.node(o).ty.shape.len() >= 2);
            let float = node.ty.dtype.is_float()
                && ops.iter().all(|&o| g.node(o).ty.dtype == node.ty.dtype);
            if matrices && float {
                Ok(())
            } else {
                Err(
                    "only float matmul of operands with at least 2 dimensions runs on a \
                     device"
                        .into(),
                )
            }
        }
        Op::Concat { .. } => Err("concatenate has no device kernel".into()),
        Op::Composite(c) => Err(format!("composite {} is not decomposed", c.name())),
        Op::Input { .. } | Op::Output { .. } | Op::Const(_) | Op::Copy(_) => Ok(()),
    }
}
