//! Device placement: decide where every node runs and insert the copies that moves values
//! between devices, minimizing the target's estimated time.
//!
//! With a host and one accelerator the assignment is optimal: it is a minimum s-t cut. The
//! source side is the host and the sink side the accelerator; a node's compute time on each
//! device becomes a terminal edge (cut when the node sits on the *other* side), and a value's
//! transfer becomes an edge towards its consumers. Because one copy of a value to a device
//! serves all consumers there, a value with several consumers goes through an auxiliary node
//! per direction, so the cut pays its transfer once and not once per consuming edge.
//!
//! Constants are left out of the cut: they are materialized at compile time on every device
//! that uses them, so they cost nothing per call and are never copied.

use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::op::{Device, Op, ValueType};
use crate::target::Target;
use petgraph::algo::ford_fulkerson;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

/// What the caller knows that the graph does not: where results must end up and which
/// nodes the user pinned. Where each input lives is the device of its `Input` node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlaceRequest {
    /// Required device per output index; outputs not listed go to the host (NumPy results).
    pub outputs: BTreeMap<usize, Device>,
    /// Nodes the user pinned to a device.
    pub pins: BTreeMap<NodeId, Device>,
    /// Nodes the accelerator's backend cannot run, with why (beyond what the target's op
    /// names say: a backend may run a matmul of matrices but not of stacks, say).
    pub host_only: BTreeMap<NodeId, String>,
}

impl PlaceRequest {
    /// Every output on the host, nothing pinned.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires output `index` on `device` (a device tensor instead of a NumPy array).
    pub fn output_on(mut self, index: usize, device: Device) -> Self {
        self.outputs.insert(index, device);
        self
    }

    /// Pins `node` to `device`.
    pub fn pin(mut self, node: NodeId, device: Device) -> Self {
        self.pins.insert(node, device);
        self
    }

    /// Keeps `node` on the host because the accelerator cannot run it (`why` is for people).
    pub fn host_only(mut self, node: NodeId, why: impl Into<String>) -> Self {
        self.host_only.insert(node, why.into());
        self
    }

    /// Where output `index` must end up.
    pub fn output_device(&self, index: usize) -> Device {
        self.outputs.get(&index).copied().unwrap_or(Device::Cpu)
    }
}

/// Why a node could not move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinReason {
    /// An argument, which lives where the caller's array lives.
    Input(usize),
    /// A result, which must end up where the caller wants it.
    Output(usize),
    /// The user pinned it.
    User,
    /// The other device cannot run the op.
    Capability,
    /// An explicit copy in the program (`x.to(device)`).
    ExplicitCopy,
}

/// The placement of one (non-copy, non-constant) node of the original graph.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePlacement {
    /// The node.
    pub node: NodeId,
    /// Its op's name.
    pub op: &'static str,
    /// Its result type.
    pub ty: ValueType,
    /// Where it runs.
    pub device: Device,
    /// Estimated compute time on the host.
    pub host_time: f64,
    /// Estimated compute time on the accelerator; `None` when there is none or it cannot run
    /// the op.
    pub accel_time: Option<f64>,
    /// Why it could not move, when pinned.
    pub pin: Option<PinReason>,
}

/// One copy node of the placed graph.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyPlacement {
    /// The `Copy` node.
    pub node: NodeId,
    /// The value copied.
    pub value: NodeId,
    /// Where the value is produced.
    pub from: Device,
    /// Where the copy goes.
    pub to: Device,
    /// Bytes moved.
    pub bytes: usize,
    /// Estimated transfer time.
    pub time: f64,
    /// Why the copy is needed, e.g. "input 0 on cpu, chain of 3 ops cheaper on cuda:0 by
    /// 3.1 ms".
    pub reason: String,
}

/// The result of [`place`]: devices, copies, and the cost estimates behind them.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// The accelerator considered, if any.
    pub accelerator: Option<Device>,
    /// The device of every node of the placed graph, copies and constants included.
    pub devices: BTreeMap<NodeId, Device>,
    /// Every non-copy, non-constant node of the original graph, in topological order.
    pub nodes: Vec<NodePlacement>,
    /// Every copy node of the placed graph.
    pub copies: Vec<CopyPlacement>,
    /// Estimated time of the placed graph: compute plus copies, in seconds.
    pub cost: f64,
    /// Estimated time with every movable node on the host.
    pub all_host_cost: f64,
    /// Estimated time with every movable node on the accelerator (`None` without one).
    pub all_device_cost: Option<f64>,
}

