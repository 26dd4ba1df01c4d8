//! Shared test helpers: the golden-file harness and a small constant evaluator.
#![allow(dead_code)]

use ember_ir::passes::ConstEvaluator;
use ember_ir::{verify, BinaryOp, DType, Graph, Literal, Op, Result, Scalar, UnaryOp, ValueType};
use std::fmt::Write;
use std::path::PathBuf;

/// One golden case: a name, the input graph's text and the expected text after the transform.
struct Case {
    name: String,
    input: String,
    expected: String,
}

/// Runs `transform` on every case of `tests/golden/<file>` and compares the printed result
/// with the expected text. The file is a header of `//` lines, then cases:
///
/// ```text
/// === name
/// <input graph>
/// ---
/// <expected graph>
/// ```
///
/// With `EMBER_BLESS=1` the expected parts are rewritten from what the code prints.
pub fn check_golden(file: &str, transform: impl Fn(&mut Graph) -> Result<()>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (header, cases) = split_cases(&text);
    assert!(!cases.is_empty(), "{file}: no cases");
    let mut failures = String::new();
    let mut blessed = header.clone();
    for case in &cases {
        let mut g = Graph::parse(&case.input)
            .unwrap_or_else(|e| panic!("{file} / {}: input does not parse: {e}", case.name));
        verify(&g).unwrap_or_else(|e| panic!("{file} / {}: input: {e}", case.name));
        transform(&mut g).unwrap_or_else(|e| panic!("{file} / {}: transform: {e}", case.name));
        verify(&g).unwrap_or_else(|e| panic!("{file} / {}: output: {e}\n{g}", case.name));
        let actual = g.to_string();
        // The printed result must itself read back to the same text.
        let again = Graph::parse(&actual).map(|g| g.to_string());
        assert_eq!(
            again.as_ref(),
            Ok(&actual),
            "{file} / {}: output does not round-trip",
            case.name
        );
        if actual.trim_end() != case.expected.trim_end() {
            let _ = write!(
                failures,
                "\n=== {} ({file})\n--- expected\n{}\n--- actual\n{}",
                case.name,
                case.expected.trim_end(),
                actual.trim_end()
            );
        }
        let _ = write!(
            blessed,
            "=== {}\n{}\n---\n{}\n",
            case.name,
            case.input.trim_end(),
            actual.trim_end()
        );
        blessed.push('\n');
    }
    if std::env::var("EMBER_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, blessed.trim_end().to_string() + "\n").expect("write golden file");
        return;
    }
    assert!(
        failures.is_empty(),
        "golden mismatch (EMBER_BLESS=1 rewrites):{failures}"
    );
}

fn split_cases(text: &str) -> (String, Vec<Case>) {
    let mut header = String::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut in_expected = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            cases.push(Case {
                name: name.trim().to_string(),
                input: String::new(),
                expected: String::new(),
            });
            in_expected = false;
            continue;
        }
        let Some(case) = cases.last_mut() else {
            header.push_str(line);
            header.push('\n');
            continue;
        };
        if line.trim() == "---" && !in_expected {
            in_expected = true;
        } else if in_expected {
            case.expected.push_str(line);
            case.expected.push('\n');
        } else {
            case.input.push_str(line);
            case.input.push('\n');
        }
    }
    if !header.is_empty() && !header.ends_with("\n\n") {
        header.push('\n');
    }
    (header, cases)
}

/// A constant evaluator for a few ops only (the real one is the `ember` crate's eager kernels):
/// add, subtract, multiply, divide (same shapes or a one-element operand), negative, cast,
/// reshape and broadcast of one element.
pub struct TestEvaluator;

