//! The graph's text form: one line per node, printed by `Display for Graph` and read back by
//! [`Graph::parse`]. Dumps, `explain()` and the golden tests all use it.
//!
//! ```text
//! %0 = input 0 : f32[4,8] @cuda:0
//! %1 = const f32[] 2.0 @cuda:0
//! %2 = multiply %0, %1 : f32[4,8] @cuda:0 # model.py:12
//! %3 = sum{axes=[1], keepdims=false} %2 : f32[4] @cuda:0
//! output 0 %3
//! ```
//!
//! Lines are `%name = op{attrs} %a, %b : type @device # file:line`. The attributes, the
//! `: type` of an op line, the device and the location are optional when parsing: a missing
//! type is inferred (a given one is checked), a missing device is the one the op implies (its
//! first operand's, a copy's target, `cpu` for inputs and constants). Printing writes the type
//! always and the device when it is not `cpu`. Inputs are `input N : type` and constants
//! `const type value`, where the value is one scalar (repeated over the shape) or a
//! `[a, b, ...]` list in row-major order; floats use Rust's shortest exact form (`nan`, `inf`
//! parse too). Slices are `slice{[start:len:step, ...]}`. Lines starting with `//` and blank
//! lines are ignored. The printer numbers values densely in its order (inputs by index, then
//! depth first from the outputs, then unused nodes, then outputs by index), so equal graphs
//! print equal text.

use crate::graph::{Graph, NodeId};
use crate::literal::{Literal, Scalar};
use crate::op::{Composite, Device, Op, ValueType};
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write};

mod parse;

/// The nodes in print order: inputs by index; then what the outputs compute, depth first in
/// operand order (so the text follows the data flow and does not depend on how the graph was
/// built); then nodes no output needs, topologically; then outputs by index.
pub fn print_order(graph: &Graph) -> Vec<NodeId> {
    let is_output = |id: NodeId| matches!(graph.node(id).op, Op::Output { .. });
    let mut order: Vec<NodeId> = Vec::with_capacity(graph.len());
    let mut seen: HashSet<NodeId> = HashSet::with_capacity(graph.len());
    for &id in graph.inputs() {
        if graph.try_node(id).is_ok() && seen.insert(id) {
            order.push(id);
        }
    }
    // Iterative post-order: (node, operands already pushed).
    let mut stack: Vec<(NodeId, bool)> = Vec::new();
    for &out in graph
        .outputs()
        .iter()
        .filter(|&&o| graph.try_node(o).is_ok())
    {
        stack.extend(graph.operands(out).into_iter().rev().map(|o| (o, false)));
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                order.push(id);
            } else if !is_output(id) && seen.insert(id) {
                stack.push((id, true));
                stack.extend(graph.operands(id).into_iter().rev().map(|o| (o, false)));
            }
        }
    }
    let rest = graph
        .topo_order()
        .unwrap_or_else(|_| graph.node_ids().collect());
    let (outputs, rest): (Vec<NodeId>, Vec<NodeId>) =
        rest.into_iter().partition(|&id| is_output(id));
    order.extend(rest.into_iter().filter(|&id| seen.insert(id)));
    // Registered outputs by index, then any unregistered ones (a malformed graph).
    for id in graph.outputs().iter().copied().chain(outputs) {
        if graph.try_node(id).is_ok() && seen.insert(id) {
            order.push(id);
        }
    }
    order
}

/// The dense number (`%N`) each non-output node gets in the text form.
pub fn numbering(graph: &Graph) -> HashMap<NodeId, usize> {
    numbering_of(graph, &print_order(graph))
}

fn numbering_of(graph: &Graph, order: &[NodeId]) -> HashMap<NodeId, usize> {
    order
        .iter()
        .filter(|&&id| !matches!(graph.node(id).op, Op::Output { .. }))
        .enumerate()
        .map(|(k, &id)| (id, k))
        .collect()
}

/// Displays an op with its attributes as the text form writes it: `add`,
/// `sum{axes=[1], keepdims=false}`, `const f32[2] [1.0, 2.0]`, `input 0`, `output 0`.
pub struct OpText<'a>(pub &'a Op);

