//! Dead-code elimination: removes every node the outputs do not depend on. Inputs always stay
//! (they are the graph's signature), and so do outputs.

use super::PassContext;
use crate::error::Result;
use crate::graph::Graph;
use crate::op::Op;
use std::collections::HashSet;

/// Removes the nodes not reachable backwards from an output; returns whether any went.
pub fn run(graph: &mut Graph, _ctx: &PassContext<'_>) -> Result<bool> {
    let mut live = HashSet::new();
    let mut stack = graph.outputs().to_vec();
    while let Some(id) = stack.pop() {
        if live.insert(id) {
            stack.extend(graph.operands(id));
        }
    }
    let dead: Vec<_> = graph
        .node_ids()
        .filter(|id| !live.contains(id) && !matches!(graph.node(*id).op, Op::Input { .. }))
        .collect();
    for &id in &dead {
        graph.remove(id);
    }
    Ok(!dead.is_empty())
}