impl ConstEvaluator for TestEvaluator {
    fn eval(&self, op: &Op, args: &[&Literal], out: &ValueType) -> Option<Literal> {
        let n = out.numel();
        let at = |lit: &Literal, i: usize| lit.get(if lit.numel() == 1 { 0 } else { i });
        let fits = |lit: &Literal| lit.numel() == 1 || lit.shape == out.shape;
        let values: Vec<Scalar> = match op {
            Op::Binary(b) if args.iter().all(|a| fits(a)) => (0..n)
                .map(|i| binary(*b, at(args[0], i), at(args[1], i), out.dtype))
                .collect::<Option<_>>()?,
            Op::Unary(UnaryOp::Neg) => (0..n)
                .map(|i| match args[0].get(i) {
                    Scalar::I32(v) => Scalar::I32(v.wrapping_neg()),
                    Scalar::I64(v) => Scalar::I64(v.wrapping_neg()),
                    Scalar::F32(v) => Scalar::F32(-v),
                    Scalar::F64(v) => Scalar::F64(-v),
                    Scalar::Bool(v) => Scalar::Bool(v),
                })
                .collect(),
            Op::Cast(d) => (0..n).map(|i| args[0].get(i).cast(*d)).collect(),
            Op::Reshape(_) => (0..n).map(|i| args[0].get(i)).collect(),
            Op::Broadcast(_) if args[0].numel() == 1 => (0..n).map(|_| args[0].get(0)).collect(),
            _ => return None,
        };
        let bytes = values.iter().flat_map(|s| s.to_bytes()).collect();
        Literal::from_bytes(out.dtype, &out.shape, bytes)
    }
}

fn binary(op: BinaryOp, a: Scalar, b: Scalar, out: DType) -> Option<Scalar> {
    let (a, b) = (a.cast(out), b.cast(out));
    Some(match (a, b) {
        (Scalar::I64(x), Scalar::I64(y)) => Scalar::I64(match op {
            BinaryOp::Add => x.wrapping_add(y),
            BinaryOp::Sub => x.wrapping_sub(y),
            BinaryOp::Mul => x.wrapping_mul(y),
            _ => return None,
        }),
        (Scalar::I32(x), Scalar::I32(y)) => Scalar::I32(match op {
            BinaryOp::Add => x.wrapping_add(y),
            BinaryOp::Sub => x.wrapping_sub(y),
            BinaryOp::Mul => x.wrapping_mul(y),
            _ => return None,
        }),
        (Scalar::F64(x), Scalar::F64(y)) => Scalar::F64(float(op, x, y)?),
        // f32 arithmetic done in f64 and rounded once is exact for + - * /.
        (Scalar::F32(x), Scalar::F32(y)) => Scalar::F32(float(op, x as f64, y as f64)? as f32),
        _ => return None,
    })
}

fn float(op: BinaryOp, x: f64, y: f64) -> Option<f64> {
    Some(match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        _ => return None,
    })
}

/// One step of a random graph: which op to try, and seeds for its operands and attributes.
pub type Step = (u8, u64, u64, u64);

