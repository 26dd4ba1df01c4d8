//! The placement pass: optimality against brute force on random graphs, consistency of the
//! rewritten graph, and canonical cases with exact copy counts. No GPU: the target is
//! simulated.

use ember_ir::passes::place::{place, PlaceRequest, Placement};
use ember_ir::target::Target;
use ember_ir::{
    BinaryOp, DType, Device, Graph, Literal, NodeId, Op, ReduceOp, Scalar, UnaryOp, ValueType,
};
use proptest::prelude::*;
use smallvec::smallvec;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const GPU: Device = Device::Cuda(0);

/// The simulated target with `tanh` unavailable on the device, so random graphs contain
/// capability pins.
fn target() -> Target {
    Target::simulated_two_device().with_host_only_op("tanh")
}

fn vt(shape: &[usize]) -> ValueType {
    ValueType::new(DType::F32, shape)
}

fn unary(g: &mut Graph, u: UnaryOp, x: NodeId) -> NodeId {
    g.add(Op::Unary(u), &[x], None).expect("valid unary")
}

fn binary(g: &mut Graph, b: BinaryOp, x: NodeId, y: NodeId) -> NodeId {
    g.add(Op::Binary(b), &[x, y], None).expect("valid binary")
}

fn compute(t: &Target, g: &Graph, n: NodeId, d: Device) -> f64 {
    let node = g.node(n);
    let ops = g.operands(n);
    let types: Vec<&ValueType> = ops.iter().map(|&o| &g.node(o).ty).collect();
    t.compute_time(d, &node.op, &types, &node.ty)
        .unwrap_or(f64::INFINITY)
}

/// The true objective, written independently of the pass: compute time of every
/// non-constant node on its device, plus one transfer per value and per *other* device
/// among its consumers (constants are materialized where used and never move).
fn objective(t: &Target, g: &Graph, at: &HashMap<NodeId, Device>) -> f64 {
    let mut total = 0.0;
    for (&n, &d) in at {
        total += compute(t, g, n, d);
        let others: BTreeSet<Device> = g
            .users(n)
            .iter()
            .map(|u| at[u])
            .filter(|&e| e != d)
            .collect();
        for e in others {
            total += t
                .transfer_time(d, e, g.node(n).ty.nbytes())
                .expect("known devices");
        }
    }
    total
}

/// Where a node must be, if anywhere: inputs where they live, outputs where requested,
/// user pins, and ops the device cannot run on the host.
fn forced(t: &Target, g: &Graph, req: &PlaceRequest, n: NodeId) -> Option<Device> {
    match g.node(n).op {
        Op::Input { .. } => Some(g.node(n).device),
        Op::Output { index } => Some(req.output_device(index)),
        ref op if !t.supports(GPU, op) => Some(Device::Cpu),
        _ => req.pins.get(&n).copied(),
    }
}

struct Oracle {
    best: f64,
    all_host: f64,
    all_device: f64,
}

