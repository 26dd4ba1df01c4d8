//! Kernels shared by the CUDA tests (rendering, NVRTC, grid simulator, GPU), and the
//! NVRTC gate: tests that need NVRTC skip loudly when it is missing, unless
//! `EMBER_REQUIRE_NVRTC` is set (scripts/test.sh sets it), in which case they fail.
#![allow(dead_code)]

use ember_ir::kernel::build::Builder;
use ember_ir::kernel::{ArgId, Kernel};
use ember_ir::passes::fuse::{self, KernelStep, Step};
use ember_ir::{BinaryOp, DType, Graph, NodeId, ReduceOp, Scalar, UnaryOp};

/// A float constant of `dt`.
pub fn fconst(dt: DType, v: f64) -> Scalar {
    Scalar::F64(v).cast(dt)
}

/// W1: `tanh(a*b+c)*0.5 + a/(1+exp(-b))` over `n` elements.
pub fn w1(dt: DType, n: usize) -> Kernel {
    let mut b = Builder::new("w1");
    let (a0, a1, a2) = (
        b.arg(dt, &[n], false),
        b.arg(dt, &[n], false),
        b.arg(dt, &[n], false),
    );
    let out = b.arg(dt, &[n], true);
    let i = b.open_loop(n, true);
    let (x, y, z) = (b.load(a0, &[i]), b.load(a1, &[i]), b.load(a2, &[i]));
    let m = b.binary(BinaryOp::Mul, x, y);
    let s = b.binary(BinaryOp::Add, m, z);
    let t = b.unary(UnaryOp::Tanh, s);
    let half = b.konst(fconst(dt, 0.5));
    let t = b.binary(BinaryOp::Mul, t, half);
    let ny = b.unary(UnaryOp::Neg, y);
    let e = b.unary(UnaryOp::Exp, ny);
    let one = b.konst(fconst(dt, 1.0));
    let d = b.binary(BinaryOp::Add, one, e);
    let q = b.binary(BinaryOp::Div, x, d);
    let r = b.binary(BinaryOp::Add, t, q);
    b.store(out, &[i], r);
    b.finish()
}

/// `out[i, j] = x[i, j] op y[j]` (y broadcast over rows).
pub fn broadcast(op: BinaryOp, dt: DType, r: usize, c: usize) -> Kernel {
    let mut b = Builder::new("broadcast");
    let (ax, ay) = (b.arg(dt, &[r, c], false), b.arg(dt, &[c], false));
    let rdt = ember_ir::kernel::binary_result(op, dt).unwrap_or(dt);
    let out = b.arg(rdt, &[r, c], true);
    let i = b.open_loop(r, true);
    let j = b.open_loop(c, false);
    let (x, y) = (b.load(ax, &[i, j]), b.load(ay, &[j]));
    let v = b.binary(op, x, y);
    b.store(out, &[i, j], v);
    b.finish()
}

/// `out[i] = reduce_j x[i, j]` (a parallel loop over rows when `parallel`).
pub fn row_reduce(op: ReduceOp, dt: DType, r: usize, c: usize, parallel: bool) -> Kernel {
    let mut b = Builder::new("row_reduce");
    let a = b.arg(dt, &[r, c], false);
    let vdt = match op {
        ReduceOp::Any | ReduceOp::All => DType::Bool,
        ReduceOp::Sum | ReduceOp::Prod => dt.sum_result(),
        _ => dt,
    };
    let out = b.arg(ember_ir::kernel::acc_result(op, vdt), &[r], true);
    let i = b.open_loop(r, parallel);
    let acc = b.acc(op, vdt);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    let x = if vdt != dt { b.cast(vdt, x) } else { x };
    if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
        b.update_arg(acc, x, j);
    } else {
        b.update(acc, x);
    }
    b.close_loop();
    b.store(out, &[i], acc);
    b.finish()
}

/// `out[] = sum x[j]`: a full reduction with no parallel loop (one block).
pub fn full_sum(dt: DType, n: usize) -> Kernel {
    let mut b = Builder::new("full_sum");
    let a = b.arg(dt, &[n], false);
    let out = b.arg(dt, &[], true);
    let acc = b.acc(ReduceOp::Sum, dt);
    let j = b.open_loop(n, false);
    let x = b.load(a, &[j]);
    b.update(acc, x);
    b.close_loop();
    b.store(out, &[], acc);
    b.finish()
}

/// `out[i] = x[i] as to`.
pub fn cast(from: DType, to: DType, n: usize) -> Kernel {
    let mut b = Builder::new("cast");
    let a = b.arg(from, &[n], false);
    let out = b.arg(to, &[n], true);
    let i = b.open_loop(n, true);
    let x = b.load(a, &[i]);
    let v = b.cast(to, x);
    b.store(out, &[i], v);
    b.finish()
}

