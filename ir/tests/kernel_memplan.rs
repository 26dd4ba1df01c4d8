//! Memory planning: dead intermediates are reused, live values never share a slot, graph
//! outputs keep their own buffers, a matmul epilogue runs in place.

use ember_ir::passes::fuse::{partition, Step};
use ember_ir::passes::memplan::plan;
use ember_ir::{BinaryOp, DType, Device, Graph, NodeId, Op, UnaryOp, ValueType};
use smallvec::smallvec;
use std::collections::HashMap;

fn chain(n: usize) -> (Graph, usize) {
    // exp -> permute (eager) -> exp -> permute -> ... : every value crosses a step boundary.
    let mut g = Graph::new();
    let mut x = g.input(ValueType::new(DType::F32, &[8, 8]), Device::Cpu);
    for _ in 0..n {
        let e = g.add(Op::Unary(UnaryOp::Exp), &[x], None).unwrap();
        x = g.add(Op::Permute(smallvec![1, 0]), &[e], None).unwrap();
    }
    g.output(x).unwrap();
    (g, 2 * n)
}

/// Checks that two values sharing a slot are never live at the same time.
fn check_no_overlap(g: &Graph, steps: &[Step], slot_of: &HashMap<NodeId, usize>) {
    let outputs: Vec<NodeId> = g.output_values();
    let mut def = HashMap::new();
    let mut last = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        let (r, w): (Vec<NodeId>, Vec<NodeId>) = match s {
            Step::Kernel(k) => (k.inputs.clone(), k.outputs.clone()),
            Step::Fallback(n) => (g.operands(*n).to_vec(), vec![*n]),
            Step::MatMul {
                a,
                b,
                out,
                epilogue,
            } => {
                let mut r = vec![*a, *b];
                let mut w = vec![*out];
                if let Some(e) = epilogue {
                    r.extend(e.inputs.iter().copied());
                    w.extend(e.outputs.iter().copied());
                }
                (r, w)
            }
        };
        for v in r {
            last.insert(v, i);
        }
        for v in w {
            def.insert(v, i);
        }
    }
    let end = steps.len();
    let live = |v: &NodeId| {
        (
            def[v],
            if outputs.contains(v) {
                end
            } else {
                last.get(v).copied().unwrap_or(def[v])
            },
        )
    };
    let vals: Vec<&NodeId> = slot_of.keys().collect();
    for a in &vals {
        for b in &vals {
            if a < b && slot_of[*a] == slot_of[*b] {
                let ((d1, l1), (d2, l2)) = (live(a), live(b));
                assert!(
                    l1 <= d2 || l2 <= d1,
                    "{a:?} [{d1},{l1}] and {b:?} [{d2},{l2}] share a slot"
                );
            }
        }
    }
}

#[test]
fn dead_intermediates_are_reused() {
    let (g, values) = chain(6);
    let s = partition(&g).unwrap();
    let p = plan(&g, &s);
    assert_eq!(p.slot_of.len(), values);
    assert!(
        p.slot_bytes.len() <= 3,
        "{} slots for {values} values",
        p.slot_bytes.len()
    );
    check_no_overlap(&g, &s.steps, &p.slot_of);
}

#[test]
fn matmul_epilogue_runs_in_place() {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(DType::F32, &[4, 3]), Device::Cpu);
    let w = g.input(ValueType::new(DType::F32, &[3, 5]), Device::Cpu);
    let b = g.input(ValueType::new(DType::F32, &[5]), Device::Cpu);
    let m = g.add(Op::MatMul, &[x, w], None).unwrap();
    let y = g.add(Op::Binary(BinaryOp::Add), &[m, b], None).unwrap();
    let r = g.add(Op::Unary(UnaryOp::Relu), &[y], None).unwrap();
    g.output(r).unwrap();
    let s = partition(&g).unwrap();
    let p = plan(&g, &s);
    assert_eq!(p.slot_bytes.len(), 1);
    assert_eq!(p.slot_of[&m], p.slot_of[&r]);
    check_no_overlap(&g, &s.steps, &HashMap::from([(r, 0)]));
}