/// Places `g` on `target`: sets every node's device, inserts one `Copy` node per value and
/// destination device (shared by all consumers there), removes copies that became no-ops or
/// round trips, and reports the decisions. With a host and one accelerator the placement
/// minimizes the estimated time exactly; with [`Target::host_only`] it changes nothing in a
/// host graph.
pub fn place(g: &mut Graph, target: &Target, req: &PlaceRequest) -> Result<Placement> {
    let accel = choose_accelerator(g, target, req)?;
    let p = Problem::build(g, target, req, accel)?;
    let side = match accel {
        Some(_) => p.min_cut(),
        None => vec![0; p.nodes.len()],
    };
    let all_host = p.fill_free(0);
    let all_device = accel.map(|_| p.fill_free(1));
    // Recorded before the rewrite, which may delete the program's own copies.
    let nodes = p
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, &n)| !matches!(g.node(n).op, Op::Copy(_)))
        .map(|(i, &n)| NodePlacement {
            node: n,
            op: g.node(n).op.name(),
            ty: g.node(n).ty.clone(),
            device: p.device(side[i]),
            host_time: p.cost[i][0],
            accel_time: accel
                .filter(|_| p.cost[i][1].is_finite())
                .map(|_| p.cost[i][1]),
            pin: p.pin[i].map(|(_, why)| why),
        })
        .collect();
    let copies = rewrite(g, &p, &side);
    let cost = placed_cost(g, target)?;
    let copies = copies
        .into_iter()
        .map(|(node, value, to)| {
            let from = g.node(value).device;
            let bytes = g.node(value).ty.nbytes();
            let time = target.transfer_time(from, to, bytes).unwrap_or(0.0);
            let reason = p
                .idx
                .get(&value)
                .map_or_else(String::new, |&v| p.reason(&side, v));
            CopyPlacement {
                node,
                value,
                from,
                to,
                bytes,
                time,
                reason,
            }
        })
        .collect();
    Ok(Placement {
        accelerator: accel,
        devices: g.node_ids().map(|n| (n, g.node(n).device)).collect(),
        nodes,
        copies,
        cost,
        all_host_cost: p.objective(&all_host),
        all_device_cost: all_device.map(|s| p.objective(&s)),
    })
}

fn err(why: String) -> IrError {
    IrError::Verify(format!("placement: {why}"))
}

/// The one accelerator this placement uses: the one the program mentions (inputs, requested
/// outputs, pins, explicit copies), else the target's first.
fn choose_accelerator(g: &Graph, target: &Target, req: &PlaceRequest) -> Result<Option<Device>> {
    let mentioned = g
        .node_ids()
        .filter_map(|n| match g.node(n).op {
            Op::Input { .. } => Some(g.node(n).device),
            Op::Copy(d) => Some(d),
            _ => None,
        })
        .chain(req.outputs.values().copied())
        .chain(req.pins.values().copied())
        .filter(|&d| d != Device::Cpu);
    let mut chosen: Option<Device> = None;
    for d in mentioned {
        if target.accelerator(d).is_none() {
            return Err(err(format!(
                "the program uses {d}, which the target does not have"
            )));
        }
        match chosen {
            Some(c) if c != d => {
                return Err(err(format!(
                    "the program uses both {c} and {d}; placing across several accelerators is \
                     not supported"
                )))
            }
            _ => chosen = Some(d),
        }
    }
    Ok(chosen.or_else(|| target.accelerators.first().map(|a| a.device)))
}

/// The placement problem over the non-constant nodes: side 0 is the host, side 1 the
/// accelerator.
struct Problem {
    accel: Option<Device>,
    nodes: Vec<NodeId>,
    /// Op names, kept because the rewrite may delete nodes (the program's own copies).
    names: Vec<&'static str>,
    idx: HashMap<NodeId, usize>,
    /// Compute time per side (infinite where the side cannot run the node).
    cost: Vec<[f64; 2]>,
    /// Transfer time of the node's value from side s to the other side, indexed by s.
    transfer: Vec<[f64; 2]>,
    pin: Vec<Option<(usize, PinReason)>>,
    users: Vec<Vec<usize>>,
    operands: Vec<Vec<usize>>,
}

