//! Loops whose every value is a bool run 16 lanes of bytes (`Mode::Vec8`): every bool-to-bool
//! op (binary, unary, `where`), chains of them, any/all of them, stored, over lengths around
//! the 16-lane vectors and the unrolled iterations, contiguous and strided, all match the
//! interpreter. Non-0/1 true bytes (a NumPy bool view of other bytes) load as true.

mod common;

use common::{backend, buffer, check, values, Rng};
use ember_ir::graph::NodeId;
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::Kernel;
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, Op, ReduceOp, UnaryOp, ValueType};

const LENGTHS: [usize; 7] = [1, 15, 16, 17, 63, 64, 1000];

/// The kernel of `build(graph, a, b, c)` over three bool inputs of length `n`.
fn kernel(n: usize, build: impl Fn(&mut Graph, [NodeId; 3]) -> Option<NodeId>) -> Option<Kernel> {
    let mut g = Graph::new();
    let t = ValueType::new(DType::Bool, &[n]);
    let ins = [0, 1, 2].map(|_| g.input(t.clone(), Device::Cpu));
    let r = build(&mut g, ins)?;
    g.output(r).ok()?;
    let s = partition(&g).ok()?;
    assert_eq!(s.kernel_count(), 1, "one kernel\n{g}");
    Some(s.kernels()[0].kernel.clone())
}

/// Checks `k` on random bools, contiguous and strided.
fn check_random(k: &Kernel, rng: &mut Rng) {
    let inputs: Vec<&ember_ir::kernel::ArgDecl> = k.args.iter().filter(|a| !a.output).collect();
    for strided in [false, true] {
        let bufs: Vec<Buffer> = inputs
            .iter()
            .map(|a| {
                let n = a.shape.iter().product();
                buffer(
                    DType::Bool,
                    &a.shape,
                    &values(rng, DType::Bool, n, 0.0, 1.0),
                    strided,
                )
            })
            .collect();
        check(k, &bufs, 0.0, 0.0);
    }
}

#[test]
fn every_bool_binary_op_matches_the_interpreter() {
    let mut rng = Rng(0xb8);
    let mut ran = 0;
    for &op in BinaryOp::ALL {
        for n in LENGTHS {
            let Some(k) = kernel(n, |g, [a, b, _]| g.add(Op::Binary(op), &[a, b], None).ok())
            else {
                continue;
            };
            if k.args[0].dtype != DType::Bool {
                continue; // bool / bool is float64: not a bool loop
            }
            check_random(&k, &mut rng);
            ran += 1;
        }
    }
    assert!(ran >= 12 * LENGTHS.len(), "only {ran} bool binary kernels");
}

#[test]
fn bool_unary_ops_where_and_chains_match_the_interpreter() {
    let mut rng = Rng(0xb9);
    for n in LENGTHS {
        for &op in UnaryOp::ALL {
            if let Some(k) = kernel(n, |g, [a, ..]| g.add(Op::Unary(op), &[a], None).ok()) {
                if k.args[0].dtype == DType::Bool {
                    check_random(&k, &mut rng);
                }
            }
        }
        let k = kernel(n, |g, [a, b, c]| g.add(Op::Where, &[a, b, c], None).ok()).expect("where");
        check_random(&k, &mut rng);
        // (a & ~b) ^ (c | a) == b
        let k = kernel(n, |g, [a, b, c]| {
            let nb = g.add(Op::Unary(UnaryOp::LogicalNot), &[b], None).ok()?;
            let l = g.add(Op::Binary(BinaryOp::And), &[a, nb], None).ok()?;
            let r = g.add(Op::Binary(BinaryOp::Or), &[c, a], None).ok()?;
            let x = g.add(Op::Binary(BinaryOp::Xor), &[l, r], None).ok()?;
            g.add(Op::Binary(BinaryOp::Eq), &[x, b], None).ok()
        })
        .expect("chain");
        check_random(&k, &mut rng);
        // any(a & b) and all(a | c): fused into one reduction loop each
        for (op, bop) in [
            (ReduceOp::Any, BinaryOp::And),
            (ReduceOp::All, BinaryOp::Or),
        ] {
            let k = kernel(n, |g, [a, b, _]| {
                let x = g.add(Op::Binary(bop), &[a, b], None).ok()?;
                let red = Op::Reduce {
                    op,
                    axes: [0].into_iter().collect(),
                    keepdims: false,
                };
                g.add(red, &[x], None).ok()
            })
            .expect("reduction");
            check_random(&k, &mut rng);
        }
    }
}

#[test]
fn pure_bool_loops_take_sixteen_lanes() {
    let k = kernel(1000, |g, [a, b, _]| {
        g.add(Op::Binary(BinaryOp::And), &[a, b], None).ok()
    })
    .expect("and");
    let step = backend().compile(&k).expect("compile").vector_step();
    assert!(step >= 32, "vector step {step}\n{k}");
}

#[test]
fn true_bytes_other_than_one_load_as_true() {
    let n = 100;
    let k = kernel(n, |g, [a, b, _]| {
        g.add(Op::Binary(BinaryOp::And), &[a, b], None).ok()
    })
    .expect("and");
    let mut rng = Rng(0xba);
    let mut a = buffer(
        DType::Bool,
        &[n],
        &values(&mut rng, DType::Bool, n, 0.0, 1.0),
        false,
    );
    let b = buffer(DType::Bool, &[n], &vec![1.0; n], false);
    // Raw bytes 2 and 255 where the values are true.
    for (i, byte) in a.data.iter_mut().enumerate() {
        if *byte != 0 {
            *byte = if i % 2 == 0 { 2 } else { 255 };
        }
    }
    check(&k, &[a, b], 0.0, 0.0);
}
