//! The dataflow graph: nodes hold an [`Op`] and the type of the value it makes; edges carry
//! the operand position. Built on petgraph's `StableDiGraph` so node ids survive removals
//! made by passes.

use crate::error::{IrError, Result};
use crate::op::{Device, Op, ValueType};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use smallvec::SmallVec;
use std::fmt;
use std::sync::Arc;

/// A node id, stable across removals.
pub type NodeId = NodeIndex<u32>;

/// Where in the user's program (Python or Rust) a node was made.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceLoc {
    /// File name as the user sees it.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One operation and the value it produces.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// Dtype and shape of the result.
    pub ty: ValueType,
    /// Where the result lives.
    pub device: Device,
    /// The user's line that made this node, when known.
    pub loc: Option<SourceLoc>,
}

/// A program as a dataflow graph with ordered inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    g: StableDiGraph<Node, u32>,
    inputs: Vec<NodeId>,
    outputs: Vec<NodeId>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next graph argument of the given type on `device`.
    pub fn input(&mut self, ty: ValueType, device: Device) -> NodeId {
        let index = self.inputs.len();
        let id = self.g.add_node(Node {
            op: Op::Input { index },
            ty,
            device,
            loc: None,
        });
        self.inputs.push(id);
        id
    }

    /// Adds `op` applied to `operands`, inferring its type; the device is the first
    /// non-constant operand's (the first operand's when all are constants; CPU for none).
    pub fn add(&mut self, op: Op, operands: &[NodeId], loc: Option<SourceLoc>) -> Result<NodeId> {
        let types: SmallVec<[&ValueType; 4]> = operands
            .iter()
            .map(|&o| self.try_node(o).map(|n| &n.ty))
            .collect::<Result<_>>()?;
        let ty = op.infer(&types)?;
        drop(types);
        // Constants live on every device that reads them, so the first non-constant operand
        // decides.
        let device = match &op {
            Op::Copy(d) => *d,
            _ => operands
                .iter()
                .find(|&&o| !matches!(self.g[o].op, Op::Const(_)))
                .or(operands.first())
                .map_or(Device::Cpu, |&o| self.g[o].device),
        };
        Ok(self.add_typed(op, ty, device, operands, loc))
    }

    /// Adds a node whose type is already known (used by the parser and by passes that
    /// preserve types). [`crate::verify::verify`] checks it later.
    pub fn add_typed(
        &mut self,
        op: Op,
        ty: ValueType,
        device: Device,
        operands: &[NodeId],
        loc: Option<SourceLoc>,
    ) -> NodeId {
        let is_input = matches!(op, Op::Input { .. });
        let id = self.g.add_node(Node {
            op,
            ty,
            device,
            loc,
        });
        for (pos, &o) in operands.iter().enumerate() {
            self.g.add_edge(o, id, pos as u32);
        }
        if is_input {
            self.inputs.push(id);
        }
        id
    }

    /// Marks `value` as the next graph result, through an `Output` node.
    pub fn output(&mut self, value: NodeId) -> Result<NodeId> {
        let index = self.outputs.len();
        let id = self.add(Op::Output { index }, &[value], None)?;
        self.outputs.push(id);
        Ok(id)
    }

    /// The node, or a verification error when the id is stale.
    pub fn try_node(&self, id: NodeId) -> Result<&Node> {
        self.g
            .node_weight(id)
            .ok_or_else(|| IrError::Verify(format!("node %{} does not exist", id.index())))
    }

    /// The node (panics on a stale id: passes hold ids they got from this graph).
    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[id]
    }

    /// Mutable access to a node.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.g[id]
    }

    /// The graph's argument nodes in order.
    pub fn inputs(&self) -> &[NodeId] {
        &self.inputs
    }

    /// The graph's `Output` nodes in order.
    pub fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }

    /// The value each output returns (the operand of each `Output` node).
    pub fn output_values(&self) -> Vec<NodeId> {
        self.outputs.iter().map(|&o| self.operands(o)[0]).collect()
    }

    /// Number of live nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    /// True when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// Every live node id, in insertion order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.g.node_indices()
    }

    /// The operands of a node in position order.
    pub fn operands(&self, id: NodeId) -> SmallVec<[NodeId; 4]> {
        let mut edges: SmallVec<[(u32, NodeId); 4]> = self
            .g
            .edges_directed(id, Direction::Incoming)
            .map(|e| (*e.weight(), e.source()))
            .collect();
        edges.sort_unstable_by_key(|e| e.0);
        edges.into_iter().map(|e| e.1).collect()
    }

    /// The nodes that use `id` (each once, even when used in several positions).
    pub fn users(&self, id: NodeId) -> SmallVec<[NodeId; 4]> {
        let mut users: SmallVec<[NodeId; 4]> =
            self.g.neighbors_directed(id, Direction::Outgoing).collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Redirects every use of `old` to `new` (types must match; the verifier checks).
    pub fn replace_uses(&mut self, old: NodeId, new: NodeId) {
        if old == new {
            return;
        }
        let uses: Vec<(NodeId, u32, petgraph::stable_graph::EdgeIndex<u32>)> = self
            .g
            .edges_directed(old, Direction::Outgoing)
            .map(|e| (e.target(), *e.weight(), e.id()))
            .collect();
        for (target, pos, edge) in uses {
            self.g.remove_edge(edge);
            self.g.add_edge(new, target, pos);
        }
    }

    /// Removes a node and its edges. Inputs and outputs cannot be removed.
    pub fn remove(&mut self, id: NodeId) {
        if self.inputs.contains(&id) || self.outputs.contains(&id) {
            return;
        }
        self.g.remove_node(id);
    }

    /// Nodes in a topological order (operands before users; ties by id, so deterministic).
    pub fn topo_order(&self) -> Result<Vec<NodeId>> {
        let mut indegree: std::collections::HashMap<NodeId, usize> = self
            .g
            .node_indices()
            .map(|n| (n, self.g.edges_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: std::collections::BTreeSet<NodeId> = indegree
            .iter()
            .filter(|(_, &d)| d == 0)
            .map(|(&n, _)| n)
            .collect();
        let mut order = Vec::with_capacity(self.g.node_count());
        while let Some(n) = ready.pop_first() {
            order.push(n);
            for e in self.g.edges_directed(n, Direction::Outgoing) {
                let d = indegree.get_mut(&e.target()).expect("node exists");
                *d -= 1;
                if *d == 0 {
                    ready.insert(e.target());
                }
            }
        }
        if order.len() != self.g.node_count() {
            return Err(IrError::Verify("the graph has a cycle".into()));
        }
        Ok(order)
    }

    /// Redirects `user`'s uses of `old` (in every position) to `new`, leaving the other users
    /// of `old` alone: placement routes one consumer through a copy this way.
    pub fn replace_operand(&mut self, user: NodeId, old: NodeId, new: NodeId) {
        if old == new {
            return;
        }
        let uses: Vec<(u32, petgraph::stable_graph::EdgeIndex<u32>)> = self
            .g
            .edges_connecting(old, user)
            .map(|e| (*e.weight(), e.id()))
            .collect();
        for (pos, edge) in uses {
            self.g.remove_edge(edge);
            self.g.add_edge(new, user, pos);
        }
    }

    /// The underlying petgraph graph, for algorithms (read-only).
    pub fn petgraph(&self) -> &StableDiGraph<Node, u32> {
        &self.g
    }
}