impl Problem {
    fn build(
        g: &Graph,
        target: &Target,
        req: &PlaceRequest,
        accel: Option<Device>,
    ) -> Result<Self> {
        let nodes: Vec<NodeId> = g
            .topo_order()?
            .into_iter()
            .filter(|&n| !matches!(g.node(n).op, Op::Const(_)))
            .collect();
        let idx: HashMap<NodeId, usize> = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        if let Some(bad) = req.pins.keys().find(|n| !idx.contains_key(n)) {
            return Err(err(format!(
                "pinned node %{} is not a node of the graph",
                bad.index()
            )));
        }
        let side_of = |d: Device| match (d, accel) {
            (Device::Cpu, _) => Ok(0),
            (d, Some(a)) if d == a => Ok(1),
            (d, _) => Err(err(format!("{d} is not a device of this placement"))),
        };
        let mut p = Problem {
            accel,
            nodes: nodes.clone(),
            names: nodes.iter().map(|&n| g.node(n).op.name()).collect(),
            idx,
            cost: Vec::with_capacity(nodes.len()),
            transfer: Vec::with_capacity(nodes.len()),
            pin: Vec::with_capacity(nodes.len()),
            users: Vec::with_capacity(nodes.len()),
            operands: Vec::with_capacity(nodes.len()),
        };
        for &n in &nodes {
            let node = g.node(n);
            let ops = g.operands(n);
            let types: Vec<&ValueType> = ops.iter().map(|&o| &g.node(o).ty).collect();
            let time = |d: Option<Device>| {
                d.and_then(|d| target.compute_time(d, &node.op, &types, &node.ty))
                    .unwrap_or(f64::INFINITY)
            };
            let accel_time = if req.host_only.contains_key(&n) {
                f64::INFINITY
            } else {
                time(accel)
            };
            let cost = [time(Some(Device::Cpu)), accel_time];
            if cost.iter().any(|c| c.is_nan() || *c < 0.0) {
                return Err(err("the target's rates must be positive".into()));
            }
            let name = node.op.name();
            let mut pin = match node.op {
                Op::Input { index } => Some((side_of(node.device)?, PinReason::Input(index))),
                Op::Output { index } => {
                    Some((side_of(req.output_device(index))?, PinReason::Output(index)))
                }
                Op::Copy(d) => Some((side_of(d)?, PinReason::ExplicitCopy)),
                _ => None,
            };
            if let Some(&d) = req.pins.get(&n) {
                let s = side_of(d)?;
                match pin {
                    Some((fixed, _)) if fixed != s => {
                        return Err(err(format!(
                            "%{} ({name}) cannot be pinned to {d}: it must stay on {}",
                            n.index(),
                            p.device(fixed)
                        )))
                    }
                    Some(_) => {}
                    None => pin = Some((s, PinReason::User)),
                }
            }
            let runs = [cost[0].is_finite(), cost[1].is_finite()];
            pin = match (pin, runs) {
                (_, [false, false]) => {
                    return Err(err(format!("no device of the target can run {name}")))
                }
                (Some((s, _)), _) if !runs[s] => {
                    return Err(err(format!(
                        "%{} ({name}) is pinned to {}, which cannot run it",
                        n.index(),
                        p.device(s)
                    )))
                }
                (None, [true, false]) => Some((0, PinReason::Capability)),
                (None, [false, true]) => Some((1, PinReason::Capability)),
                (pin, _) => pin,
            };
            let bytes = node.ty.nbytes();
            let hop = |from: Option<Device>, to: Option<Device>| match (from, to) {
                (Some(f), Some(t)) => target.transfer_time(f, t, bytes).unwrap_or(f64::INFINITY),
                _ => f64::INFINITY,
            };
            let cpu = Some(Device::Cpu);
            p.transfer.push([hop(cpu, accel), hop(accel, cpu)]);
            p.cost.push(cost);
            p.pin.push(pin);
            p.operands
                .push(ops.iter().filter_map(|o| p.idx.get(o).copied()).collect());
            p.users.push(
                g.users(n)
                    .iter()
                    .filter_map(|u| p.idx.get(u).copied())
                    .collect(),
            );
        }
        Ok(p)
    }

    fn device(&self, side: usize) -> Device {
        match (side, self.accel) {
            (1, Some(a)) => a,
            _ => Device::Cpu,
        }
    }

    /// The true objective: compute time of every node on its side, plus one transfer per
    /// value and per *other* side among its consumers.
    fn objective(&self, side: &[usize]) -> f64 {
        let mut total = 0.0;
        for i in 0..self.nodes.len() {
            total += self.cost[i][side[i]];
            if self.users[i].iter().any(|&u| side[u] != side[i]) {
                total += self.transfer[i][side[i]];
            }
        }
        total
    }

