//! Common-subexpression elimination: nodes with the same op (attributes and constant contents
//! included, by `Op`'s structural `Eq + Hash`), the same operands and the same device compute
//! the same value, so all but the first are replaced by it. Commutative binary ops match with
//! their operands in either order.

use super::PassContext;
use crate::error::Result;
use crate::graph::{Graph, NodeId};
use crate::op::{Device, Op};
use smallvec::SmallVec;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

type Key = (Op, SmallVec<[NodeId; 4]>, Device);

/// Merges equal nodes; returns whether any were merged.
pub fn run(graph: &mut Graph, _ctx: &PassContext<'_>) -> Result<bool> {
    let mut seen: HashMap<Key, NodeId> = HashMap::new();
    let mut changed = false;
    // Topological order: a node's operands are already merged when the node is looked at, so
    // whole equal subtrees collapse in one run.
    for id in graph.topo_order()? {
        let node = graph.node(id);
        if matches!(node.op, Op::Input { .. } | Op::Output { .. }) {
            continue;
        }
        let mut operands = graph.operands(id);
        if matches!(node.op, Op::Binary(b) if b.is_commutative()) {
            operands.sort_unstable();
        }
        match seen.entry((node.op.clone(), operands, node.device)) {
            Entry::Occupied(first) => {
                let first = *first.get();
                graph.replace_uses(id, first);
                graph.remove(id);
                changed = true;
            }
            Entry::Vacant(slot) => {
                slot.insert(id);
            }
        }
    }
    Ok(changed)
}
