//! The verifier rejects each kind of malformed graph with a message naming the node.

use ember_ir::{verify, BinaryOp, DType, Device, Graph, IrError, Literal, Op, UnaryOp, ValueType};

fn f32s(shape: &[usize]) -> ValueType {
    ValueType::new(DType::F32, shape)
}

/// Asserts that `g` fails verification with a message containing `want`.
fn rejects(g: &Graph, want: &str) {
    match verify(g) {
        Err(IrError::Verify(msg)) => {
            assert!(msg.contains(want), "{msg:?} does not contain {want:?}\n{g}")
        }
        other => panic!("expected a verify error containing {want:?}, got {other:?}\n{g}"),
    }
}

#[test]
fn accepts_a_well_formed_graph() {
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cuda(0));
    let y = g.add(Op::Unary(UnaryOp::Exp), &[x], None).expect("exp");
    let z = g.add(Op::Copy(Device::Cpu), &[y], None).expect("copy");
    g.output(z).expect("output");
    assert_eq!(verify(&g), Ok(()));
}

#[test]
fn rejects_cycles() {
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    let a = g.add(Op::Unary(UnaryOp::Neg), &[x], None).expect("neg");
    let b = g.add(Op::Unary(UnaryOp::Exp), &[a], None).expect("exp");
    g.output(b).expect("output");
    // b's operand becomes b itself.
    g.replace_uses(a, b);
    rejects(&g, "the graph has a cycle through or feeding node 2 exp");
}

#[test]
fn rejects_wrong_operand_counts() {
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    g.add_typed(
        Op::Binary(BinaryOp::Add),
        f32s(&[2]),
        Device::Cpu,
        &[x],
        None,
    );
    rejects(&g, "%1 add: expected 2 operand(s), got 1");

    let mut g = Graph::new();
    g.add_typed(Op::Concat { axis: 0 }, f32s(&[2]), Device::Cpu, &[], None);
    rejects(&g, "%0 concat: needs at least one operand");
}

#[test]
fn rejects_stored_types_that_inference_disagrees_with() {
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    g.add_typed(Op::Unary(UnaryOp::Neg), f32s(&[3]), Device::Cpu, &[x], None);
    rejects(
        &g,
        "%1 negative: stored type is f32[3] but its operands give f32[2]",
    );

    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    let y = g.input(f32s(&[3]), Device::Cpu);
    g.add_typed(
        Op::Binary(BinaryOp::Mul),
        f32s(&[2]),
        Device::Cpu,
        &[x, y],
        None,
    );
    rejects(
        &g,
        "%2 multiply: multiply: operands could not be broadcast together",
    );

    let mut g = Graph::new();
    let lit = Literal::from_bytes(DType::F32, &[2], vec![0; 8]).expect("sized");
    g.add_typed(
        Op::Const(lit),
        ValueType::new(DType::F64, &[2]),
        Device::Cpu,
        &[],
        None,
    );
    rejects(
        &g,
        "%0 const: stored type is f64[2] but its operands give f32[2]",
    );
}

#[test]
fn rejects_constants_with_the_wrong_byte_count() {
    let mut g = Graph::new();
    let lit = Literal {
        dtype: DType::F32,
        shape: [2].into_iter().collect(),
        data: vec![0u8; 4].into(),
    };
    g.add_typed(Op::Const(lit), f32s(&[2]), Device::Cpu, &[], None);
    rejects(&g, "%0 const: constant of type f32[2] holds 4 bytes");
    // Printing a malformed constant must not panic either.
    let _ = g.to_string();
}

#[test]
fn rejects_inputs_that_are_not_dense() {
    let mut g = Graph::new();
    g.input(f32s(&[2]), Device::Cpu);
    g.add_typed(Op::Input { index: 5 }, f32s(&[2]), Device::Cpu, &[], None);
    rejects(&g, "%1 input: is listed as graph input 1 but has index 5");

    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    g.add_typed(Op::Input { index: 1 }, f32s(&[2]), Device::Cpu, &[x], None);
    rejects(&g, "%1 input: expected 0 operand(s), got 1");
}

#[test]
fn rejects_outputs_that_are_not_registered_or_have_users() {
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    g.add_typed(Op::Output { index: 0 }, f32s(&[2]), Device::Cpu, &[x], None);
    rejects(&g, "output 0: is not registered as graph output 0");

    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    let out = g.output(x).expect("output");
    g.add_typed(
        Op::Unary(UnaryOp::Neg),
        f32s(&[2]),
        Device::Cpu,
        &[out],
        None,
    );
    rejects(&g, "output 0: an output has a user (%1 negative)");
}

#[test]
fn rejects_copies_that_do_not_change_the_device() {
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    g.add_typed(Op::Copy(Device::Cpu), f32s(&[2]), Device::Cpu, &[x], None);
    rejects(&g, "%1 copy: copies %0, which is already on cpu");

    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cpu);
    g.add_typed(
        Op::Copy(Device::Cuda(0)),
        f32s(&[2]),
        Device::Cpu,
        &[x],
        None,
    );
    rejects(&g, "%1 copy: lives on cpu but copies to cuda:0");
}

#[test]
fn rejects_operands_on_another_device() {
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cuda(0));
    let y = g.input(f32s(&[2]), Device::Cpu);
    g.add_typed(
        Op::Binary(BinaryOp::Add),
        f32s(&[2]),
        Device::Cuda(0),
        &[x, y],
        None,
    );
    rejects(
        &g,
        "%2 add: operand %1 is on cpu, but the op runs on cuda:0",
    );

    // A constant may feed an op on any device: it is materialized where it is read.
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cuda(0));
    let one = g
        .add(
            Op::Const(Literal::scalar(ember_ir::Scalar::F32(1.0))),
            &[],
            None,
        )
        .expect("const");
    let sum = g
        .add(Op::Binary(BinaryOp::Add), &[one, x], None)
        .expect("add");
    assert_eq!(
        g.node(sum).device,
        Device::Cuda(0),
        "the non-constant operand decides"
    );
    g.output(sum).expect("output");
    g.node_mut(g.outputs()[0]).device = Device::Cuda(0);
    verify(&g).expect("a constant operand on another device is fine");

    // An output lives where its value does.
    let mut g = Graph::new();
    let x = g.input(f32s(&[2]), Device::Cuda(1));
    let out = g.output(x).expect("output");
    g.node_mut(out).device = Device::Cpu;
    rejects(
        &g,
        "output 0: operand %0 is on cuda:1, but the op runs on cpu",
    );
}