/// Minimum of the objective over every assignment of the free nodes.
fn brute_force(t: &Target, g: &Graph, req: &PlaceRequest) -> Oracle {
    let nodes: Vec<NodeId> = g
        .node_ids()
        .filter(|&n| !matches!(g.node(n).op, Op::Const(_)))
        .collect();
    let free: Vec<NodeId> = nodes
        .iter()
        .copied()
        .filter(|&n| forced(t, g, req, n).is_none())
        .collect();
    let assign = |bits: u32| -> HashMap<NodeId, Device> {
        nodes
            .iter()
            .map(|&n| {
                let d = forced(t, g, req, n).unwrap_or_else(|| {
                    let k = free.iter().position(|&f| f == n).expect("free node");
                    if bits >> k & 1 == 1 {
                        GPU
                    } else {
                        Device::Cpu
                    }
                });
                (n, d)
            })
            .collect()
    };
    let all = (1u32 << free.len()) - 1;
    let best = (0..=all)
        .map(|bits| objective(t, g, &assign(bits)))
        .fold(f64::INFINITY, f64::min);
    Oracle {
        best,
        all_host: objective(t, g, &assign(0)),
        all_device: objective(t, g, &assign(all)),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-15
}

/// Checks the rewritten graph: every operand is on its consumer's device (through copies),
/// each copy really crosses devices, is of an original value (no chains, no round trips)
/// and is unique per value and destination; the pins hold; the report matches the graph.
fn check_consistent(t: &Target, g: &Graph, req: &PlaceRequest, p: &Placement) {
    let mut seen = BTreeSet::new();
    let mut placed_cost = 0.0;
    for n in g.node_ids() {
        let node = g.node(n);
        assert_eq!(
            p.devices.get(&n),
            Some(&node.device),
            "report of %{}",
            n.index()
        );
        let ops = g.operands(n);
        if let Op::Copy(to) = node.op {
            assert_eq!(node.device, to);
            assert_eq!(ops.len(), 1);
            let src = g.node(ops[0]);
            assert_ne!(src.device, to, "copy %{} within one device", n.index());
            assert!(!matches!(src.op, Op::Copy(_)), "copy of a copy");
            assert!(
                !matches!(src.op, Op::Const(_)),
                "constants are never copied"
            );
            assert!(
                seen.insert((ops[0], to)),
                "duplicate copy of %{}",
                ops[0].index()
            );
            placed_cost += t
                .transfer_time(src.device, to, src.ty.nbytes())
                .expect("devices");
            continue;
        }
        for &o in &ops {
            assert_eq!(
                g.node(o).device,
                node.device,
                "operand of %{} elsewhere",
                n.index()
            );
        }
        if let Some(d) = forced(t, g, req, n) {
            assert_eq!(node.device, d, "pinned %{} moved", n.index());
        }
        placed_cost += compute(t, g, n, node.device);
    }
    assert_eq!(seen.len(), p.copy_count());
    assert!(close(placed_cost, p.cost), "{placed_cost} vs {}", p.cost);
    g.topo_order().expect("still a DAG");
}

/// A random graph: `steps` are (op kind, operand picks, flag); sizes, input devices,
/// outputs and pins come from the other fields.
#[derive(Clone, Debug)]
struct Spec {
    n: usize,
    inputs: Vec<(bool, bool)>,
    steps: Vec<(u8, u16, u16)>,
    outputs: Vec<(u16, bool)>,
    pin: Option<(u16, bool)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(vec![1usize, 8, 64, 256, 1024, 2048]),
        prop::collection::vec((any::<bool>(), any::<bool>()), 1..=2),
        prop::collection::vec((0u8..9, any::<u16>(), any::<u16>()), 1..=8),
        prop::collection::vec((any::<u16>(), any::<bool>()), 1..=2),
        prop::option::of((any::<u16>(), any::<bool>())),
    )
        .prop_map(|(n, inputs, steps, outputs, pin)| Spec {
            n,
            inputs,
            steps,
            outputs,
            pin,
        })
}

