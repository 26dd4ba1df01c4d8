//! Matmul epilogues the GEMM stores itself (`relu(x @ w + b)` and its parts): which forms the
//! plan fuses (no epilogue kernel left), that a fused result equals, bit for bit, the same
//! graph computed as a GEMM followed by an epilogue kernel, and that it matches the eager
//! oracle; the forms that are not fused (`maximum(0, x)`, a promoting addend) still compute
//! the right answer.

mod common;

use common::{compare, random_tensor};
use ember::ir::{BinaryOp, UnaryOp, ValueType};
use ember::jit::{trace_and_compile, CompileOptions, Compiled};
use ember::ops;
use ember::{DType, Result, Tensor};

type Body = fn(&[Tensor]) -> Result<Vec<Tensor>>;

fn compile(f: Body, args: &[Tensor]) -> Compiled {
    let types: Vec<ValueType> = args.iter().map(|t| t.value_type().clone()).collect();
    trace_and_compile(&f, &types, &CompileOptions::default()).expect("compiles")
}

fn fused(c: &Compiled) -> bool {
    c.plan_summary().contains("storing their epilogue")
}

fn bits(t: &Tensor) -> Vec<u64> {
    match t.dtype() {
        DType::F32 => t
            .to_array::<f32>()
            .unwrap()
            .iter()
            .map(|x| x.to_bits() as u64)
            .collect(),
        _ => t
            .to_array::<f64>()
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect(),
    }
}

fn max0(x: &Tensor) -> Result<Tensor> {
    ops::binary(BinaryOp::Max, x, 0.0)
}

/// `epilogue(x @ w, extra)` jitted alone (fused when `want_fused`) and with the product as a
/// second output (which keeps the GEMM's result, so the epilogue runs as a kernel): equal bit
/// for bit, and equal to the eager result within float tolerance.
fn check(args: &[Tensor], alone: Body, with_product: Body, want_fused: bool) {
    let c = compile(alone, args);
    assert_eq!(fused(&c), want_fused, "{}", c.plan_summary());
    if want_fused {
        assert!(c.kernels().is_empty(), "{}", c.plan_summary());
    }
    let got = c.run(args).expect("runs").remove(0);
    let unfused = compile(with_product, args);
    assert!(!fused(&unfused), "{}", unfused.plan_summary());
    let reference = unfused.run(args).expect("runs").remove(0);
    assert_eq!(bits(&got), bits(&reference), "fused vs unfused");
    let eager = alone(args).expect("eager").remove(0);
    compare("fused vs eager", &got, &eager).unwrap();
}

macro_rules! case {
    ($args:expr, |$x:ident, $w:ident, $d:ident| $e:expr, $fused:expr) => {{
        fn alone(a: &[Tensor]) -> Result<Vec<Tensor>> {
            let ($x, $w, $d) = (&a[0], &a[1], &a[2]);
            let _ = $d;
            Ok(vec![$e])
        }
        fn with_product(a: &[Tensor]) -> Result<Vec<Tensor>> {
            let ($x, $w, $d) = (&a[0], &a[1], &a[2]);
            let _ = $d;
            Ok(vec![$e, ops::matmul($x, $w)?])
        }
        check($args, alone, with_product, $fused);
    }};
}

fn operands(dtype: DType, x: &[usize], w: &[usize], d: &[usize], seed: u64) -> Vec<Tensor> {
    vec![
        random_tensor(dtype, x, seed, false, false),
        random_tensor(dtype, w, seed + 1, false, false),
        random_tensor(dtype, d, seed + 2, false, false),
    ]
}

#[test]
fn bias_relu_and_their_parts_are_fused() {
    for dtype in [DType::F32, DType::F64] {
        let args = operands(dtype, &[37, 50], &[50, 70], &[70], 1);
        case!(
            &args,
            |x, w, b| max0(&ops::add(&ops::matmul(x, w)?, b)?)?,
            true
        );
        case!(&args, |x, w, b| ops::add(b, &ops::matmul(x, w)?)?, true);
        case!(&args, |x, w, b| max0(&ops::matmul(x, w)?)?, true);
        case!(
            &args,
            |x, w, b| ops::unary(UnaryOp::Relu, &ops::add(&ops::matmul(x, w)?, b)?)?,
            true
        );
    }
}

#[test]
fn addends_of_every_broadcast_shape() {
    for (d, seed) in [(&[37usize, 1][..], 10), (&[37, 70], 20), (&[1, 70], 30)] {
        let args = operands(DType::F32, &[37, 50], &[50, 70], d, seed);
        case!(
            &args,
            |x, w, b| max0(&ops::add(&ops::matmul(x, w)?, b)?)?,
            true
        );
    }
    // A scalar (a splat constant folded into the epilogue).
    let args = operands(DType::F64, &[20, 9], &[9, 33], &[1], 40);
    case!(
        &args,
        |x, w, b| max0(&ops::add(&ops::matmul(x, w)?, 1.5)?)?,
        true
    );
}

#[test]
fn batched_and_transposed_operands() {
    let args = operands(DType::F32, &[3, 17, 40], &[3, 40, 45], &[45], 50);
    case!(
        &args,
        |x, w, b| max0(&ops::add(&ops::matmul(x, w)?, b)?)?,
        true
    );
    let args = vec![
        random_tensor(DType::F64, &[31, 29], 60, false, true),
        random_tensor(DType::F64, &[29, 66], 61, false, true),
        random_tensor(DType::F64, &[66], 62, false, false),
    ];
    case!(
        &args,
        |x, w, b| max0(&ops::add(&ops::matmul(x, w)?, b)?)?,
        true
    );
}

#[test]
fn specials_in_the_addend_follow_numpy() {
    // NaN, infinities and zeros of both signs in the bias: relu keeps NaN, turns -0.0 into
    // +0.0, exactly like the epilogue kernel.
    let args = vec![
        random_tensor(DType::F32, &[30, 20], 70, false, false),
        random_tensor(DType::F32, &[20, 64], 71, false, false),
        random_tensor(DType::F32, &[64], 72, true, false),
    ];
    case!(
        &args,
        |x, w, b| max0(&ops::add(&ops::matmul(x, w)?, b)?)?,
        true
    );
}

#[test]
fn other_epilogues_keep_their_kernel() {
    let args = operands(DType::F32, &[37, 50], &[50, 70], &[70], 80);
    // maximum(0, x) keeps -0.0: not relu.
    case!(
        &args,
        |x, w, b| ops::binary(BinaryOp::Max, 0.0, &ops::add(&ops::matmul(x, w)?, b)?)?,
        false
    );
    case!(
        &args,
        |x, w, b| ops::multiply(&ops::matmul(x, w)?, b)?,
        false
    );
    case!(
        &args,
        |x, w, b| max0(&ops::add(&ops::matmul(x, w)?, &ops::multiply(b, 2.0)?)?)?,
        false
    );
    // A float64 bias promotes the float32 product: the addition is not the GEMM's dtype.
    let mut args = operands(DType::F32, &[12, 8], &[8, 20], &[20], 90);
    args[2] = random_tensor(DType::F64, &[20], 91, false, false);
    case!(
        &args,
        |x, w, b| max0(&ops::add(&ops::matmul(x, w)?, b)?)?,
        false
    );
}
