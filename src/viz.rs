//! Graphviz views of compiled plans: the optimized graph with each fused kernel drawn as a
//! cluster, copies highlighted, and every node labelled with its op, type and source line.

use crate::runtime::executable::KernelReport;
use ember_ir::text::numbering;
use ember_ir::{Graph, Op};
use std::fmt::Write;

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// DOT text of `graph` with `kernels` as clusters.
pub fn plan_dot(graph: &Graph, kernels: &[KernelReport]) -> String {
    let num = numbering(graph);
    let id = |n: ember_ir::NodeId| num.get(&n).copied().unwrap_or(n.index());
    let mut in_kernel = std::collections::HashSet::new();
    let mut out = String::from("digraph ember {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    let node_line = |out: &mut String, n: ember_ir::NodeId| {
        let node = graph.node(n);
        let mut label = format!(
            "%{} {}\\n{}",
            id(n),
            ember_ir::text::OpText(&node.op),
            node.ty
        );
        if node.device != ember_ir::Device::Cpu {
            let _ = write!(label, " @{}", node.device);
        }
        if let Some(loc) = &node.loc {
            let _ = write!(label, "\\n{loc}");
        }
        let style = match node.op {
            Op::Input { .. } => ", shape=ellipse, style=filled, fillcolor=\"#d9f2d9\"",
            Op::Output { .. } => ", shape=ellipse, style=filled, fillcolor=\"#d9e6f2\"",
            Op::Const(_) => ", shape=note",
            Op::Copy(_) => ", style=filled, fillcolor=\"#f4b6b6\", color=red, penwidth=2",
            _ => "",
        };
        let _ = writeln!(out, "    n{} [label=\"{}\"{style}];", id(n), escape(&label));
    };
    for (i, k) in kernels.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label=\"kernel {i}: {}\";\n    style=rounded; color=\"#e07b00\";",
            escape(&k.name)
        );
        for &n in &k.nodes {
            if in_kernel.insert(n) {
                node_line(&mut out, n);
            }
        }
        out.push_str("  }\n");
    }
    for n in graph.node_ids() {
        if !in_kernel.contains(&n) {
            node_line(&mut out, n);
        }
    }
    for n in graph.node_ids() {
        for (pos, o) in graph.operands(n).iter().enumerate() {
            let copy = matches!(graph.node(n).op, Op::Copy(_));
            let attrs = if copy { " [color=red, penwidth=2]" } else { "" };
            let label = if graph.operands(n).len() > 1 {
                format!(" [taillabel=\"{pos}\"]")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  n{} -> n{}{}{};",
                id(*o),
                id(n),
                attrs,
                if attrs.is_empty() {
                    label
                } else {
                    String::new()
                }
            );
        }
    }
    out.push_str("}\n");
    out
}