    /// Every free node on `s`, pinned nodes where they must be.
    fn fill_free(&self, s: usize) -> Vec<usize> {
        self.pin
            .iter()
            .map(|p| p.map_or(s, |(fixed, _)| fixed))
            .collect()
    }

    /// The optimal assignment, from a minimum s-t cut.
    fn min_cut(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let (s, t) = (n, n + 1);
        let mut next = n + 2;
        let mut edges: Vec<(usize, usize, f64)> = Vec::new();
        for i in 0..n {
            match self.pin[i] {
                // A pinned node's own compute time is the same in every cut: leave it out.
                Some((0, _)) => edges.push((s, i, f64::INFINITY)),
                Some(_) => edges.push((i, t, f64::INFINITY)),
                None => {
                    edges.push((s, i, self.cost[i][1]));
                    edges.push((i, t, self.cost[i][0]));
                }
            }
            let [to_accel, to_host] = self.transfer[i];
            match self.users[i].as_slice() {
                [] => {}
                [u] => {
                    edges.push((i, *u, to_accel));
                    edges.push((*u, i, to_host));
                }
                users => {
                    // `a` ends on the accelerator side as soon as one consumer does, which
                    // cuts i->a once when i is on the host; `b` mirrors it for the host.
                    let (a, b) = (next, next + 1);
                    next += 2;
                    edges.push((i, a, to_accel));
                    edges.push((b, i, to_host));
                    for &u in users {
                        edges.push((a, u, f64::INFINITY));
                        edges.push((u, b, f64::INFINITY));
                    }
                }
            }
        }
        // Max-flow runs on integers: floating-point augmenting paths need not terminate.
        // Scaling the finite total to 2^52 keeps the rounding far below any cost difference
        // that matters, and leaves room below the "infinite" capacity.
        const INF: u64 = 1 << 62;
        let total: f64 = edges.iter().map(|e| e.2).filter(|c| c.is_finite()).sum();
        let scale = if total > 0.0 {
            (1u64 << 52) as f64 / total
        } else {
            1.0
        };
        let mut net: DiGraph<(), u64> = DiGraph::with_capacity(next, edges.len());
        for _ in 0..next {
            net.add_node(());
        }
        for (a, b, c) in edges {
            let cap = if c.is_finite() {
                (c * scale).round() as u64
            } else {
                INF
            };
            if cap > 0 {
                net.add_edge(NodeIndex::new(a), NodeIndex::new(b), cap);
            }
        }
        let (_, flows) = ford_fulkerson(&net, NodeIndex::new(s), NodeIndex::new(t));
        // Nodes that can still reach the sink in the residual graph form the smallest sink
        // side of a minimum cut; everything else goes to the host, so ties favour the host.
        let mut reaches_t = vec![false; next];
        reaches_t[t] = true;
        let mut queue = VecDeque::from([NodeIndex::new(t)]);
        while let Some(w) = queue.pop_front() {
            let into = net
                .edges_directed(w, Direction::Incoming)
                .filter(|e| *e.weight() > flows[e.id().index()])
                .map(|e| e.source());
            let back = net
                .edges_directed(w, Direction::Outgoing)
                .filter(|e| flows[e.id().index()] > 0)
                .map(|e| e.target());
            let found: Vec<NodeIndex> =
                into.chain(back).filter(|u| !reaches_t[u.index()]).collect();
            for u in found {
                if !reaches_t[u.index()] {
                    reaches_t[u.index()] = true;
                    queue.push_back(u);
                }
            }
        }
        (0..n).map(|i| usize::from(reaches_t[i])).collect()
    }