/// An int64 kernel: `max(a // b, a % b) * a + b ** 2`, all wrapping like NumPy.
pub fn int_kernel(n: usize) -> Kernel {
    let dt = DType::I64;
    let mut b = Builder::new("int_ops");
    let (a0, a1) = (b.arg(dt, &[n], false), b.arg(dt, &[n], false));
    let out = b.arg(dt, &[n], true);
    let i = b.open_loop(n, true);
    let (x, y) = (b.load(a0, &[i]), b.load(a1, &[i]));
    let q = b.binary(BinaryOp::FloorDiv, x, y);
    let r = b.binary(BinaryOp::Rem, x, y);
    let m = b.binary(BinaryOp::Max, q, r);
    let p = b.binary(BinaryOp::Mul, m, x);
    let two = b.konst(Scalar::I64(2));
    let s = b.binary(BinaryOp::Pow, y, two);
    let v = b.binary(BinaryOp::Add, p, s);
    b.store(out, &[i], v);
    b.finish()
}

/// `out[i] = op(x[i])` over a parallel loop.
pub fn unary(op: UnaryOp, dt: DType, n: usize) -> Option<Kernel> {
    let rdt = ember_ir::kernel::unary_result(op, dt).ok()?;
    let mut b = Builder::new("unary");
    let a = b.arg(dt, &[n], false);
    let out = b.arg(rdt, &[n], true);
    let i = b.open_loop(n, true);
    let x = b.load(a, &[i]);
    let v = b.unary(op, x);
    b.store(out, &[i], v);
    Some(b.finish())
}

/// Softmax over rows in one kernel: max, sum of exp, normalized row.
pub fn softmax(r: usize, c: usize) -> Kernel {
    let dt = DType::F32;
    let mut b = Builder::new("softmax");
    let a = b.arg(dt, &[r, c], false);
    let out = b.arg(dt, &[r, c], true);
    let i = b.open_loop(r, true);
    let m = b.acc(ReduceOp::Max, dt);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    b.update(m, x);
    b.close_loop();
    let s = b.acc(ReduceOp::Sum, dt);
    let j = b.open_loop(c, false);
    let x = b.load(a, &[i, j]);
    let d = b.binary(BinaryOp::Sub, x, m);
    let e = b.unary(UnaryOp::Exp, d);
    b.update(s, e);
    // Kept in the output row and read back below (the fusion pass's form).
    b.store(out, &[i, j], e);
    b.close_loop();
    let j = b.open_loop(c, false);
    let e = b.load(out, &[i, j]);
    let q = b.binary(BinaryOp::Div, e, s);
    b.store(out, &[i, j], q);
    b.finish()
}

/// A kernel with no loops (rank-0 arguments): `out[] = a[] * b[] + where(a > b, a, b)`.
pub fn scalar_kernel() -> Kernel {
    let dt = DType::F32;
    let mut b = Builder::new("scalar");
    let (a0, a1) = (b.arg(dt, &[], false), b.arg(dt, &[], false));
    let out = b.arg(dt, &[], true);
    let (x, y) = (b.load(a0, &[]), b.load(a1, &[]));
    let m = b.binary(BinaryOp::Mul, x, y);
    let c = b.binary(BinaryOp::Gt, x, y);
    let s = b.select(c, x, y);
    let v = b.binary(BinaryOp::Add, m, s);
    b.store(out, &[], v);
    b.finish()
}

/// `out = relu(a @ b + bias)` as one kernel: the matmul's k loop and its epilogue fused.
pub fn matmul_bias_relu(dt: DType, m: usize, k: usize, n: usize) -> Kernel {
    let mut b = Builder::new("matmul_bias_relu");
    let (aa, ab, abias) = (
        b.arg(dt, &[m, k], false),
        b.arg(dt, &[k, n], false),
        b.arg(dt, &[n], false),
    );
    let out = b.arg(dt, &[m, n], true);
    let i = b.open_loop(m, true);
    let j = b.open_loop(n, false);
    let acc = b.acc(ReduceOp::Sum, dt);
    let kk = b.open_loop(k, false);
    let x = b.load(aa, &[i, kk]);
    let y = b.load(ab, &[kk, j]);
    let p = b.binary(BinaryOp::Mul, x, y);
    b.update(acc, p);
    b.close_loop();
    let bias = b.load(abias, &[j]);
    let s = b.binary(BinaryOp::Add, acc, bias);
    let r = b.unary(UnaryOp::Relu, s);
    b.store(out, &[i, j], r);
    b.finish()
}

