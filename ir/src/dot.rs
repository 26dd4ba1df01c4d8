//! Graphviz DOT export, for looking at a graph (`dot -Tsvg`).

use crate::graph::Graph;
use crate::op::{Device, Op, ValueType};
use crate::text::{numbering, print_order, OpText};
use std::fmt::Write;

/// Constants with more elements than this show their type only.
const MAX_SHOWN_ELEMENTS: usize = 8;

impl Graph {
    /// The graph in Graphviz DOT: one node per op, labelled with its text-form name (`%3`),
    /// the op with its attributes, the result type and (when not the CPU) the device; edges run
    /// from operand to user and are labelled with the operand position when an op has several.
    pub fn to_dot(&self) -> String {
        let names = numbering(self);
        let id_of = |id| match (names.get(&id), &self.node(id).op) {
            (_, Op::Output { index }) => format!("out{index}"),
            (Some(k), _) => format!("n{k}"),
            (None, _) => format!("node{}", id.index()),
        };
        let mut out = String::from("digraph ember {\n  node [shape=box, fontname=monospace];\n");
        let order = print_order(self);
        for &id in &order {
            let node = self.node(id);
            let mut label = match names.get(&id) {
                Some(k) => format!("%{k} "),
                None => String::new(),
            };
            match &node.op {
                Op::Const(lit) if lit.numel() > MAX_SHOWN_ELEMENTS => {
                    let _ = write!(label, "const {}", ValueType::new(lit.dtype, &lit.shape));
                }
                Op::Const(_) | Op::Output { .. } => {
                    let _ = write!(label, "{}", OpText(&node.op));
                }
                op => {
                    let _ = write!(label, "{}\n{}", OpText(op), node.ty);
                }
            }
            if node.device != Device::Cpu {
                let _ = write!(label, " @{}", node.device);
            }
            if let Some(loc) = &node.loc {
                let _ = write!(label, "\n{loc}");
            }
            let shape = match node.op {
                Op::Input { .. } | Op::Output { .. } => "ellipse",
                _ => "box",
            };
            let _ = writeln!(
                out,
                "  {} [label=\"{}\", shape={shape}];",
                id_of(id),
                escape(&label)
            );
        }
        for &id in &order {
            let operands = self.operands(id);
            for (pos, &o) in operands.iter().enumerate() {
                let _ = write!(out, "  {} -> {}", id_of(o), id_of(id));
                if operands.len() > 1 {
                    let _ = write!(out, " [label=\"{pos}\"]");
                }
                out.push_str(";\n");
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Escapes a label for a double-quoted DOT string; line breaks become `\n`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
