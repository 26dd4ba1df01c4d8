//! Constant folding: a node whose operands are all constants is evaluated now and replaced by
//! a constant. The IR has no kernels, so evaluation goes through a [`ConstEvaluator`] in the
//! [`PassContext`] (the `ember` crate implements it with its eager kernels).

use super::PassContext;
use crate::error::{IrError, Result};
use crate::graph::Graph;
use crate::literal::Literal;
use crate::op::{Op, ValueType};
use crate::text::numbering;

/// Evaluates one op on constant operands.
pub trait ConstEvaluator {
    /// The value of `op` applied to `args`, which must have type `out`; `None` when the
    /// evaluator does not support the op (the node then stays as it is).
    fn eval(&self, op: &Op, args: &[&Literal], out: &ValueType) -> Option<Literal>;
}

/// Folds every node whose operands are all constants and whose result has at most
/// `ctx.max_fold_elements` elements. Copies stay (placement decided them), and so do outputs.
pub fn run(graph: &mut Graph, ctx: &PassContext<'_>) -> Result<bool> {
    let Some(evaluator) = ctx.evaluator else {
        return Ok(false);
    };
    let mut changed = false;
    for id in graph.topo_order()? {
        let node = graph.node(id);
        if matches!(
            node.op,
            Op::Input { .. } | Op::Const(_) | Op::Copy(_) | Op::Output { .. }
        ) {
            continue;
        }
        let small = node
            .ty
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .is_some_and(|n| n <= ctx.max_fold_elements);
        if !small {
            continue;
        }
        let operands = graph.operands(id);
        let args: Option<Vec<&Literal>> = operands
            .iter()
            .map(|&o| match &graph.node(o).op {
                Op::Const(lit) => Some(lit),
                _ => None,
            })
            .collect();
        let Some(args) = args else { continue };
        let Some(lit) = evaluator.eval(&node.op, &args, &node.ty) else {
            continue;
        };
        let got = ValueType::new(lit.dtype, &lit.shape);
        if got != node.ty || lit.data.len() != node.ty.nbytes() {
            let k = numbering(graph).get(&id).copied().unwrap_or(id.index());
            return Err(IrError::Verify(format!(
                "%{k} {}: the constant evaluator returned {got} ({} bytes) for a {} result",
                node.op.name(),
                lit.data.len(),
                node.ty
            )));
        }
        let (ty, device, loc) = (node.ty.clone(), node.device, node.loc.clone());
        let folded = graph.add_typed(Op::Const(lit), ty, device, &[], loc);
        graph.replace_uses(id, folded);
        graph.remove(id);
        changed = true;
    }
    Ok(changed)
}