fn build(s: &Spec) -> (Graph, PlaceRequest) {
    let mut g = Graph::new();
    let mut vals = Vec::new();
    for &(column, on_gpu) in &s.inputs {
        let shape = if column { [s.n, 1] } else { [s.n, s.n] };
        vals.push(g.input(vt(&shape), if on_gpu { GPU } else { Device::Cpu }));
    }
    let mut ops = Vec::new();
    for &(kind, a, b) in &s.steps {
        let x = vals[a as usize % vals.len()];
        let y = vals[b as usize % vals.len()];
        let made = match kind {
            0 => g.add(Op::Unary(UnaryOp::Exp), &[x], None),
            1 => g.add(Op::Unary(UnaryOp::Neg), &[x], None),
            2 => g.add(Op::Unary(UnaryOp::Tanh), &[x], None),
            3 => g.add(Op::Binary(BinaryOp::Add), &[x, y], None),
            4 => g.add(Op::Binary(BinaryOp::Mul), &[x, y], None),
            5 => g.add(
                Op::Reduce {
                    op: ReduceOp::Sum,
                    axes: smallvec![1],
                    keepdims: true,
                },
                &[x],
                None,
            ),
            6 => g.add(Op::MatMul, &[x, y], None),
            7 => g.add(Op::Permute(smallvec![1, 0]), &[x], None),
            _ => {
                let c = g
                    .add(Op::Const(Literal::scalar(Scalar::F32(2.0))), &[], None)
                    .expect("const");
                g.add(Op::Binary(BinaryOp::Mul), &[x, c], None)
            }
        };
        // Shapes that do not fit (matmul of mismatched sizes) fall back to a negation.
        let v = made.unwrap_or_else(|_| unary(&mut g, UnaryOp::Neg, x));
        vals.push(v);
        ops.push(v);
    }
    let mut req = PlaceRequest::new();
    for (i, &(pick, on_gpu)) in s.outputs.iter().enumerate() {
        let v = if i == 0 {
            vals[vals.len() - 1]
        } else {
            vals[pick as usize % vals.len()]
        };
        g.output(v).expect("output");
        if on_gpu {
            req = req.output_on(i, GPU);
        }
    }
    if let Some((pick, on_gpu)) = s.pin {
        let n = ops[pick as usize % ops.len()];
        if !matches!(g.node(n).op, Op::Unary(UnaryOp::Tanh)) {
            req = req.pin(n, if on_gpu { GPU } else { Device::Cpu });
        }
    }
    (g, req)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn min_cut_is_optimal_and_consistent(s in spec()) {
        let t = target();
        let (mut g, req) = build(&s);
        let oracle = brute_force(&t, &g, &req);
        let g0 = g.clone();
        let original: Vec<(NodeId, Op)> = g.node_ids().map(|n| (n, g.node(n).op.clone())).collect();
        let p = place(&mut g, &t, &req).expect("placement");
        prop_assert!(close(p.cost, oracle.best), "min-cut {} vs brute force {}", p.cost, oracle.best);
        prop_assert!(p.cost <= oracle.all_host * (1.0 + 1e-12));
        prop_assert!(p.cost <= oracle.all_device * (1.0 + 1e-12));
        prop_assert!(close(p.all_host_cost, oracle.all_host));
        prop_assert!(close(p.all_device_cost.expect("device baseline"), oracle.all_device));
        // The objective of the chosen assignment, read back from the graph, is the cost.
        let at: HashMap<NodeId, Device> = original
            .iter()
            .filter(|(_, op)| !matches!(op, Op::Const(_)))
            .map(|&(n, _)| (n, g.node(n).device))
            .collect();
        prop_assert!(close(objective(&t, &g0, &at), p.cost));
        for (n, op) in &original {
            prop_assert_eq!(&g.node(*n).op, op, "placement changed an op");
        }
        check_consistent(&t, &g, &req, &p);
        // Placement is idempotent: a placed graph places to itself.
        let again = place(&mut g, &t, &req).expect("second placement");
        prop_assert!(close(again.cost, p.cost));
        prop_assert_eq!(again.copy_count(), p.copy_count());
    }
}

/// `x` (f32[4096, 4096], 64 MiB on the host) through `k` elementwise ops.
fn chain(g: &mut Graph, mut x: NodeId, k: usize) -> NodeId {
    let fs = [UnaryOp::Exp, UnaryOp::Neg, UnaryOp::Sqrt, UnaryOp::Abs];
    for i in 0..k {
        x = unary(g, fs[i % fs.len()], x);
    }
    x
}

fn copies_to(g: &Graph, d: Device) -> usize {
    g.node_ids()
        .filter(|&n| g.node(n).op == Op::Copy(d))
        .count()
}

const BIG: [usize; 2] = [4096, 4096];

#[test]
fn big_elementwise_chain_goes_to_the_device_with_one_copy_each_way() {
    let t = Target::simulated_two_device();
    let mut g = Graph::new();
    let x = g.input(vt(&BIG), Device::Cpu);
    let y = chain(&mut g, x, 4);
    g.output(y).expect("output");
    let req = PlaceRequest::new();
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    assert_eq!(copies_to(&g, GPU), 1);
    assert_eq!(copies_to(&g, Device::Cpu), 1);
    for n in &p.nodes {
        if matches!(g.node(n.node).op, Op::Unary(_)) {
            assert_eq!(n.device, GPU, "{} stayed on the host", n.op);
        }
    }
    assert!(p.cost < p.all_host_cost);
    let text = p.explain();
    assert!(
        text.contains("input 0 on cpu, chain of 4 ops cheaper on cuda:0 by"),
        "{text}"
    );
    assert!(text.contains("output 0 required on cpu"), "{text}");
    assert!(text.contains("64.0 MiB"), "{text}");
}

#[test]
fn tiny_work_stays_on_the_host_without_copies() {
    let t = Target::simulated_two_device();
    let mut g = Graph::new();
    let x = g.input(vt(&[16]), Device::Cpu);
    let y = chain(&mut g, x, 4);
    let z = binary(&mut g, BinaryOp::Add, y, x);
    g.output(z).expect("output");
    let req = PlaceRequest::new();
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    assert_eq!(p.copy_count(), 0);
    assert!(g.node_ids().all(|n| g.node(n).device == Device::Cpu));
    assert!(p.explain().contains("no copies"));
}

