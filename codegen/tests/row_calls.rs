//! Row loops run as calls to the 512-bit row routines (`cpu::lower::row_calls`,
//! `cpu::wide_rows`) on AVX-512 hosts: each shape against the interpreter, contiguous (the
//! calls) and strided (the loops as written), with tails, special values, and the softmax
//! whose exp row goes through a scratch row and whose output is streamed.

mod common;

use common::{buffer, check, Rng};
use ember_codegen::cpu::lower::row_calls::{RowCall, RowPlan};
use ember_codegen::cpu::wide;
use ember_codegen::cpu::KernelArg;
use ember_ir::kernel::Kernel;
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, NodeId, Op, ReduceOp, UnaryOp, ValueType};

const F: DType = DType::F32;

fn red(g: &mut Graph, op: ReduceOp, x: NodeId) -> NodeId {
    let axes = [1usize].into_iter().collect();
    let r = Op::Reduce {
        op,
        axes,
        keepdims: true,
    };
    g.add(r, &[x], None).unwrap()
}

fn bin(g: &mut Graph, op: BinaryOp, a: NodeId, b: NodeId) -> NodeId {
    g.add(Op::Binary(op), &[a, b], None).unwrap()
}

fn un(g: &mut Graph, op: UnaryOp, a: NodeId) -> NodeId {
    g.add(Op::Unary(op), &[a], None).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Case {
    Softmax,
    LogSoftmax,
    Max,
    Min,
    ExpSum,
    ShiftedExpSum,
    Normalize,
}

const CASES: [Case; 7] = [
    Case::Softmax,
    Case::LogSoftmax,
    Case::Max,
    Case::Min,
    Case::ExpSum,
    Case::ShiftedExpSum,
    Case::Normalize,
];

/// The one fused kernel of `case` over an `[r, c]` float32 input.
fn kernel(case: Case, r: usize, c: usize) -> Kernel {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(F, &[r, c]), Device::Cpu);
    let y = match case {
        Case::Softmax | Case::LogSoftmax | Case::ShiftedExpSum => {
            let m = red(&mut g, ReduceOp::Max, x);
            let d = bin(&mut g, BinaryOp::Sub, x, m);
            let e = un(&mut g, UnaryOp::Exp, d);
            let s = red(&mut g, ReduceOp::Sum, e);
            match case {
                Case::Softmax => bin(&mut g, BinaryOp::Div, e, s),
                Case::LogSoftmax => {
                    let l = un(&mut g, UnaryOp::Log, s);
                    bin(&mut g, BinaryOp::Sub, d, l)
                }
                _ => s,
            }
        }
        Case::Max => red(&mut g, ReduceOp::Max, x),
        Case::Min => red(&mut g, ReduceOp::Min, x),
        Case::ExpSum => {
            let e = un(&mut g, UnaryOp::Exp, x);
            red(&mut g, ReduceOp::Sum, e)
        }
        Case::Normalize => {
            let s = red(&mut g, ReduceOp::Sum, x);
            bin(&mut g, BinaryOp::Div, x, s)
        }
    };
    g.output(y).unwrap();
    let p = partition(&g).unwrap();
    assert_eq!(p.kernels().len(), 1, "{case:?} fuses into one kernel");
    p.kernels()[0].kernel.clone()
}

fn plan(k: &Kernel) -> RowPlan {
    let types = k.verify().unwrap();
    RowPlan::of(k, k.body.len(), &types, &k.loop_ends())
}

#[test]
fn the_row_loops_are_planned_as_calls() {
    if !wide::available() {
        eprintln!("no AVX-512 here: nothing is planned");
        return;
    }
    let count =
        |k: &Kernel, f: &dyn Fn(&RowCall) -> bool| plan(k).calls.values().filter(|c| f(c)).count();
    let sm = kernel(Case::Softmax, 4, 64);
    assert_eq!(plan(&sm).calls.len(), 3, "{sm}");
    assert!(
        plan(&sm).redirect.is_some(),
        "softmax's exp row goes to the scratch row"
    );
    assert!(!plan(&sm).stream, "a small output is not streamed");
    assert!(plan(&kernel(Case::Softmax, 2048, 1024)).stream);
    let ls = kernel(Case::LogSoftmax, 4, 64);
    assert_eq!(
        count(&ls, &|c| matches!(c, RowCall::ExpSum { store: None, .. })),
        1,
        "log_softmax sums exp without storing it\n{ls}"
    );
    assert!(plan(&ls).redirect.is_none());
    assert_eq!(plan(&kernel(Case::Min, 4, 64)).calls.len(), 1);
    let es = kernel(Case::ExpSum, 4, 64);
    assert_eq!(
        count(&es, &|c| matches!(c, RowCall::ExpSum { sub: None, .. })),
        1,
        "{es}"
    );
}