/// `c = a @ b` as the runtime's device matmul writes it: with `batch`, a stack of products
/// (`b` shared by every matrix of the stack unless `b_batched`).
pub fn matmul(
    dt: DType,
    batch: Option<usize>,
    m: usize,
    k: usize,
    n: usize,
    b_batched: bool,
) -> Kernel {
    let mut b = Builder::new("matmul");
    let lead: Vec<usize> = batch.into_iter().collect();
    let shape = |r: usize, c: usize, batched: bool| -> Vec<usize> {
        let mut s = if batched { lead.clone() } else { Vec::new() };
        s.extend([r, c]);
        s
    };
    let aa = b.arg(dt, &shape(m, k, true), false);
    let ab = b.arg(dt, &shape(k, n, b_batched), false);
    let out = b.arg(dt, &shape(m, n, true), true);
    let bv = batch.map(|nb| b.open_loop(nb, true));
    let i = b.open_loop(m, bv.is_none());
    let j = b.open_loop(n, false);
    let acc = b.acc(ReduceOp::Sum, dt);
    let p = b.open_loop(k, false);
    let idx = |x: ember_ir::kernel::Var, y: ember_ir::kernel::Var, batched: bool| {
        let mut v: Vec<_> = if batched {
            bv.into_iter().collect()
        } else {
            Vec::new()
        };
        v.extend([x, y]);
        v
    };
    let x = b.load(aa, &idx(i, p, true));
    let y = b.load(ab, &idx(p, j, b_batched));
    let xy = b.binary(BinaryOp::Mul, x, y);
    b.update(acc, xy);
    b.close_loop();
    b.store(out, &idx(i, j, true), acc);
    b.close_loop();
    b.close_loop();
    if bv.is_some() {
        b.close_loop();
    }
    b.finish()
}

/// A matmul and the epilogue the fusion pass attaches to it, as the device runtime runs them
/// with the tiled kernel: the product kernel ([`matmul`], the right operand bound per batch)
/// and the fusion pass's epilogue step.
pub struct MatMulStep {
    /// The graph.
    pub graph: Graph,
    /// The operands and the matmul node.
    pub a: NodeId,
    pub b: NodeId,
    pub out: NodeId,
    /// The product as its own kernel.
    pub product: Kernel,
    /// The epilogue kernel and the values bound to its arguments.
    pub epilogue: KernelStep,
}