    /// Why value `v` is copied off its side: where it comes from, and what pulls its
    /// consumers to the other side.
    fn reason(&self, side: &[usize], v: usize) -> String {
        let name = |i: usize| self.names[i];
        let (here, there) = (self.device(side[v]), self.device(1 - side[v]));
        let source = match self.pin[v] {
            Some((_, PinReason::Input(k))) => format!("input {k} on {here}"),
            Some((_, PinReason::User)) => format!("{} pinned to {here}", name(v)),
            Some((_, PinReason::Capability)) => format!("{} runs only on {here}", name(v)),
            _ => format!("{} computed on {here}", name(v)),
        };
        let far: Vec<usize> = self.users[v]
            .iter()
            .copied()
            .filter(|&u| side[u] != side[v])
            .collect();
        let pinned = far
            .iter()
            .find_map(|&u| self.pin[u].map(|(_, why)| (u, why)));
        let dest = match pinned {
            Some((_, PinReason::Output(k))) => format!("output {k} required on {there}"),
            Some((u, PinReason::User)) => format!("{} pinned to {there}", name(u)),
            Some((u, PinReason::Capability)) => format!("{} runs only on {there}", name(u)),
            Some(_) => format!("explicit copy to {there}"),
            None => {
                // The consumers' connected region on the far side: moving it back is what the
                // copy saves, and the optimum says that would cost more.
                if far.is_empty() {
                    return format!("{source}, consumers on {there}");
                }
                let region = self.region(side, &far);
                let mut flipped = side.to_vec();
                for &r in &region {
                    flipped[r] = side[v];
                }
                let gain = (self.objective(&flipped) - self.objective(side)).max(0.0);
                let what = match region.as_slice() {
                    [one] => name(*one).to_string(),
                    _ => format!("chain of {} ops", region.len()),
                };
                format!("{what} cheaper on {there} by {}", fmt_time(gain))
            }
        };
        format!("{source}, {dest}")
    }

    /// The free nodes connected to `start` through nodes on the same side.
    fn region(&self, side: &[usize], start: &[usize]) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut out = Vec::new();
        let mut stack: Vec<usize> = start.to_vec();
        let s = start.first().map_or(0, |&u| side[u]);
        while let Some(i) = stack.pop() {
            if seen[i] || side[i] != s || self.pin[i].is_some() {
                continue;
            }
            seen[i] = true;
            out.push(i);
            stack.extend(self.operands[i].iter().chain(&self.users[i]));
        }
        out.sort_unstable();
        out
    }
}

/// Applies the assignment to the graph. Every consumer reads a value on its own device:
/// directly, or through the one copy of that value to that device. Existing copies are
/// looked through (so round trips vanish) and reused when still needed. Returns the copies
/// as (copy node, value, destination).
fn rewrite(g: &mut Graph, p: &Problem, side: &[usize]) -> Vec<(NodeId, NodeId, Device)> {
    for (i, &n) in p.nodes.iter().enumerate() {
        g.node_mut(n).device = p.device(side[i]);
    }
    let is_copy = |g: &Graph, n: NodeId| matches!(g.node(n).op, Op::Copy(_));
    let old_copies: Vec<NodeId> = p.nodes.iter().copied().filter(|&n| is_copy(g, n)).collect();
    // The value a copy chain starts from (operands come first in `p.nodes`).
    let mut root: HashMap<NodeId, NodeId> = HashMap::new();
    for &c in &old_copies {
        if let Some(&o) = g.operands(c).first() {
            let r = root.get(&o).copied().unwrap_or(o);
            root.insert(c, r);
        }
    }
    let mut made: BTreeMap<(NodeId, Device), NodeId> = BTreeMap::new();
    let mut out = Vec::new();
    for &u in &p.nodes {
        if is_copy(g, u) {
            continue;
        }
        let dev = g.node(u).device;
        let mut operands = g.operands(u);
        operands.dedup();
        for o in operands {
            let r = root.get(&o).copied().unwrap_or(o);
            let src = if matches!(g.node(r).op, Op::Const(_)) || g.node(r).device == dev {
                r
            } else if let Some(&c) = made.get(&(r, dev)) {
                c
            } else {
                // Reuse the program's own copy of this value to this device when it has one.
                let reuse = old_copies
                    .iter()
                    .copied()
                    .find(|c| root.get(c) == Some(&r) && g.node(*c).device == dev);
                let c = match reuse {
                    Some(c) => {
                        if let Some(&prev) = g.operands(c).first() {
                            g.replace_operand(c, prev, r);
                        }
                        c
                    }
                    None => {
                        let (ty, loc) = (g.node(r).ty.clone(), g.node(r).loc.clone());
                        g.add_typed(Op::Copy(dev), ty, dev, &[r], loc)
                    }
                };
                made.insert((r, dev), c);
                out.push((c, r, dev));
                c
            };
            g.replace_operand(u, o, src);
        }
    }
    let kept: Vec<NodeId> = made.values().copied().collect();
    for c in old_copies.into_iter().filter(|c| !kept.contains(c)) {
        g.remove(c);
    }
    place_constants(g);
    out.sort();
    out
}