/// Builds a valid random graph from `steps`: a few inputs, then one op per step on earlier
/// values (steps whose op does not type-check are skipped), then outputs. Exercises every op
/// kind, both devices, constants with NaN/inf/-0.0 and source locations.
pub fn random_graph(inputs: &[(u8, u64)], steps: &[Step]) -> Graph {
    use ember_ir::{Composite, Device, ReduceOp, SliceDim, SourceLoc};
    use smallvec::SmallVec;
    let mut g = Graph::new();
    let mut values = Vec::new();
    for &(dt, seed) in inputs {
        let rank = (seed % 4) as usize;
        let shape: Vec<usize> = (0..rank)
            .map(|i| ((seed >> (4 + 2 * i)) % 4) as usize + 1)
            .collect();
        let device = if seed & (1 << 20) != 0 {
            Device::Cuda(0)
        } else {
            Device::Cpu
        };
        values.push(g.input(ValueType::new(DType::ALL[dt as usize % 5], &shape), device));
    }
    let files = ["model.py", "my model.py", "dir/x.rs"];
    for &(kind, a, b, c) in steps {
        if values.is_empty() {
            break;
        }
        let pick = |s: u64| values[(s % values.len() as u64) as usize];
        let (x, y, z) = (pick(a), pick(b), pick(c));
        let xt = g.node(x).ty.clone();
        let rank = xt.shape.len();
        let same_device =
            |ids: &[ember_ir::NodeId]| ids.iter().all(|&i| g.node(i).device == g.node(x).device);
        let loc = (c % 3 == 0).then(|| SourceLoc {
            file: files[(c % 9 / 3) as usize].into(),
            line: (c % 100) as u32,
        });
        let axes =
            |s: u64| -> SmallVec<[usize; 4]> { (0..rank).filter(|i| s >> i & 1 == 1).collect() };
        let (op, args): (Op, Vec<_>) = match kind % 16 {
            0 => (
                Op::Unary(UnaryOp::ALL[(b % UnaryOp::ALL.len() as u64) as usize]),
                vec![x],
            ),
            1 => (
                Op::Binary(BinaryOp::ALL[(c % BinaryOp::ALL.len() as u64) as usize]),
                vec![x, y],
            ),
            2 => (Op::Where, vec![x, y, z]),
            3 => (Op::Cast(DType::ALL[(b % 5) as usize]), vec![x]),
            4 => {
                let op = ReduceOp::ALL[(b % ReduceOp::ALL.len() as u64) as usize];
                (
                    Op::Reduce {
                        op,
                        axes: axes(c),
                        keepdims: c & 64 != 0,
                    },
                    vec![x],
                )
            }
            5 => (Op::Reshape(SmallVec::from_slice(&[1, xt.numel()])), vec![x]),
            6 => (Op::Permute((0..rank).rev().collect()), vec![x]),
            7 => {
                let mut s = xt.shape.clone();
                s.insert(0, 2);
                (Op::Broadcast(s), vec![x])
            }
            8 => {
                let dims = xt
                    .shape
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| match (b >> (2 * i)) % 3 {
                        0 => SliceDim::full(n),
                        1 => SliceDim::from_python(None, None, Some(-1), n).expect("valid"),
                        _ => SliceDim::from_python(Some(1), None, Some(2), n).expect("valid"),
                    });
                (Op::Slice(dims.collect()), vec![x])
            }
            9 => (
                Op::Concat {
                    axis: (b % rank.max(1) as u64) as usize,
                },
                vec![x, y],
            ),
            10 => (Op::MatMul, vec![x, y]),
            11 => {
                let ax = axes(c);
                let axis = (c % rank.max(1) as u64) as usize;
                let comp = match b % 9 {
                    0 => Composite::Softmax { axis },
                    1 => Composite::LogSoftmax { axis },
                    2 => Composite::LogSumExp {
                        axes: ax,
                        keepdims: c & 64 != 0,
                    },
                    3 => Composite::Mean {
                        axes: ax,
                        keepdims: c & 64 != 0,
                    },
                    4 => Composite::Var {
                        axes: ax,
                        keepdims: c & 64 != 0,
                        ddof: (c >> 8) as u32 % 2,
                    },
                    5 => Composite::Std {
                        axes: ax,
                        keepdims: c & 64 != 0,
                        ddof: (c >> 8) as u32 % 2,
                    },
                    6 => Composite::Gelu {
                        approximate: c & 1 == 1,
                    },
                    7 => Composite::Silu,
                    _ => Composite::LayerNorm {
                        axes: ax,
                        eps_bits: 1e-5f64.to_bits(),
                    },
                };
                (Op::Composite(comp), vec![x])
            }
            12 => {
                let dtype = DType::ALL[(b % 5) as usize];
                let n = (c % 4) as usize;
                let specials = [
                    0.0,
                    -0.0,
                    1.5,
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -2.0,
                    1e-7,
                    3.0e38,
                ];
                let bytes: Vec<u8> = (0..n)
                    .flat_map(|i| {
                        Scalar::F64(specials[((c >> (8 + 4 * i)) % 9) as usize])
                            .cast(dtype)
                            .to_bytes()
                    })
                    .collect();
                let shape: &[usize] = if c & 4 == 0 && n == 1 { &[] } else { &[n] };
                let lit = Literal::from_bytes(dtype, shape, bytes).expect("sized");
                let device = if c & 8 == 0 {
                    Device::Cpu
                } else {
                    Device::Cuda(0)
                };
                let ty = ValueType::new(dtype, shape);
                values.push(g.add_typed(Op::Const(lit), ty, device, &[], loc));
                continue;
            }
            13 => {
                let to = if g.node(x).device == Device::Cpu {
                    Device::Cuda((b % 2) as u32)
                } else {
                    Device::Cpu
                };
                (Op::Copy(to), vec![x])
            }
            14 => {
                let _ = g.output(x);
                continue;
            }
            _ => (Op::Binary(BinaryOp::Mul), vec![x, x]),
        };
        if !same_device(&args) {
            continue;
        }
        if let Ok(id) = g.add(op, &args, loc) {
            values.push(id);
        }
    }
    if let Some(&last) = values.last() {
        let _ = g.output(last);
    }
    g
}