impl MatMulStep {
    /// The first matmul with an epilogue in graph `text` (the text form of `ember_ir`).
    pub fn parse(text: &str) -> MatMulStep {
        let graph = Graph::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let schedule = fuse::partition(&graph).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let (a, b, out, epilogue) = schedule
            .steps
            .into_iter()
            .find_map(|s| match s {
                Step::MatMul {
                    a,
                    b,
                    out,
                    epilogue: Some(e),
                } => Some((a, b, out, e)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no matmul with an epilogue in\n{text}"));
        let ty = graph.node(out).ty.clone();
        let nd = ty.shape.len();
        let batch = (nd > 2).then(|| ty.shape[..nd - 2].iter().product());
        let k = graph.node(a).ty.shape.last().copied().unwrap_or(0);
        let product = matmul(ty.dtype, batch, ty.shape[nd - 2], k, ty.shape[nd - 1], true);
        MatMulStep {
            graph,
            a,
            b,
            out,
            product,
            epilogue,
        }
    }

    /// The epilogue's input arguments bound to the product.
    pub fn product_args(&self) -> Vec<ArgId> {
        let inputs = self.epilogue.kernel.args.iter().enumerate();
        inputs
            .filter(|(_, a)| !a.output)
            .zip(&self.epilogue.inputs)
            .filter(|(_, &v)| v == self.out)
            .map(|((i, _), _)| i as ArgId)
            .collect()
    }

    /// The product and the epilogue as one kernel, or why not.
    pub fn fused(&self) -> Result<Kernel, String> {
        let shape = &self.graph.node(self.out).ty.shape;
        ember_codegen::cuda::epilogue::fuse(
            &self.product,
            &self.epilogue.kernel,
            &self.product_args(),
            shape,
        )
    }
}

/// `relu(x @ w + bias)` as the runtime runs it on a device with the tiled kernel: one
/// kernel, the fusion pass's epilogue stored by the product.
pub fn fused_bias_relu(dt: DType, m: usize, k: usize, n: usize) -> Kernel {
    let t = dt.short_name();
    let text = format!(
        "%0 = input 0 : {t}[{m},{k}]\n%1 = input 1 : {t}[{k},{n}]\n%2 = input 2 : {t}[{n}]\n\
         %3 = matmul %0, %1\n%4 = add %3, %2\n%5 = relu %4\noutput 0 %5\n"
    );
    MatMulStep::parse(&text)
        .fused()
        .unwrap_or_else(|e| panic!("not fused: {e}"))
}

/// A batched product with a per-column scale, cast to float64, and both the float32 sum and
/// the cast stored: a multi-output, dtype-changing epilogue fused into the product.
pub fn fused_batched_two_outputs(b: usize, m: usize, k: usize, n: usize) -> Kernel {
    let text = format!(
        "%0 = input 0 : f32[{b},{m},{k}]\n%1 = input 1 : f32[{k},{n}]\n%2 = input 2 : f32[{n}]\n\
         %3 = matmul %0, %1\n%4 = multiply %3, %2\n%5 = cast{{f64}} %4\n%6 = tanh %5\n\
         output 0 %4\noutput 1 %6\n"
    );
    MatMulStep::parse(&text)
        .fused()
        .unwrap_or_else(|e| panic!("not fused: {e}"))
}

/// Every kernel shape the tests exercise, with a label: the canonical ones, every unary and
/// binary op and cast for every dtype, every reduction in thread and block shape.
pub fn all_kernels() -> Vec<(String, Kernel)> {
    let mut v = canonical();
    for dt in DType::ALL {
        for &op in UnaryOp::ALL {
            if let Some(k) = unary(op, dt, 37) {
                v.push((format!("unary {} {dt}", op.name()), k));
            }
        }
        for &op in BinaryOp::ALL {
            if ember_ir::kernel::binary_result(op, dt).is_ok() {
                v.push((
                    format!("binary {} {dt}", op.name()),
                    broadcast(op, dt, 3, 13),
                ));
            }
        }
        for to in DType::ALL {
            v.push((format!("cast {dt}->{to}"), cast(dt, to, 21)));
        }
        for &op in ReduceOp::ALL {
            for (r, c, p) in [(4, 9, true), (3, 100, true), (1, 300, false)] {
                v.push((
                    format!("reduce {} {dt} {r}x{c}", op.name()),
                    row_reduce(op, dt, r, c, p),
                ));
            }
        }
    }
    v.push(("full_sum f64".into(), full_sum(DType::F64, 1000)));
    v.push(("matmul f32".into(), matmul_bias_relu(DType::F32, 7, 33, 70)));
    v.push(("matmul i64".into(), matmul_bias_relu(DType::I64, 5, 9, 3)));
    v.push((
        "matmul f64 batched".into(),
        matmul(DType::F64, Some(3), 65, 17, 9, true),
    ));
    v.push((
        "matmul f32 shared b".into(),
        matmul(DType::F32, Some(2), 5, 1, 130, false),
    ));
    v.push((
        "matmul f64 fused epilogue".into(),
        fused_bias_relu(DType::F64, 9, 70, 65),
    ));
    v
}

/// The canonical kernels with golden files: `(file stem, kernel)`.
pub fn canonical() -> Vec<(String, Kernel)> {
    vec![
        ("w1_f32".into(), w1(DType::F32, 1000)),
        (
            "broadcast_add_f32".into(),
            broadcast(BinaryOp::Add, DType::F32, 64, 256),
        ),
        (
            "row_sum_f32".into(),
            row_reduce(ReduceOp::Sum, DType::F32, 128, 1000, true),
        ),
        (
            "row_argmax_f64".into(),
            row_reduce(ReduceOp::ArgMax, DType::F64, 16, 500, true),
        ),
        ("cast_f32_i32".into(), cast(DType::F32, DType::I32, 1000)),
        ("int_ops_i64".into(), int_kernel(1000)),
        ("softmax_f32".into(), softmax(64, 100)),
        ("full_sum_f32".into(), full_sum(DType::F32, 4096)),
        ("scalar_f32".into(), scalar_kernel()),
        (
            "matmul_bias_relu_f32".into(),
            matmul_bias_relu(DType::F32, 100, 70, 50),
        ),
        (
            "matmul_batched_f64".into(),
            matmul(DType::F64, Some(4), 64, 33, 70, true),
        ),
        (
            "matmul_fused_epilogue_f32".into(),
            fused_bias_relu(DType::F32, 100, 70, 50),
        ),
        (
            "matmul_fused_two_outputs_f32".into(),
            fused_batched_two_outputs(3, 17, 20, 9),
        ),
    ]
}

/// True when NVRTC is usable; otherwise prints a loud SKIP line and returns false, or panics
/// when `EMBER_REQUIRE_NVRTC` is set.
pub fn nvrtc_or_skip(test: &str) -> bool {
    match ember_codegen::cuda::nvrtc::nvrtc() {
        Ok(_) => true,
        Err(e) => {
            if std::env::var_os("EMBER_REQUIRE_NVRTC").is_some_and(|v| !v.is_empty()) {
                panic!("EMBER_REQUIRE_NVRTC is set but NVRTC is unavailable: {e}");
            }
            loud(&format!("*** SKIP {test}: NVRTC unavailable ({e}) ***"));
            false
        }
    }
}

/// Writes a line to stderr past the test harness's output capture, so a skipped check is
/// visible even when the test passes.
pub fn loud(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n{line}\n");
}