/// Puts each constant where its users are, duplicating it when users sit on both sides.
fn place_constants(g: &mut Graph) {
    let consts: Vec<NodeId> = g
        .node_ids()
        .filter(|&n| matches!(g.node(n).op, Op::Const(_)))
        .collect();
    for k in consts {
        let users = g.users(k);
        let mut devices: Vec<Device> = users.iter().map(|&u| g.node(u).device).collect();
        devices.sort();
        devices.dedup();
        let Some((&first, rest)) = devices.split_first() else {
            continue;
        };
        g.node_mut(k).device = first;
        for &d in rest {
            let node = g.node(k).clone();
            let twin = g.add_typed(node.op, node.ty, d, &[], node.loc);
            let there: Vec<NodeId> = users
                .iter()
                .copied()
                .filter(|&u| g.node(u).device == d)
                .collect();
            for u in there {
                g.replace_operand(u, k, twin);
            }
        }
    }
}

/// The estimated time of the placed graph as it now stands.
fn placed_cost(g: &Graph, target: &Target) -> Result<f64> {
    let mut total = 0.0;
    for n in g.node_ids() {
        let node = g.node(n);
        if let Op::Copy(to) = node.op {
            let from = g.operands(n).first().map_or(to, |&o| g.node(o).device);
            total += target
                .transfer_time(from, to, node.ty.nbytes())
                .unwrap_or(0.0);
            continue;
        }
        let ops = g.operands(n);
        let types: Vec<&ValueType> = ops.iter().map(|&o| &g.node(o).ty).collect();
        total += target
            .compute_time(node.device, &node.op, &types, &node.ty)
            .ok_or_else(|| err(format!("{} cannot run on {}", node.op.name(), node.device)))?;
    }
    Ok(total)
}

/// Formats seconds with a unit that keeps two or three significant digits.
pub fn fmt_time(s: f64) -> String {
    match s {
        s if s >= 1.0 => format!("{s:.2} s"),
        s if s >= 1e-3 => format!("{:.1} ms", s * 1e3),
        s if s >= 1e-6 => format!("{:.1} us", s * 1e6),
        s => format!("{:.0} ns", s * 1e9),
    }
}

fn fmt_bytes(b: usize) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

impl Placement {
    /// Number of copy nodes.
    pub fn copy_count(&self) -> usize {
        self.copies.len()
    }

    /// A readable account of the decisions: each node's device and estimated times, each
    /// copy with its size and reason, and the totals against all-host and all-device.
    pub fn explain(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "placement: estimated {}", fmt_time(self.cost))?;
        write!(f, " (all on cpu: {}", fmt_time(self.all_host_cost))?;
        if let (Some(a), Some(c)) = (self.accelerator, self.all_device_cost) {
            write!(f, ", all on {a}: {}", fmt_time(c))?;
        }
        writeln!(f, ")")?;
        for n in &self.nodes {
            write!(
                f,
                "  %{:<4} {:<10} {:<18} on {:<7}",
                n.node.index(),
                n.op,
                n.ty.to_string(),
                n.device.to_string()
            )?;
            // Plumbing (inputs, outputs, views) costs nothing anywhere: no times to compare.
            if n.host_time > 0.0 || n.accel_time.is_some_and(|t| t > 0.0) {
                write!(f, " cpu {}", fmt_time(n.host_time))?;
                match (self.accelerator, n.accel_time) {
                    (Some(a), Some(t)) => write!(f, ", {a} {}", fmt_time(t))?,
                    (Some(a), None) => write!(f, ", {a} cannot run it")?,
                    _ => {}
                }
            }
            match n.pin {
                Some(PinReason::Input(k)) => write!(f, " [input {k}]")?,
                Some(PinReason::Output(k)) => write!(f, " [output {k}]")?,
                Some(PinReason::User) => write!(f, " [pinned by the user]")?,
                Some(PinReason::Capability) => write!(f, " [the only device that can run it]")?,
                Some(PinReason::ExplicitCopy) => write!(f, " [explicit copy]")?,
                None => {}
            }
            writeln!(f)?;
        }
        if self.copies.is_empty() {
            writeln!(f, "  no copies")?;
        }
        for c in &self.copies {
            writeln!(
                f,
                "  copy %{} of %{} {} -> {}: {}, {}: {}",
                c.node.index(),
                c.value.index(),
                c.from,
                c.to,
                fmt_bytes(c.bytes),
                fmt_time(c.time),
                c.reason
            )?;
        }
        Ok(())
    }
}