#[test]
fn tiny_work_on_device_data_stays_on_the_device() {
    let t = Target::simulated_two_device();
    let mut g = Graph::new();
    let x = g.input(vt(&[16]), GPU);
    let y = chain(&mut g, x, 2);
    g.output(y).expect("output");
    let req = PlaceRequest::new().output_on(0, GPU);
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    assert_eq!(p.copy_count(), 0);
    assert!(g.node_ids().all(|n| g.node(n).device == GPU));
}

#[test]
fn host_only_op_in_the_middle_costs_exactly_its_copies() {
    let t = Target::simulated_two_device().with_host_only_op("erf");
    let mut g = Graph::new();
    let x = g.input(vt(&BIG), Device::Cpu);
    let a = chain(&mut g, x, 3);
    let e = unary(&mut g, UnaryOp::Erf, a);
    let b = chain(&mut g, e, 3);
    g.output(b).expect("output");
    let req = PlaceRequest::new();
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    // In, back for erf, in again after it, and out for the result.
    assert_eq!(copies_to(&g, GPU), 2);
    assert_eq!(copies_to(&g, Device::Cpu), 2);
    assert_eq!(g.node(e).device, Device::Cpu);
    let text = p.explain();
    assert!(text.contains("erf runs only on cpu"), "{text}");
    assert!(
        text.contains("erf runs only on cpu, chain of 3 ops cheaper on cuda:0"),
        "{text}"
    );
}

#[test]
fn user_pin_in_the_middle_costs_exactly_its_copies() {
    let t = Target::simulated_two_device();
    let mut g = Graph::new();
    let x = g.input(vt(&BIG), Device::Cpu);
    let a = chain(&mut g, x, 3);
    let e = unary(&mut g, UnaryOp::Exp, a);
    let b = chain(&mut g, e, 3);
    g.output(b).expect("output");
    let req = PlaceRequest::new().pin(e, Device::Cpu);
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    assert_eq!(copies_to(&g, GPU), 2);
    assert_eq!(copies_to(&g, Device::Cpu), 2);
    assert!(p.explain().contains("exp pinned to cpu"));
}

#[test]
fn output_needed_on_both_sides_is_copied_once() {
    let t = Target::simulated_two_device();
    let mut g = Graph::new();
    let x = g.input(vt(&BIG), GPU);
    let y = chain(&mut g, x, 2);
    // The same value as a NumPy result, as a device tensor, and read by two host-only ops.
    g.output(y).expect("output");
    g.output(y).expect("output");
    let req = PlaceRequest::new().output_on(1, GPU);
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    assert_eq!(p.copy_count(), 1);
    assert_eq!(copies_to(&g, Device::Cpu), 1);
    assert_eq!(p.copies[0].value, y);
    assert_eq!(p.copies[0].bytes, 64 << 20);

    // Two host consumers and a host output still share the one copy.
    let t = t.with_host_only_op("tanh");
    let mut g = Graph::new();
    let x = g.input(vt(&BIG), GPU);
    let y = chain(&mut g, x, 2);
    let h1 = unary(&mut g, UnaryOp::Tanh, y);
    let h2 = unary(&mut g, UnaryOp::Tanh, y);
    let s = binary(&mut g, BinaryOp::Add, h1, h2);
    g.output(s).expect("output");
    g.output(y).expect("output");
    let req = PlaceRequest::new();
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    assert_eq!(copies_to(&g, Device::Cpu), 1);
    assert_eq!(copies_to(&g, GPU), 0);
}

#[test]
fn explicit_round_trip_is_removed() {
    let t = Target::simulated_two_device();
    let mut g = Graph::new();
    let x = g.input(vt(&[16]), Device::Cpu);
    let on_gpu = g.add(Op::Copy(GPU), &[x], None).expect("copy");
    let back = g.add(Op::Copy(Device::Cpu), &[on_gpu], None).expect("copy");
    let y = unary(&mut g, UnaryOp::Neg, back);
    g.output(y).expect("output");
    let req = PlaceRequest::new();
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    assert_eq!(p.copy_count(), 0);
    assert_eq!(g.operands(y).as_slice(), &[x]);
}