#[test]
fn every_case_matches_the_interpreter() {
    let mut rng = Rng(7);
    for case in CASES {
        for (r, c) in [(3, 1), (5, 15), (4, 16), (3, 17), (7, 100), (2, 1027)] {
            let k = kernel(case, r, c);
            let x: Vec<f64> = (0..r * c).map(|_| rng.uniform(-8.0, 8.0)).collect();
            // The kernel's own view of the input (fusion drops a size-1 last dimension).
            let shape = &k.args[1].shape;
            for strided in [false, true] {
                check(&k, &[buffer(F, shape, &x, strided)], 4.0, 1e-6);
            }
        }
    }
}

#[test]
fn special_values_in_rows() {
    let (r, c) = (6, 45);
    let mut rng = Rng(82);
    let mut x: Vec<f64> = (0..r * c).map(|_| rng.uniform(-150.0, 50.0)).collect();
    x[3] = f64::NEG_INFINITY;
    x[c + 40] = f64::NEG_INFINITY;
    x[2 * c + 9] = f64::INFINITY;
    x[3 * c + 17] = f64::NAN;
    for j in 0..c {
        x[4 * c + j] = if j % 3 == 0 { -1e30 } else { 0.0 };
    }
    x[5 * c..6 * c].fill(f64::NEG_INFINITY);
    for case in CASES {
        let k = kernel(case, r, c);
        for strided in [false, true] {
            check(&k, &[buffer(F, &[r, c], &x, strided)], 4.0, 1e-6);
        }
    }
}

/// The streamed softmax (an output of 8 MiB or more), against a float64 softmax, at an
/// output offset that is not 64-byte aligned (the routine's head before streaming).
#[test]
fn streamed_softmax_matches_float64() {
    let (r, c) = (2048, 1027);
    let k = kernel(Case::Softmax, r, c);
    let mut rng = Rng(11);
    let mut x: Vec<f32> = (0..r * c)
        .map(|_| rng.uniform(-10.0, 10.0) as f32)
        .collect();
    let mut out = vec![0.0f32; r * c + 5];
    let o = unsafe { out.as_mut_ptr().add(3) };
    let compiled = common::backend().compile(&k).unwrap();
    let args = [
        KernelArg::new(o as *mut u8, F, &[c as isize, 1]),
        KernelArg::new(x.as_mut_ptr() as *mut u8, F, &[c as isize, 1]),
    ];
    // SAFETY: `out` holds r*c elements from offset 3, `x` r*c.
    unsafe { compiled.run(&args).unwrap() };
    for i in 0..r {
        let row = &x[i * c..(i + 1) * c];
        // `x - max` rounds to float32 in the kernel (and in NumPy): so here too.
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        let e = |v: f32| ((v - m) as f64).exp();
        let s: f64 = row.iter().map(|&v| e(v)).sum();
        for j in 0..c {
            let want = e(row[j]) / s;
            let got = out[3 + i * c + j] as f64;
            let d = common::ulps(F, want, got);
            assert!(d <= 4.0, "row {i} col {j}: {want:e} vs {got:e} ({d} ulps)");
        }
    }
}

/// The scale routine's division goes through the reciprocal plus one correction: every
/// quotient must have exactly the bits of `y / s` (zeros' signs, denormals, infinities and NaN
/// included). `examples/div_exact.rs` checks every float32 significand for a few divisors.
#[test]
fn scale_divides_with_the_bits_of_division() {
    use ember_codegen::cpu::wide_rows::ember_row_scale_f32;
    let mut rng = Rng(2024);
    let mut ys: Vec<f32> = (0..40_000)
        .map(|_| {
            let e = rng.uniform(-100.0, 100.0);
            let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
            (sign * rng.uniform(1.0, 2.0) * 2f64.powf(e.floor())) as f32
        })
        .collect();
    ys.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-40,
        -1e-40,
        f32::MIN_POSITIVE,
        f32::MAX,
        1.0,
        2f32.powi(-90),
        2f32.powi(90),
    ]);
    let mut ss: Vec<f32> = (0..60)
        .map(|_| (rng.uniform(1.0, 2.0) * 2f64.powf(rng.uniform(-40.0, 40.0).floor())) as f32)
        .collect();
    ss.extend([
        1.0,
        3.0,
        7.0,
        0.1,
        4096.0,
        1e-38,
        1e38,
        f32::INFINITY,
        0.0,
        -3.0,
        f32::NAN,
    ]);
    let mut out = vec![0.0f32; ys.len()];
    for &s in &ss {
        // SAFETY: both buffers hold `ys.len()` elements.
        unsafe { ember_row_scale_f32(ys.as_ptr(), s, out.as_mut_ptr(), ys.len(), 0) };
        for (y, q) in ys.iter().zip(&out) {
            let want = y / s;
            assert!(
                want.to_bits() == q.to_bits() || want.is_nan() && q.is_nan(),
                "{y:e} / {s:e}: {want:e}, routine {q:e}"
            );
        }
    }
}
