//! The decompositions compute the right numbers: `expand` runs through a tiny evaluating
//! [`Emitter`] (f64 arrays, NumPy broadcasting) and is compared with direct formulas, including
//! the numerically hard cases (huge, infinite and empty inputs).

use ember_ir::passes::{expand, Emitter};
use ember_ir::{BinaryOp, Composite, DType, Literal, Op, ReduceOp, Result, UnaryOp, ValueType};
use smallvec::{smallvec, SmallVec};

/// A value: its type and its elements (row-major, held as f64 whatever the dtype).
#[derive(Clone, Debug)]
struct Arr {
    ty: ValueType,
    data: Vec<f64>,
}

fn arr(dtype: DType, shape: &[usize], data: Vec<f64>) -> Arr {
    assert_eq!(shape.iter().product::<usize>(), data.len());
    Arr {
        ty: ValueType::new(dtype, shape),
        data,
    }
}

/// Row-major coordinates of flat index `i`.
fn coords(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        c[d] = i % shape[d].max(1);
        i /= shape[d].max(1);
    }
    c
}

/// The flat index in `shape` that output coordinates `c` read from under broadcasting.
fn source(c: &[usize], shape: &[usize]) -> usize {
    let skip = c.len() - shape.len();
    shape.iter().enumerate().fold(0, |acc, (d, &n)| {
        acc * n + if n == 1 { 0 } else { c[skip + d] }
    })
}

/// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); the reference uses the same function.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    (1.0 - poly * (-x * x).exp()).copysign(x)
}

struct Eval;

impl Emitter for Eval {
    type Value = Arr;

    fn emit(&mut self, op: Op, args: &[Arr]) -> Result<Arr> {
        let types: Vec<&ValueType> = args.iter().map(|a| &a.ty).collect();
        let ty = op.infer(&types)?;
        let n = ty.numel();
        let at = |a: &Arr, i: usize| a.data[source(&coords(i, &ty.shape), &a.ty.shape)];
        let data: Vec<f64> = match &op {
            Op::Cast(d) if d.is_float() => args[0].data.clone(),
            Op::Reshape(_) => args[0].data.clone(),
            Op::Unary(u) => args[0]
                .data
                .iter()
                .map(|&x| match u {
                    UnaryOp::Exp => x.exp(),
                    UnaryOp::Log => x.ln(),
                    UnaryOp::Sqrt => x.sqrt(),
                    UnaryOp::Square => x * x,
                    UnaryOp::Erf => erf(x),
                    UnaryOp::Tanh => x.tanh(),
                    UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
                    UnaryOp::IsFinite => x.is_finite() as u8 as f64,
                    other => panic!("test evaluator lacks {other}"),
                })
                .collect(),
            Op::Binary(b) => (0..n)
                .map(|i| {
                    let (x, y) = (at(&args[0], i), at(&args[1], i));
                    match b {
                        BinaryOp::Add => x + y,
                        BinaryOp::Sub => x - y,
                        BinaryOp::Mul => x * y,
                        BinaryOp::Div => x / y,
                        other => panic!("test evaluator lacks {other}"),
                    }
                })
                .collect(),
            Op::Where => (0..n)
                .map(|i| {
                    if at(&args[0], i) != 0.0 {
                        at(&args[1], i)
                    } else {
                        at(&args[2], i)
                    }
                })
                .collect(),
            Op::Reduce { op, axes, .. } => {
                let init = if *op == ReduceOp::Sum {
                    0.0
                } else {
                    f64::NEG_INFINITY
                };
                let mut out = vec![init; n];
                let x = &args[0];
                for (i, &v) in x.data.iter().enumerate() {
                    let c = coords(i, &x.ty.shape);
                    let o = (0..c.len())
                        .filter(|d| !axes.contains(d))
                        .fold(0, |acc, d| acc * x.ty.shape[d] + c[d]);
                    out[o] = match op {
                        ReduceOp::Sum => out[o] + v,
                        ReduceOp::Max if v.is_nan() || out[o].is_nan() => f64::NAN,
                        ReduceOp::Max => out[o].max(v),
                        other => panic!("test evaluator lacks {other}"),
                    };
                }
                out
            }
            other => panic!("test evaluator lacks {}", other.name()),
        };
        Ok(Arr { ty, data })
    }