impl fmt::Display for OpText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.0;
        let name = op.name();
        match op {
            Op::Input { index } | Op::Output { index } => write!(f, "{name} {index}"),
            Op::Const(lit) => {
                write!(f, "const {} ", ValueType::new(lit.dtype, &lit.shape))?;
                write_literal(f, lit)
            }
            Op::Unary(_) | Op::Binary(_) | Op::Where | Op::MatMul => f.write_str(name),
            Op::Cast(d) => write!(f, "cast{{{}}}", d.short_name()),
            Op::Copy(d) => write!(f, "copy{{{d}}}"),
            Op::Reduce { axes, keepdims, .. } => {
                write!(f, "{name}{{axes={}, keepdims={keepdims}}}", List(axes))
            }
            Op::Reshape(s) | Op::Broadcast(s) => write!(f, "{name}{{shape={}}}", List(s)),
            Op::Permute(p) => write!(f, "permute{{perm={}}}", List(p)),
            Op::Concat { axis } => write!(f, "concat{{axis={axis}}}"),
            Op::Slice(dims) => {
                f.write_str("slice{[")?;
                for (i, d) in dims.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    write!(f, "{sep}{}:{}:{}", d.start, d.len, d.step)?;
                }
                f.write_str("]}")
            }
            Op::Composite(c) => match c {
                Composite::Softmax { axis } | Composite::LogSoftmax { axis } => {
                    write!(f, "{name}{{axis={axis}}}")
                }
                Composite::LogSumExp { axes, keepdims } | Composite::Mean { axes, keepdims } => {
                    write!(f, "{name}{{axes={}, keepdims={keepdims}}}", List(axes))
                }
                Composite::Var {
                    axes,
                    keepdims,
                    ddof,
                }
                | Composite::Std {
                    axes,
                    keepdims,
                    ddof,
                } => write!(
                    f,
                    "{name}{{axes={}, keepdims={keepdims}, ddof={ddof}}}",
                    List(axes)
                ),
                Composite::Gelu { approximate } => write!(f, "gelu{{approximate={approximate}}}"),
                Composite::Silu => f.write_str("silu"),
                Composite::LayerNorm { axes, eps_bits } => write!(
                    f,
                    "layer_norm{{axes={}, eps={:?}}}",
                    List(axes),
                    f64::from_bits(*eps_bits)
                ),
            },
        }
    }
}

/// `[1,2,3]`: the compact list form of shapes and axes.
struct List<'a>(&'a [usize]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{v}")?;
        }
        f.write_char(']')
    }
}

/// A splat with elements prints as its one scalar; anything else as a full list. Reads the
/// bytes in whole elements so a malformed literal (caught by the verifier) cannot panic here.
fn write_literal(f: &mut fmt::Formatter<'_>, lit: &Literal) -> fmt::Result {
    let size = lit.dtype.size();
    match lit.splat_value() {
        Some(s) if lit.numel() >= 1 => write!(f, "{s}"),
        _ => {
            f.write_char('[')?;
            for (i, chunk) in lit.data.chunks_exact(size).enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                write!(f, "{sep}{}", Scalar::from_bytes(lit.dtype, chunk))?;
            }
            f.write_char(']')
        }
    }
}

fn write_name(
    f: &mut fmt::Formatter<'_>,
    names: &HashMap<NodeId, usize>,
    id: NodeId,
) -> fmt::Result {
    match names.get(&id) {
        Some(k) => write!(f, "%{k}"),
        // Only a malformed graph (an output used as an operand) gets here; the parser rejects it.
        None => write!(f, "%?{}", id.index()),
    }
}

fn write_node(
    f: &mut fmt::Formatter<'_>,
    graph: &Graph,
    id: NodeId,
    names: &HashMap<NodeId, usize>,
) -> fmt::Result {
    let node = graph.node(id);
    let is_output = matches!(node.op, Op::Output { .. });
    if !is_output {
        write_name(f, names, id)?;
        f.write_str(" = ")?;
    }
    write!(f, "{}", OpText(&node.op))?;
    for (i, o) in graph.operands(id).into_iter().enumerate() {
        f.write_str(if i > 0 { ", " } else { " " })?;
        write_name(f, names, o)?;
    }
    if !is_output && !matches!(node.op, Op::Const(_)) {
        write!(f, " : {}", node.ty)?;
    }
    if node.device != Device::Cpu && !is_output {
        write!(f, " @{}", node.device)?;
    }
    if let Some(loc) = &node.loc {
        // A line break in a file name would split the line; print it as a space.
        let file: String = loc
            .file
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        write!(f, " # {}:{}", file.trim(), loc.line)?;
    }
    Ok(())
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = print_order(self);
        let names = numbering_of(self, &order);
        for id in order {
            write_node(f, self, id, &names)?;
            f.write_char('\n')?;
        }
        Ok(())
    }
}