#[test]
fn constants_are_duplicated_not_copied() {
    let t = Target::simulated_two_device().with_host_only_op("tanh");
    let mut g = Graph::new();
    let x = g.input(vt(&BIG), Device::Cpu);
    let c = g
        .add(Op::Const(Literal::scalar(Scalar::F32(3.0))), &[], None)
        .expect("const");
    let a = binary(&mut g, BinaryOp::Mul, x, c);
    let a = chain(&mut g, a, 3);
    let h = unary(&mut g, UnaryOp::Tanh, a);
    let b = binary(&mut g, BinaryOp::Add, h, c);
    g.output(b).expect("output");
    let req = PlaceRequest::new();
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    let consts: Vec<Device> = g
        .node_ids()
        .filter(|&n| matches!(g.node(n).op, Op::Const(_)))
        .map(|n| g.node(n).device)
        .collect();
    assert_eq!(consts.len(), 2, "one constant per device");
    assert!(consts.contains(&Device::Cpu) && consts.contains(&GPU));
}

#[test]
fn host_only_target_is_a_no_op() {
    let t = Target::host_only();
    let mut g = Graph::new();
    let x = g.input(vt(&BIG), Device::Cpu);
    let y = chain(&mut g, x, 4);
    let m = g.add(Op::MatMul, &[y, x], None).expect("matmul");
    g.output(m).expect("output");
    let before: BTreeMap<NodeId, (Op, Device, Vec<NodeId>)> = g
        .node_ids()
        .map(|n| {
            (
                n,
                (
                    g.node(n).op.clone(),
                    g.node(n).device,
                    g.operands(n).to_vec(),
                ),
            )
        })
        .collect();
    let req = PlaceRequest::new();
    let p = place(&mut g, &t, &req).expect("placement");
    let after: BTreeMap<NodeId, (Op, Device, Vec<NodeId>)> = g
        .node_ids()
        .map(|n| {
            (
                n,
                (
                    g.node(n).op.clone(),
                    g.node(n).device,
                    g.operands(n).to_vec(),
                ),
            )
        })
        .collect();
    assert_eq!(before, after);
    assert_eq!(p.copy_count(), 0);
    assert_eq!(p.all_device_cost, None);
    assert!(close(p.cost, p.all_host_cost));
}

#[test]
fn matmul_reason_names_the_op() {
    let t = Target::simulated_two_device();
    let mut g = Graph::new();
    let a = g.input(vt(&[2048, 2048]), Device::Cpu);
    let b = g.input(vt(&[2048, 2048]), Device::Cpu);
    let m = g.add(Op::MatMul, &[a, b], None).expect("matmul");
    g.output(m).expect("output");
    let p = place(&mut g, &t, &PlaceRequest::new()).expect("placement");
    assert_eq!(g.node(m).device, GPU);
    assert_eq!(p.copy_count(), 3);
    assert!(
        p.explain()
            .contains("input 0 on cpu, matmul cheaper on cuda:0 by"),
        "{}",
        p.explain()
    );
}

#[test]
fn impossible_requests_are_errors() {
    let t = Target::simulated_two_device().with_host_only_op("erf");
    let mut g = Graph::new();
    let x = g.input(vt(&[16]), Device::Cpu);
    let e = unary(&mut g, UnaryOp::Erf, x);
    g.output(e).expect("output");
    let pinned = PlaceRequest::new().pin(e, GPU);
    assert!(place(&mut g.clone(), &t, &pinned).is_err());
    let pinned_input = PlaceRequest::new().pin(x, GPU);
    assert!(place(&mut g.clone(), &t, &pinned_input).is_err());
    let elsewhere = PlaceRequest::new().output_on(0, Device::Cuda(1));
    assert!(place(&mut g.clone(), &t, &elsewhere).is_err());
    let mut on_gpu = Graph::new();
    let y = on_gpu.input(vt(&[16]), GPU);
    on_gpu.output(y).expect("output");
    assert!(place(&mut on_gpu, &Target::host_only(), &PlaceRequest::new()).is_err());
}

#[test]
fn explicit_copy_is_reused_as_the_shared_copy() {
    let t = Target::simulated_two_device();
    let mut g = Graph::new();
    let x = g.input(vt(&BIG), Device::Cpu);
    let moved = g.add(Op::Copy(GPU), &[x], None).expect("copy");
    let a = chain(&mut g, moved, 3);
    let b = chain(&mut g, x, 3);
    let s = binary(&mut g, BinaryOp::Add, a, b);
    g.output(s).expect("output");
    let req = PlaceRequest::new();
    let p = place(&mut g, &t, &req).expect("placement");
    check_consistent(&t, &g, &req, &p);
    // Both chains run on the device and read x through the program's own copy.
    assert_eq!(copies_to(&g, GPU), 1);
    assert_eq!(
        p.copies.iter().find(|c| c.to == GPU).map(|c| c.node),
        Some(moved)
    );
    assert_eq!(copies_to(&g, Device::Cpu), 1);
}