    fn value_type(&self, v: &Arr) -> ValueType {
        v.ty.clone()
    }

    fn constant(&mut self, lit: Literal) -> Result<Arr> {
        let data = (0..lit.numel()).map(|i| lit.get(i).to_f64()).collect();
        Ok(Arr {
            ty: ValueType::new(lit.dtype, &lit.shape),
            data,
        })
    }
}

fn run(c: Composite, x: &Arr) -> Arr {
    expand(&c, x.clone(), &mut Eval).unwrap_or_else(|e| panic!("{}: {e}", c.name()))
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * w.abs().max(1.0);
        assert!(ok, "{got:?} vs {want:?}");
    }
}

#[test]
fn mean_var_std_match_numpy() {
    // np.arange(6).reshape(2, 3) as int32
    let x = arr(DType::I32, &[2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let m = run(
        Composite::Mean {
            axes: smallvec![1],
            keepdims: false,
        },
        &x,
    );
    assert_eq!(m.ty, ValueType::new(DType::F64, &[2]));
    close(&m.data, &[1.0, 4.0], 0.0);
    let v = run(
        Composite::Var {
            axes: smallvec![0, 1],
            keepdims: true,
            ddof: 1,
        },
        &x,
    );
    assert_eq!(v.ty, ValueType::new(DType::F64, &[1, 1]));
    close(&v.data, &[3.5], 1e-15);
    let s = run(
        Composite::Std {
            axes: smallvec![0],
            keepdims: false,
            ddof: 0,
        },
        &x,
    );
    close(&s.data, &[1.5, 1.5, 1.5], 1e-15);
    // ddof >= n divides by zero like NumPy: inf where the sum of squares is positive.
    let s = run(
        Composite::Var {
            axes: smallvec![1],
            keepdims: false,
            ddof: 3,
        },
        &x,
    );
    close(&s.data, &[f64::INFINITY, f64::INFINITY], 0.0);
    // The mean of nothing is NaN.
    let empty = arr(DType::F32, &[2, 0], vec![]);
    let m = run(
        Composite::Mean {
            axes: smallvec![1],
            keepdims: false,
        },
        &empty,
    );
    assert!(m.data.iter().all(|v| v.is_nan()) && m.data.len() == 2);
}

#[test]
fn softmax_family_is_stable_for_huge_and_infinite_inputs() {
    let x = arr(
        DType::F64,
        &[2, 3],
        vec![1000.0, 1001.0, 1002.0, -1.0, 0.0, 1.0],
    );
    let direct = |row: &[f64]| -> Vec<f64> {
        let s: f64 = row.iter().map(|v| (v - row[2]).exp()).sum();
        row.iter().map(|v| (v - row[2]).exp() / s).collect()
    };
    let want: Vec<f64> = [direct(&x.data[..3]), direct(&x.data[3..])].concat();
    close(&run(Composite::Softmax { axis: 1 }, &x).data, &want, 1e-15);
    let logs: Vec<f64> = want.iter().map(|v| v.ln()).collect();
    close(
        &run(Composite::LogSoftmax { axis: 1 }, &x).data,
        &logs,
        1e-14,
    );
    let lse = run(
        Composite::LogSumExp {
            axes: smallvec![1],
            keepdims: false,
        },
        &x,
    );
    let lse_row = |row: &[f64]| row[2] + row.iter().map(|v| (v - row[2]).exp()).sum::<f64>().ln();
    close(
        &lse.data,
        &[lse_row(&x.data[..3]), lse_row(&x.data[3..])],
        1e-15,
    );

    // scipy's answers for rows with infinities.
    let inf = f64::INFINITY;
    let y = arr(
        DType::F64,
        &[3, 2],
        vec![-inf, -inf, inf, 0.0, f64::NAN, 1.0],
    );
    let lse = run(
        Composite::LogSumExp {
            axes: smallvec![1],
            keepdims: true,
        },
        &y,
    );
    assert_eq!(lse.ty, ValueType::new(DType::F64, &[3, 1]));
    close(&lse.data, &[-inf, inf, f64::NAN], 0.0);
    let ls = run(Composite::LogSoftmax { axis: 1 }, &y);
    close(&ls.data[..2], &[f64::NAN, f64::NAN], 0.0);
    // logsumexp over an empty axis is log(0) = -inf.
    let empty = arr(DType::F32, &[2, 0], vec![]);
    let lse = run(
        Composite::LogSumExp {
            axes: smallvec![1],
            keepdims: false,
        },
        &empty,
    );
    close(&lse.data, &[-inf, -inf], 0.0);
}

#[test]
fn activations_match_their_formulas() {
    let xs = vec![-3.0, -0.5, 0.0, 0.7, 2.0, 10.0];
    let x = arr(DType::F32, &[6], xs.clone());
    let gelu: Vec<f64> = xs
        .iter()
        .map(|&v| 0.5 * v * (1.0 + erf(v / 2f64.sqrt())))
        .collect();
    // The constants are float32 (sqrt(2) rounded), so compare loosely.
    close(
        &run(Composite::Gelu { approximate: false }, &x).data,
        &gelu,
        1e-6,
    );
    let k = (2.0 / std::f64::consts::PI).sqrt();
    let tanh: Vec<f64> = xs
        .iter()
        .map(|&v| 0.5 * v * (1.0 + (k * (v + 0.044715 * v * v * v)).tanh()))
        .collect();
    close(
        &run(Composite::Gelu { approximate: true }, &x).data,
        &tanh,
        1e-6,
    );
    let silu: Vec<f64> = xs.iter().map(|&v| v / (1.0 + (-v).exp())).collect();
    close(&run(Composite::Silu, &x).data, &silu, 1e-15);
}

#[test]
fn layer_norm_normalizes_each_row() {
    let x = arr(
        DType::F64,
        &[2, 4],
        vec![1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0],
    );
    let eps = 1e-5;
    let y = run(
        Composite::LayerNorm {
            axes: smallvec![1],
            eps_bits: f64::to_bits(eps),
        },
        &x,
    );
    let sd = (1.25f64 + eps).sqrt();
    let want = [-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd, 0.0, 0.0, 0.0, 0.0];
    close(&y.data, &want, 1e-15);
}

#[test]
fn result_types_follow_composite_inference() {
    let shapes: [&[usize]; 3] = [&[3], &[2, 3], &[1, 2, 3]];
    for dtype in [DType::I32, DType::I64, DType::F32, DType::F64] {
        for shape in shapes {
            let n = shape.iter().product();
            let x = arr(dtype, shape, (0..n).map(|i| i as f64).collect());
            let last = shape.len() - 1;
            let axes: SmallVec<[usize; 4]> = smallvec![last];
            for c in [
                Composite::Softmax { axis: 0 },
                Composite::LogSoftmax { axis: last },
                Composite::LogSumExp {
                    axes: axes.clone(),
                    keepdims: false,
                },
                Composite::Mean {
                    axes: axes.clone(),
                    keepdims: true,
                },
                Composite::Var {
                    axes: axes.clone(),
                    keepdims: false,
                    ddof: 0,
                },
                Composite::Std {
                    axes: axes.clone(),
                    keepdims: true,
                    ddof: 1,
                },
                Composite::Gelu { approximate: false },
                Composite::Silu,
                Composite::LayerNorm {
                    axes: axes.clone(),
                    eps_bits: 1e-5f64.to_bits(),
                },
            ] {
                let want = Op::Composite(c.clone()).infer(&[&x.ty]).expect("infers");
                assert_eq!(run(c, &x).ty, want);
            }
        }
    }
}
