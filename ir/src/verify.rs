//! The graph verifier: the invariants every pass must preserve. It runs after every pass in
//! tests and debug builds, and whenever a `PassContext` asks for it.

use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::op::{Op, ValueType};
use crate::text::numbering;
use smallvec::SmallVec;
use std::cell::OnceCell;
use std::collections::HashMap;

/// Checks that `graph` is well formed:
///
/// - it has no cycle;
/// - every node has the operand count its op takes ([`Op::arity`]), and concat at least one;
/// - every node's stored type equals [`Op::infer`] of its operands' types (constants: their
///   literal's, whose byte length must match);
/// - `graph.inputs()[i]` is the node `input i` and every input node is listed, likewise for
///   outputs; outputs have no users;
/// - a copy changes the device (it lives on its target, its operand elsewhere), and every other
///   op's operands live on that op's device.
///
/// Errors name the node as the text form numbers it: `%12 add: ...`, `output 0: ...`.
pub fn verify(graph: &Graph) -> Result<()> {
    let order = graph.topo_order().map_err(|_| cycle_error(graph))?;
    // Numbering the nodes costs a traversal; only messages need it.
    let names = OnceCell::new();
    let names = || names.get_or_init(|| numbering(graph));
    let label = |id: NodeId| -> String {
        let node = graph.node(id);
        match (&node.op, names().get(&id)) {
            (Op::Output { index }, _) => format!("output {index}"),
            (op, Some(k)) => format!("%{k} {}", op.name()),
            (op, None) => format!("node {} {}", id.index(), op.name()),
        }
    };
    let fail = |id: NodeId, why: String| Err(IrError::Verify(format!("{}: {why}", label(id))));

    for (list, what) in [(graph.inputs(), "input"), (graph.outputs(), "output")] {
        for (i, &id) in list.iter().enumerate() {
            let node = graph.try_node(id).map_err(|_| {
                IrError::Verify(format!("graph {what} {i} refers to a removed node"))
            })?;
            let index = match node.op {
                Op::Input { index } if what == "input" => index,
                Op::Output { index } if what == "output" => index,
                _ => {
                    return fail(
                        id,
                        format!("is listed as graph {what} {i} but is not an {what}"),
                    )
                }
            };
            if index != i {
                return fail(
                    id,
                    format!("is listed as graph {what} {i} but has index {index}"),
                );
            }
        }
    }

    for id in order {
        let node = graph.node(id);
        let operands = graph.operands(id);
        let name_of = |o: NodeId| {
            names()
                .get(&o)
                .map_or_else(|| label(o), |k| format!("%{k}"))
        };
        match node.op {
            Op::Input { index } if graph.inputs().get(index) != Some(&id) => {
                return fail(id, format!("is not registered as graph input {index}"));
            }
            Op::Output { index } => {
                if graph.outputs().get(index) != Some(&id) {
                    return fail(id, format!("is not registered as graph output {index}"));
                }
                if let Some(&user) = graph.users(id).first() {
                    return fail(id, format!("an output has a user ({})", label(user)));
                }
            }
            _ => {}
        }
        match node.op.arity() {
            Some(n) if n != operands.len() => {
                return fail(
                    id,
                    format!("expected {n} operand(s), got {}", operands.len()),
                );
            }
            None if operands.is_empty() => return fail(id, "needs at least one operand".into()),
            _ => {}
        }
        if let Op::Const(lit) = &node.op {
            let want = lit
                .shape
                .iter()
                .try_fold(lit.dtype.size(), |acc, &d| acc.checked_mul(d));
            if want != Some(lit.data.len()) {
                return fail(
                    id,
                    format!(
                        "constant of type {} holds {} bytes",
                        ValueType::new(lit.dtype, &lit.shape),
                        lit.data.len()
                    ),
                );
            }
        }
        if !matches!(node.op, Op::Input { .. }) {
            let types: SmallVec<[&ValueType; 4]> =
                operands.iter().map(|&o| &graph.node(o).ty).collect();
            match node.op.infer(&types) {
                Err(e) => return fail(id, e.to_string()),
                Ok(t) if t != node.ty => {
                    return fail(
                        id,
                        format!("stored type is {} but its operands give {t}", node.ty),
                    );
                }
                Ok(_) => {}
            }
        }
        if let Op::Copy(target) = node.op {
            if node.device != target {
                return fail(
                    id,
                    format!("lives on {} but copies to {target}", node.device),
                );
            }
            if let Some(&o) = operands.iter().find(|&&o| graph.node(o).device == target) {
                return fail(
                    id,
                    format!("copies {}, which is already on {target}", name_of(o)),
                );
            }
        } else if let Some(&o) = operands.iter().find(|&&o| {
            // Constants are materialized on every device that reads them (when the plan is
            // built), so a constant operand may sit anywhere.
            let operand = graph.node(o);
            operand.device != node.device && !matches!(operand.op, Op::Const(_))
        }) {
            return fail(
                id,
                format!(
                    "operand {} is on {}, but the op runs on {}",
                    name_of(o),
                    graph.node(o).device,
                    node.device
                ),
            );
        }
    }
    Ok(())
}

/// Names the nodes that sit on a cycle (Kahn's algorithm leaves them with operands unvisited;
/// the ones reachable from themselves are on the cycle).
fn cycle_error(graph: &Graph) -> IrError {
    let mut indegree: HashMap<NodeId, usize> = graph
        .node_ids()
        .map(|n| (n, graph.operands(n).len()))
        .collect();
    let mut ready: Vec<NodeId> = indegree
        .iter()
        .filter(|(_, &d)| d == 0)
        .map(|(&n, _)| n)
        .collect();
    while let Some(n) = ready.pop() {
        for user in graph
            .petgraph()
            .neighbors_directed(n, petgraph::Direction::Outgoing)
        {
            if let Some(d) = indegree.get_mut(&user) {
                *d -= 1;
                if *d == 0 {
                    ready.push(user);
                }
            }
        }
        indegree.remove(&n);
    }
    let mut stuck: Vec<NodeId> = indegree.into_keys().collect();
    stuck.sort_unstable();
    let shown: Vec<String> = stuck
        .iter()
        .take(8)
        .map(|&n| format!("node {} {}", n.index(), graph.node(n).op.name()))
        .collect();
    IrError::Verify(format!(
        "the graph has a cycle through or feeding {}",
        shown.join(", ")
    ))
}
