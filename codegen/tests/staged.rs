//! Staged vector loops and the wide math routines they call (`cpu::wide`): on AVX-512 hosts an
//! elementwise loop with float32 `exp` / `tanh` / `sigmoid` (or a float64 loop, elementwise or
//! reducing, with `exp` / `sigmoid` / `tanh` / `log` / `cos` / `sin` / `expm1`) runs over
//! blocks, its math as 512-bit block calls. Checked against the interpreter on random graphs at
//! sizes around the block size, strided and in place, and the routines bit for bit against the
//! inline math; float64 reductions (full, split over the pool, per row, several accumulators,
//! NaN and infinities) against the interpreter and their sums against the accuracy bounds of
//! the vector loop's, and that they do run staged.

mod common;

use common::{buffer, check_schedule, values, Rng};
use ember_codegen::cpu::vector::staged_reductions;
use ember_codegen::cpu::wide::{self, BLOCK};
use ember_codegen::cpu::{CpuBackend, KernelArg};
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::interp::{self, Buffer};
use ember_ir::kernel::Kernel;
use ember_ir::passes::fuse::partition;
use ember_ir::{
    BinaryOp, DType, Device, Graph, Literal, NodeId, Op, ReduceOp, Scalar, UnaryOp, ValueType,
};

fn inp(g: &mut Graph, dt: DType, shape: &[usize]) -> NodeId {
    g.input(ValueType::new(dt, shape), Device::Cpu)
}

fn add(g: &mut Graph, op: Op, args: &[NodeId]) -> NodeId {
    g.add(op, args, None).unwrap()
}

fn un(g: &mut Graph, op: UnaryOp, x: NodeId) -> NodeId {
    add(g, Op::Unary(op), &[x])
}

fn bin(g: &mut Graph, op: BinaryOp, a: NodeId, b: NodeId) -> NodeId {
    add(g, Op::Binary(op), &[a, b])
}

fn k(g: &mut Graph, v: f32) -> NodeId {
    add(g, Op::Const(Literal::scalar(Scalar::F32(v))), &[])
}

/// Sizes that leave no tail, a vector tail, a scalar tail, and less than one block.
fn sizes() -> Vec<usize> {
    vec![BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 13, 1000, 4096 + 7]
}

/// Checks every kernel of `g` against the interpreter on inputs in [lo, hi), contiguous and
/// strided (the strided run takes the scalar loop): 4 ulps, or an absolute bound where sums of
/// terms cancel.
fn check_graph(g: &Graph, rng: &mut Rng, lo: f64, hi: f64) {
    check_schedule(g, rng, (lo, hi), 4.0, 1e-6);
}

/// W1's graph on `[n]`.
fn w1(n: usize) -> Graph {
    let mut g = Graph::new();
    let a = inp(&mut g, DType::F32, &[n]);
    let b = inp(&mut g, DType::F32, &[n]);
    let c = inp(&mut g, DType::F32, &[n]);
    let ab = bin(&mut g, BinaryOp::Mul, a, b);
    let s = bin(&mut g, BinaryOp::Add, ab, c);
    let t = un(&mut g, UnaryOp::Tanh, s);
    let half = k(&mut g, 0.5);
    let t = bin(&mut g, BinaryOp::Mul, t, half);
    let nb = un(&mut g, UnaryOp::Neg, b);
    let e = un(&mut g, UnaryOp::Exp, nb);
    let one = k(&mut g, 1.0);
    let d = bin(&mut g, BinaryOp::Add, one, e);
    let q = bin(&mut g, BinaryOp::Div, a, d);
    let r = bin(&mut g, BinaryOp::Add, t, q);
    g.output(r).unwrap();
    g
}

#[test]
fn w1_matches_the_interpreter_around_the_block_size() {
    let mut rng = Rng(5);
    for n in sizes() {
        check_graph(&w1(n), &mut rng, -4.0, 4.0);
    }
}

#[test]
fn math_of_inputs_chains_masks_and_broadcasts() {
    let mut rng = Rng(17);
    for n in sizes() {
        // exp straight from an input (the call reads the input), a chain of calls, a mask
        // that crosses a call, a broadcast row, an int input cast to float32.
        let mut g = Graph::new();
        let x = inp(&mut g, DType::F32, &[3, n]);
        let row = inp(&mut g, DType::F32, &[1, n]);
        let i = inp(&mut g, DType::I32, &[3, n]);
        let e = un(&mut g, UnaryOp::Exp, x);
        let te = un(&mut g, UnaryOp::Tanh, e);
        let zero = k(&mut g, 0.0);
        let pos = bin(&mut g, BinaryOp::Gt, x, zero);
        let xr = bin(&mut g, BinaryOp::Mul, x, row);
        let s = un(&mut g, UnaryOp::Sigmoid, xr);
        let w = add(&mut g, Op::Where, &[pos, te, s]);
        let fi = add(&mut g, Op::Cast(DType::F32), &[i]);
        let ei = un(&mut g, UnaryOp::Exp, fi);
        let r = bin(&mut g, BinaryOp::Add, w, ei);
        let r2 = bin(&mut g, BinaryOp::Mul, r, e);
        g.output(r2).unwrap();
        check_graph(&g, &mut rng, -3.0, 3.0);
    }
}

#[test]
fn random_math_chains() {
    random_chains(DType::F32, 99, 24);
}

/// `rounds` random chains of 6 exp / tanh / sigmoid / neg and arithmetic ops over `dt`, at
/// sizes around the block, against the interpreter and bit for bit against the scalar loop.
fn random_chains(dt: DType, seed: u64, rounds: usize) {
    let mut rng = Rng(seed);
    let ops = [UnaryOp::Exp, UnaryOp::Tanh, UnaryOp::Sigmoid, UnaryOp::Neg];
    let bins = [BinaryOp::Add, BinaryOp::Mul, BinaryOp::Sub, BinaryOp::Max];
    for round in 0..rounds {
        let n = sizes()[round % sizes().len()];
        let mut g = Graph::new();
        let mut vals = vec![inp(&mut g, dt, &[n]), inp(&mut g, dt, &[n])];
        for _ in 0..6 {
            let a = vals[rng.below(vals.len())];
            let v = if rng.below(2) == 0 {
                un(&mut g, ops[rng.below(ops.len())], a)
            } else {
                let b = vals[rng.below(vals.len())];
                bin(&mut g, bins[rng.below(bins.len())], a, b)
            };
            vals.push(v);
        }
        // Keep values in a range where every op stays finite and well conditioned.
        let last = *vals.last().unwrap();
        let t = un(&mut g, UnaryOp::Tanh, last);
        g.output(t).unwrap();
        check_graph(&g, &mut rng, -2.0, 2.0);
        same_bits_staged_and_scalar(&g, &mut rng);
    }
}

/// The staged blocks compute exactly what the scalar loop computes: the wide routines and the
/// scalar inline math both choose the fast or exact path per element.
fn same_bits_staged_and_scalar(g: &Graph, rng: &mut Rng) {
    let s = partition(g).unwrap();
    let kern = &s.kernels()[0].kernel;
    let n: usize = kern.args[0].shape.iter().product();
    let ins: Vec<Vec<f64>> = kern
        .args
        .iter()
        .filter(|a| !a.output)
        .map(|a| values(rng, a.dtype, a.shape.iter().product(), -2.0, 2.0))
        .collect();
    let compiled = common::backend().compile(kern).unwrap();
    let run = |strided: bool| {
        let mut bufs = vec![Buffer::zeros(kern.args[0].dtype, &kern.args[0].shape)];
        for (a, v) in kern.args.iter().filter(|a| !a.output).zip(&ins) {
            bufs.push(buffer(a.dtype, &a.shape, v, strided));
        }
        compiled.run_buffers(&mut bufs).unwrap();
        bufs[0].to_f64s()
    };
    let (staged, scalar) = (run(false), run(true));
    // Only whole blocks run staged; the rest of the contiguous run is the vector loop.
    for i in 0..n / BLOCK * BLOCK {
        let (a, b) = (staged[i], scalar[i]);
        assert!(
            a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan(),
            "element {i}: staged {a:e}, scalar {b:e}\n{kern}"
        );
    }
}

#[test]
fn staged_loop_runs_in_place() {
    // out = tanh(a * b) + a written over `a`: every store of a block runs after the block's
    // loads, so reading `a` again in a later stage still sees the input.
    let n = 3 * BLOCK + 5;
    let mut g = Graph::new();
    let a = inp(&mut g, DType::F32, &[n]);
    let b = inp(&mut g, DType::F32, &[n]);
    let ab = bin(&mut g, BinaryOp::Mul, a, b);
    let t = un(&mut g, UnaryOp::Tanh, ab);
    let r = bin(&mut g, BinaryOp::Add, t, a);
    g.output(r).unwrap();
    let s = partition(&g).unwrap();
    let kern = &s.kernels()[0].kernel;
    let mut rng = Rng(3);
    let av: Vec<f32> = (0..n).map(|_| rng.uniform(-3.0, 3.0) as f32).collect();
    let bv: Vec<f32> = (0..n).map(|_| rng.uniform(-3.0, 3.0) as f32).collect();
    // The interpreter, with a separate output.
    let mut want = vec![Buffer::zeros(DType::F32, &[n])];
    for v in [&av, &bv] {
        let f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        want.push(Buffer::from_f64s(DType::F32, &[n], &f));
    }
    assert!(
        kern.args[0].output,
        "the output is the kernel's first argument"
    );
    interp::run(kern, &mut want).unwrap();
    let want = want[0].to_f64s();
    let compiled = common::backend().compile(kern).unwrap();
    let mut abuf = av.clone();
    let mut bbuf = bv.clone();
    let pa = abuf.as_mut_ptr() as *mut u8;
    let args = [
        KernelArg::new(pa, DType::F32, &[1]),
        KernelArg::new(pa, DType::F32, &[1]),
        KernelArg::new(bbuf.as_mut_ptr() as *mut u8, DType::F32, &[1]),
    ];
    // SAFETY: the output is exactly the first input's buffer and view (elementwise in place).
    unsafe { compiled.run(&args).unwrap() };
    for i in 0..n {
        let d = common::ulps(DType::F32, want[i], abuf[i] as f64);
        let close = (want[i] - abuf[i] as f64).abs() <= 1e-6 * (1.0 + want[i].abs());
        assert!(d <= 4.0 || close, "element {i}: {} vs {}", want[i], abuf[i]);
    }
}

/// Inputs for the routine checks: a dense sweep, every float32 special and the edges of the
/// fast paths.
fn sweep() -> Vec<f32> {
    let mut v: Vec<f32> = (0..20000).map(|i| -110.0 + i as f32 * 0.011).collect();
    v.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-40,
        -1e-40,
        f32::MAX,
        f32::MIN,
        86.0,
        -86.0,
        86.00001,
        -86.00001,
        88.72,
        88.73,
        -103.9,
        -104.0,
        9.5,
        -9.5,
        9.0109,
        1e-7,
        -1e-7,
    ]);
    // Groups of lanes that mix fast-path and exact-path values.
    for i in 0..64 {
        v.push(if i % 3 == 0 {
            -95.0 - i as f32
        } else {
            i as f32 * 0.37
        });
    }
    v
}

/// The inline math's results for `op` on `xs`, through the scalar loop (a strided view), where
/// every element takes its own fast or exact path, as in the wide routines.
fn inline_scalar(op: UnaryOp, xs: &[f32]) -> Vec<f32> {
    inline_scalar_of(op, DType::F32, xs)
}

/// [`inline_scalar`] for `dt`'s elements (`T` float32 or float64).
fn inline_scalar_of<T: Copy + Default>(op: UnaryOp, dt: DType, xs: &[T]) -> Vec<T> {
    let n = xs.len();
    let mut g = Graph::new();
    let x = inp(&mut g, dt, &[n]);
    let y = un(&mut g, op, x);
    g.output(y).unwrap();
    let s = partition(&g).unwrap();
    let kern = &s.kernels()[0].kernel;
    let compiled = common::backend().compile(kern).unwrap();
    let mut src: Vec<T> = xs.iter().flat_map(|&v| [v, T::default()]).collect();
    let mut out = vec![T::default(); n];
    let args = [
        KernelArg::new(out.as_mut_ptr() as *mut u8, dt, &[1]),
        KernelArg::new(src.as_mut_ptr() as *mut u8, dt, &[2]),
    ];
    // SAFETY: `src` holds 2n elements (stride 2), `out` n.
    unsafe { compiled.run(&args).unwrap() };
    out
}

/// Wide routine `f` (`op`) gives `want` (the inline math's results on `xs`) for each of
/// `lens` leading elements (odd lengths exercise the masked tail) and in place.
fn routine_matches<T: Copy + Default + std::fmt::LowerExp>(
    op: UnaryOp,
    f: unsafe extern "C" fn(*const T, *mut T, usize),
    xs: &[T],
    want: &[T],
    lens: [usize; 3],
    same: impl Fn(T, T) -> bool,
) {
    for len in lens {
        let mut got = vec![T::default(); len];
        // SAFETY: both buffers hold `len` elements.
        unsafe { f(xs.as_ptr(), got.as_mut_ptr(), len) };
        for i in 0..len {
            assert!(
                same(want[i], got[i]),
                "{op:?}({:e}): inline {:e}, wide {:e}",
                xs[i],
                want[i],
                got[i]
            );
        }
    }
    let mut buf = xs.to_vec();
    // SAFETY: one buffer, read and written at the same positions.
    unsafe { f(buf.as_ptr(), buf.as_mut_ptr(), buf.len()) };
    for i in 0..xs.len() {
        assert!(same(want[i], buf[i]), "{op:?}({:e}) in place", xs[i]);
    }
}

#[test]
fn wide_routines_match_the_inline_math_bit_for_bit() {
    if !wide_bodies_run() {
        eprintln!("no AVX-512 here: the routines run the scalar fallback, not compared");
        return;
    }
    let xs = sweep();
    let routines: [(UnaryOp, unsafe extern "C" fn(*const f32, *mut f32, usize)); 3] = [
        (UnaryOp::Exp, wide::ember_wide_exp_f32),
        (UnaryOp::Tanh, wide::ember_wide_tanh_f32),
        (UnaryOp::Sigmoid, wide::ember_wide_sigmoid_f32),
    ];
    for (op, f) in routines {
        let want = inline_scalar(op, &xs);
        routine_matches(op, f, &xs, &want, [xs.len(), xs.len() - 5, 7], |a, b| {
            a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()
        });
    }
}

#[test]
fn staged_tanh_is_bit_identical_to_the_unstaged_loop() {
    // tanh has no fast/exact split: the staged (contiguous) and the scalar (strided) loops of
    // one kernel give the same bits, which is only true if the block calls ran the same math.
    let xs = sweep();
    let n = xs.len();
    let want = inline_scalar(UnaryOp::Tanh, &xs);
    let mut g = Graph::new();
    let x = inp(&mut g, DType::F32, &[n]);
    let y = un(&mut g, UnaryOp::Tanh, x);
    g.output(y).unwrap();
    let s = partition(&g).unwrap();
    let compiled = common::backend().compile(&s.kernels()[0].kernel).unwrap();
    let mut src = xs.clone();
    let mut out = vec![0.0f32; n];
    let args = [
        KernelArg::new(out.as_mut_ptr() as *mut u8, DType::F32, &[1]),
        KernelArg::new(src.as_mut_ptr() as *mut u8, DType::F32, &[1]),
    ];
    // SAFETY: both buffers hold n contiguous elements.
    unsafe { compiled.run(&args).unwrap() };
    for i in 0..n {
        assert!(want[i].to_bits() == out[i].to_bits() || want[i].is_nan() && out[i].is_nan());
    }
    if !wide::available() {
        eprintln!("no AVX-512 here: the loop above ran unstaged");
    }
}

#[test]
fn streamed_output_matches_the_scalar_loop() {
    // An output of 8 MiB or more is stored to scratch and streamed out per block: the same
    // bits as the scalar (strided) loop, whatever the output's alignment.
    let n = (9 << 20) / 4 + 13;
    same_bits_staged_and_scalar(&w1(n), &mut Rng(41));
}

fn k64(g: &mut Graph, v: f64) -> NodeId {
    add(g, Op::Const(Literal::scalar(Scalar::F64(v))), &[])
}

/// Float64 inputs for the routine checks: a dense sweep over the whole range of `exp`, every
/// special, the edges of the fast path, of overflow and of the denormal range, values of
/// every magnitude (random bits), and groups that mix fast-path and exact-path lanes.
fn sweep64() -> Vec<f64> {
    let mut v: Vec<f64> = (0..30000).map(|i| -760.0 + i as f64 * 0.0493).collect();
    v.extend([
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        1e-310,
        -1e-310,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        -f64::EPSILON,
        705.0,
        -705.0,
        705.0000000000001,
        -705.0000000000001,
        709.782712893384,
        709.7827128933841,
        709.79,
        710.0,
        710.5,
        -708.3964185322641,
        -708.39641853226,
        -708.4,
        -720.0,
        -744.44,
        -745.1332191019411,
        -745.1332191019412,
        -745.2,
        -746.0,
        -746.5,
        -1000.0,
        1e-17,
        -1e-17,
        0.5 * std::f64::consts::LN_2,
        -0.5 * std::f64::consts::LN_2,
        36.7368005696771,
        -36.7368005696771,
        19.5,
        -19.5,
        19.500000000000004,
        -19.500000000000004,
        9.75,
        1e-300,
        -1e-300,
        1.0,
        -1.0,
        std::f64::consts::SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
        1.0000000000000002,
        0.9999999999999999,
        2.225073858507201e-308,
        f64::MIN_POSITIVE * 2.0,
    ]);
    // Positive values of every magnitude and near 1 (for `log`).
    let mut rng2 = Rng(65);
    for _ in 0..5000 {
        v.push(f64::from_bits(rng2.next() >> 1));
        v.push(1.0 + rng2.uniform(-0.3, 0.3));
    }
    let mut rng = Rng(64);
    for _ in 0..20000 {
        v.push(f64::from_bits(rng.next()));
    }
    for _ in 0..5000 {
        v.push(rng.uniform(-800.0, 800.0));
    }
    for i in 0..64 {
        v.push(if i % 3 == 0 {
            -710.0 - i as f64
        } else {
            i as f64 * 0.37
        });
    }
    v.extend(trig_and_expm1_edges());
    v
}

/// For `cos` / `sin`: large arguments on both sides of the fast limit (1e6, where lanes go to
/// libm), multiples of `pi/2` and their neighbours (the quadrant choice and the cancelling
/// reduction), a dense stretch of [-1e6, 1e6], and vectors that mix fast and libm lanes. For
/// `expm1`: values next to 0, both ends of its clamp (-40, 710) and the overflow limit.
fn trig_and_expm1_edges() -> Vec<f64> {
    let lim = 1.0e6f64;
    let mut v = vec![
        1e5,
        -1e5,
        1e15,
        -1e15,
        1e300,
        -1e300,
        lim,
        -lim,
        f64::from_bits(lim.to_bits() + 1),
        -f64::from_bits(lim.to_bits() + 1),
        f64::from_bits(lim.to_bits() - 1),
        -f64::from_bits(lim.to_bits() - 1),
        1e22,
        3e20,
        1e-10,
        -1e-10,
        1e-300,
        -1e-300,
        1e-320,
        -1e-320,
        709.78,
        709.782712893384,
        -800.0,
        -40.0,
        -40.00000000000001,
        -39.99999999999999,
        -37.0,
        710.0,
        710.0000000000001,
        std::f64::consts::FRAC_PI_4,
        -std::f64::consts::FRAC_PI_4,
    ];
    for k in -40i32..=40 {
        let m = k as f64 * std::f64::consts::FRAC_PI_2;
        v.extend([
            m,
            f64::from_bits(m.to_bits() + 1),
            f64::from_bits(m.to_bits().wrapping_sub(1)),
        ]);
        v.push(k as f64 * std::f64::consts::FRAC_PI_4);
    }
    for k in [1e3f64, 1e5, 636619.0] {
        let m = k * std::f64::consts::FRAC_PI_2;
        v.extend([m, -m, f64::from_bits(m.to_bits() + 1)]);
    }
    let mut rng = Rng(66);
    for _ in 0..4000 {
        v.push(rng.uniform(-lim, lim));
    }
    for i in 0..64 {
        v.push(if i % 3 == 0 {
            2e6 + i as f64
        } else {
            i as f64 * 0.37
        });
    }
    v
}

/// [`inline_scalar`] for float64.
fn inline_scalar64(op: UnaryOp, xs: &[f64]) -> Vec<f64> {
    inline_scalar_of(op, DType::F64, xs)
}

fn same64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()
}

/// True when the wide routines run their AVX-512 bodies; elsewhere they fall back to the
/// kernel IR's scalar semantics (libm), which the inline math only approximates.
fn wide_bodies_run() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[test]
fn wide_f64_routines_match_the_inline_math_bit_for_bit() {
    if !wide_bodies_run() {
        eprintln!("no AVX-512 here: the routines run the scalar fallback, not compared");
        return;
    }
    let xs = sweep64();
    let routines: [(UnaryOp, unsafe extern "C" fn(*const f64, *mut f64, usize)); 7] = [
        (UnaryOp::Log, wide::ember_wide_log_f64),
        (UnaryOp::Exp, wide::ember_wide_exp_f64),
        (UnaryOp::Sigmoid, wide::ember_wide_sigmoid_f64),
        (UnaryOp::Tanh, wide::ember_wide_tanh_f64),
        (UnaryOp::Cos, wide::ember_wide_cos_f64),
        (UnaryOp::Sin, wide::ember_wide_sin_f64),
        (UnaryOp::Expm1, wide::ember_wide_expm1_f64),
    ];
    for (op, f) in routines {
        let want = inline_scalar64(op, &xs);
        routine_matches(op, f, &xs, &want, [xs.len(), xs.len() - 3, 5], same64);
    }
}

#[test]
fn staged_f64_loops_are_bit_identical_to_the_scalar_loop() {
    // Whole blocks of a contiguous float64 `exp` / `sigmoid` run staged; the scalar (strided)
    // loop of the same kernel computes each element on its own path, as the wide routines do.
    let xs = sweep64();
    let ops = [
        UnaryOp::Exp,
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Log,
        UnaryOp::Cos,
        UnaryOp::Sin,
        UnaryOp::Expm1,
    ];
    for op in ops {
        let want = inline_scalar64(op, &xs);
        for n in [BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 13, xs.len()] {
            let mut g = Graph::new();
            let x = inp(&mut g, DType::F64, &[n]);
            let y = un(&mut g, op, x);
            g.output(y).unwrap();
            let s = partition(&g).unwrap();
            let compiled = common::backend().compile(&s.kernels()[0].kernel).unwrap();
            let mut src = xs[..n].to_vec();
            let mut out = vec![0.0f64; n];
            let args = [
                KernelArg::new(out.as_mut_ptr() as *mut u8, DType::F64, &[1]),
                KernelArg::new(src.as_mut_ptr() as *mut u8, DType::F64, &[1]),
            ];
            // SAFETY: both buffers hold n contiguous elements.
            unsafe { compiled.run(&args).unwrap() };
            for i in 0..n / BLOCK * BLOCK {
                assert!(
                    same64(want[i], out[i]),
                    "{op:?}({:e}), n = {n}: scalar {:e}, staged {:e}",
                    xs[i],
                    want[i],
                    out[i]
                );
            }
        }
    }
}

/// A float64 graph mixing arithmetic, `exp`, `tanh`, `sigmoid`, `log`, a mask across a call,
/// a broadcast row and a float32 input cast to float64.
fn f64_graph(n: usize) -> Graph {
    let mut g = Graph::new();
    let x = inp(&mut g, DType::F64, &[3, n]);
    let row = inp(&mut g, DType::F64, &[1, n]);
    let h = inp(&mut g, DType::F32, &[3, n]);
    let e = un(&mut g, UnaryOp::Exp, x);
    let te = un(&mut g, UnaryOp::Tanh, x);
    let e = bin(&mut g, BinaryOp::Add, e, te);
    let zero = k64(&mut g, 0.0);
    let pos = bin(&mut g, BinaryOp::Gt, x, zero);
    let xr = bin(&mut g, BinaryOp::Mul, x, row);
    let s = un(&mut g, UnaryOp::Sigmoid, xr);
    let w = add(&mut g, Op::Where, &[pos, e, s]);
    let hf = add(&mut g, Op::Cast(DType::F64), &[h]);
    let nh = un(&mut g, UnaryOp::Neg, hf);
    let eh = un(&mut g, UnaryOp::Exp, nh);
    let one = k64(&mut g, 1.0);
    let d = bin(&mut g, BinaryOp::Add, one, eh);
    let q = bin(&mut g, BinaryOp::Div, w, d);
    let r = bin(&mut g, BinaryOp::Mul, q, e);
    let ld = un(&mut g, UnaryOp::Log, d);
    let r = bin(&mut g, BinaryOp::Add, r, ld);
    g.output(r).unwrap();
    g
}

#[test]
fn f64_math_matches_the_interpreter_around_the_block_size() {
    let mut rng = Rng(64);
    for n in sizes() {
        check_graph(&f64_graph(n), &mut rng, -3.0, 3.0);
        same_bits_staged_and_scalar(&f64_graph(n), &mut rng);
    }
}

#[test]
fn random_f64_math_chains() {
    random_chains(DType::F64, 640, 16);
}

#[test]
fn large_f64_output_matches_the_scalar_loop() {
    // A float64 output of 8 MiB or more is stored in place (not streamed, as float32 outputs
    // are): the same bits as the scalar loop.
    let n = (9 << 20) / 8 + 13;
    let mut g = Graph::new();
    let x = inp(&mut g, DType::F64, &[n]);
    let e = un(&mut g, UnaryOp::Exp, x);
    let y = bin(&mut g, BinaryOp::Add, e, x);
    g.output(y).unwrap();
    same_bits_staged_and_scalar(&g, &mut Rng(42));
}

#[test]
fn f64_trig_and_expm1_match_the_interpreter_and_the_scalar_loop() {
    // `cos(a) * 2 + 1` (the call's result used by later arithmetic), `sin(a * row)`, and
    // `expm1` of a difference, fused into one staged loop with three calls.
    let mut rng = Rng(6401);
    for n in sizes() {
        let mut g = Graph::new();
        let a = inp(&mut g, DType::F64, &[2, n]);
        let row = inp(&mut g, DType::F64, &[1, n]);
        let c = un(&mut g, UnaryOp::Cos, a);
        let two = k64(&mut g, 2.0);
        let c2 = bin(&mut g, BinaryOp::Mul, c, two);
        let one = k64(&mut g, 1.0);
        let c2 = bin(&mut g, BinaryOp::Add, c2, one);
        let ar = bin(&mut g, BinaryOp::Mul, a, row);
        let s = un(&mut g, UnaryOp::Sin, ar);
        let d = bin(&mut g, BinaryOp::Sub, a, row);
        let e = un(&mut g, UnaryOp::Expm1, d);
        let r = bin(&mut g, BinaryOp::Add, c2, s);
        let r = bin(&mut g, BinaryOp::Mul, r, e);
        g.output(r).unwrap();
        check_graph(&g, &mut rng, -3.0, 3.0);
        same_bits_staged_and_scalar(&g, &mut rng);
    }
}

// Reductions in staged float64 loops: the accumulators are updated in the last stage, after
// the block calls, with the vector loop's accumulation (pairwise over the unrolled vectors,
// then TwoSum for float sums).

/// `out[] = reduce_i op(x[i])`, float64: a full reduction (split over the pool above 32768
/// elements).
fn full_math_kernel(op: UnaryOp, red: ReduceOp, n: usize) -> Kernel {
    let mut b = Builder::new("full_math");
    let x = b.arg(DType::F64, &[n], false);
    let out = b.arg(DType::F64, &[], true);
    let acc = b.acc(red, DType::F64);
    let i = b.open_loop(n, false);
    let v = b.load(x, &[i]);
    let y = b.unary(op, v);
    b.update(acc, y);
    b.close_loop();
    b.store(out, &[], acc);
    b.finish()
}

/// `out[r] = reduce_c op(x[r, c])`, float64: a row reduction (the inner loop is not parallel).
fn row_math_kernel(op: UnaryOp, red: ReduceOp, rows: usize, cols: usize) -> Kernel {
    let mut b = Builder::new("row_math");
    let x = b.arg(DType::F64, &[rows, cols], false);
    let out = b.arg(DType::F64, &[rows], true);
    let r = b.open_loop(rows, true);
    let acc = b.acc(red, DType::F64);
    let c = b.open_loop(cols, false);
    let v = b.load(x, &[r, c]);
    let y = b.unary(op, v);
    b.update(acc, y);
    b.close_loop();
    b.store(out, &[r], acc);
    b.close_loop();
    b.finish()
}

/// Inputs where `op` is defined and a product stays near 1.
fn math_range(op: UnaryOp, red: ReduceOp) -> (f64, f64) {
    match (op, red) {
        (UnaryOp::Log, ReduceOp::Prod) => (0.999, 1.001),
        (UnaryOp::Log, _) => (1e-3, 20.0),
        (_, ReduceOp::Prod) => (-1e-3, 1e-3),
        _ => (-10.0, 10.0),
    }
}

/// The tolerance (relative to `1 + |result|`) of reducing `n` results of magnitude at most
/// `max`: a sum within 4 eps of `sum |y|` plus the math's few ulps per term; products
/// `sqrt(n)`-ish roundings; max / min within the math's ulps (`check`'s `max_ulps`).
fn math_tol(red: ReduceOp, n: usize, max: f64) -> f64 {
    let eps = f64::EPSILON;
    match red {
        ReduceOp::Sum => 8.0 * eps * n as f64 * max,
        ReduceOp::Prod => eps * 8.0 * (n as f64).sqrt(),
        _ => 0.0,
    }
}

/// The largest `|op(x)|` over `math_range`.
fn math_max(op: UnaryOp) -> f64 {
    match op {
        UnaryOp::Exp => 22027.0,
        UnaryOp::Log => 3.0,
        _ => 1.0,
    }
}

/// Compiles `k` with a fresh backend (no cache hit) and returns how many staged reductions
/// that emitted.
fn staged_count(k: &Kernel) -> usize {
    let before = staged_reductions();
    CpuBackend::new().unwrap().compile(k).unwrap();
    staged_reductions() - before
}

#[test]
fn f64_reductions_of_math_match_the_interpreter() {
    let mut rng = Rng(7101);
    let ops = [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Tanh, UnaryOp::Sin];
    let reds = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod];
    // Around the block size (no tail, vector tail, scalar tail), and split over the pool with
    // parts that are not whole blocks.
    let ns = [BLOCK, BLOCK + 1, 3 * BLOCK + 13, 1000, 40_003];
    for op in ops {
        for red in reds {
            for (t, &n) in ns.iter().enumerate() {
                // Every length for sums; two per op for the others.
                if red != ReduceOp::Sum && t % 2 == 1 {
                    continue;
                }
                let k = full_math_kernel(op, red, n);
                let (lo, hi) = math_range(op, red);
                let vals = values(&mut rng, DType::F64, n, lo, hi);
                let tl = math_tol(red, n, math_max(op));
                for strided in [false, true] {
                    common::check(&k, &[buffer(DType::F64, &[n], &vals, strided)], 4.0, tl);
                }
            }
        }
    }
}

#[test]
fn f64_row_reductions_of_math_match_the_interpreter() {
    let mut rng = Rng(7102);
    for (op, red) in [
        (UnaryOp::Log, ReduceOp::Sum),
        (UnaryOp::Tanh, ReduceOp::Sum),
        (UnaryOp::Exp, ReduceOp::Max),
        (UnaryOp::Sin, ReduceOp::Min),
        (UnaryOp::Exp, ReduceOp::Prod),
    ] {
        for (rows, cols) in [(3, BLOCK), (5, 1000), (40, 3 * BLOCK + 13), (1000, 130)] {
            let k = row_math_kernel(op, red, rows, cols);
            let (lo, hi) = math_range(op, red);
            let vals = values(&mut rng, DType::F64, rows * cols, lo, hi);
            let tl = math_tol(red, cols, math_max(op));
            for strided in [false, true] {
                let x = buffer(DType::F64, &[rows, cols], &vals, strided);
                common::check(&k, &[x], 4.0, tl);
            }
        }
    }
}

#[test]
fn f64_reductions_of_math_are_staged() {
    // Full reductions (unsplit and split: the loop in the parts' helper), row reductions, and
    // several accumulators; float32 reductions stay unstaged.
    if !wide::available() {
        eprintln!("no AVX-512 here: nothing is staged");
        return;
    }
    for (k, what) in [
        (
            full_math_kernel(UnaryOp::Exp, ReduceOp::Sum, 1000),
            "exp sum",
        ),
        (
            full_math_kernel(UnaryOp::Log, ReduceOp::Sum, 40_003),
            "split log sum",
        ),
        (
            full_math_kernel(UnaryOp::Tanh, ReduceOp::Max, 40_003),
            "split tanh max",
        ),
        (
            row_math_kernel(UnaryOp::Sin, ReduceOp::Sum, 4, 1000),
            "row sin sum",
        ),
        (mixed_kernel(1000), "several accumulators"),
    ] {
        assert!(staged_count(&k) >= 1, "{what} is not staged\n{k}");
    }
    let mut b = Builder::new("f32_exp_sum");
    let x = b.arg(DType::F32, &[1000], false);
    let out = b.arg(DType::F32, &[], true);
    let acc = b.acc(ReduceOp::Sum, DType::F32);
    let i = b.open_loop(1000, false);
    let v = b.load(x, &[i]);
    let y = b.unary(UnaryOp::Exp, v);
    b.update(acc, y);
    b.close_loop();
    b.store(out, &[], acc);
    assert_eq!(staged_count(&b.finish()), 0, "float32 sums stay unstaged");
}

/// One float64 loop with a stored call result, a value from before the calls in the last
/// stage, and six accumulators: `y = exp(x) * w`, `out = y`, `s = sum(y)`, `m = max(sin x)`,
/// `t = sum(x)` (the input itself), `p = prod(1 + tanh(x) / n)`, `c = sum(int64(exp(x) > 2))`
/// and `a = any(sin(x) > 0.999)`.
fn mixed_kernel(n: usize) -> Kernel {
    let mut b = Builder::new("mixed");
    let x = b.arg(DType::F64, &[n], false);
    let w = b.arg(DType::F64, &[n], false);
    let out = b.arg(DType::F64, &[n], true);
    let mut outs: Vec<_> = (0..4).map(|_| b.arg(DType::F64, &[], true)).collect();
    outs.push(b.arg(DType::I64, &[], true));
    outs.push(b.arg(DType::Bool, &[], true));
    let s = b.acc(ReduceOp::Sum, DType::F64);
    let m = b.acc(ReduceOp::Max, DType::F64);
    let t = b.acc(ReduceOp::Sum, DType::F64);
    let p = b.acc(ReduceOp::Prod, DType::F64);
    let c = b.acc(ReduceOp::Sum, DType::I64);
    let a = b.acc(ReduceOp::Any, DType::Bool);
    let two = b.konst(Scalar::F64(2.0));
    let near = b.konst(Scalar::F64(0.999));
    let one = b.konst(Scalar::F64(1.0));
    let scale = b.konst(Scalar::F64(1.0 / n as f64));
    let i = b.open_loop(n, false);
    let xv = b.load(x, &[i]);
    let wv = b.load(w, &[i]);
    let e = b.unary(UnaryOp::Exp, xv);
    let y = b.binary(BinaryOp::Mul, e, wv);
    b.store(out, &[i], y);
    b.update(s, y);
    let sn = b.unary(UnaryOp::Sin, xv);
    b.update(m, sn);
    b.update(t, xv);
    let th = b.unary(UnaryOp::Tanh, xv);
    let th = b.binary(BinaryOp::Mul, th, scale);
    let th = b.binary(BinaryOp::Add, th, one);
    b.update(p, th);
    let big = b.binary(BinaryOp::Gt, e, two);
    let big = b.cast(DType::I64, big);
    b.update(c, big);
    let top = b.binary(BinaryOp::Gt, sn, near);
    b.update(a, top);
    b.close_loop();
    for (o, r) in outs.into_iter().zip([s, m, t, p, c, a]) {
        b.store(o, &[], r);
    }
    b.finish()
}

#[test]
fn several_accumulators_in_one_staged_loop_match_the_interpreter() {
    let mut rng = Rng(7103);
    for n in [BLOCK, 3 * BLOCK + 13, 1000, 40_003] {
        let k = mixed_kernel(n);
        let xs = values(&mut rng, DType::F64, n, -5.0, 5.0);
        let ws = values(&mut rng, DType::F64, n, -1.0, 1.0);
        for strided in [false, true] {
            let ins = [
                buffer(DType::F64, &[n], &xs, strided),
                buffer(DType::F64, &[n], &ws, strided),
            ];
            common::check(&k, &ins, 4.0, math_tol(ReduceOp::Sum, n, 150.0));
        }
    }
}

#[test]
fn staged_reductions_propagate_nan_and_inf() {
    // NaN and ±inf in a staged block, in the partial block, and in the scalar tail: sums
    // become NaN or ±inf (not NaN from the compensation), max / min NaN.
    let n = 3 * BLOCK + 13;
    for (op, red) in [
        (UnaryOp::Exp, ReduceOp::Sum),
        (UnaryOp::Log, ReduceOp::Sum),
        (UnaryOp::Tanh, ReduceOp::Sum),
        (UnaryOp::Exp, ReduceOp::Max),
        (UnaryOp::Log, ReduceOp::Min),
        (UnaryOp::Sin, ReduceOp::Max),
    ] {
        let k = full_math_kernel(op, red, n);
        let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, 800.0];
        for at in [5, 2 * BLOCK + 7, 3 * BLOCK + 3, n - 1] {
            for &v in &specials {
                let mut xs = vec![0.5; n];
                xs[at] = v;
                common::check(&k, &[Buffer::from_f64s(DType::F64, &[n], &xs)], 4.0, 1e-12);
            }
        }
        // Both infinities of the result: inf - inf is NaN.
        if op == UnaryOp::Log {
            let mut xs = vec![0.5; n];
            xs[9] = 0.0;
            xs[n - 20] = f64::INFINITY;
            common::check(&k, &[Buffer::from_f64s(DType::F64, &[n], &xs)], 4.0, 1e-12);
        }
    }
}

/// `sum` of `ys` in twice the working precision (TwoSum, as Ogita, Rump and Oishi's Sum2),
/// rounded once.
fn sum2(ys: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for &y in ys {
        let t = s + y;
        let bp = t - s;
        c += (s - (t - bp)) + (y - bp);
        s = t;
    }
    s + c
}

#[test]
fn staged_sums_are_compensated() {
    // Sums of `exp` (positive terms of different magnitudes), `log` of values spread evenly
    // around 1 on a log scale and `sin` (terms that cancel) keep the bounds of the vector
    // loop's sums (`tests/sums.rs`): within 6 eps of the sum for positive terms, 3 eps of
    // `sum |y|` plus 3 eps of the sum otherwise (eps = 2^-53), against the sum of the same
    // terms (the elementwise kernel computes the same bits as the staged loop) in twice the
    // working precision. A plain running sum of the `exp` terms misses the first bound.
    let mut rng = Rng(7104);
    let eps = f64::EPSILON / 2.0;
    for op in [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sin] {
        for n in [1000, 40_003, 300_001] {
            let mut xs = values(&mut rng, DType::F64, n, -7.0, 7.0);
            match op {
                UnaryOp::Exp => xs.iter_mut().for_each(|x| *x = *x * 2.0 - 6.0),
                UnaryOp::Log => xs.iter_mut().for_each(|x| *x = x.exp()),
                _ => {}
            }
            // Elementwise: the terms.
            let mut g = Graph::new();
            let xi = inp(&mut g, DType::F64, &[n]);
            let y = un(&mut g, op, xi);
            g.output(y).unwrap();
            let s = partition(&g).unwrap();
            let ew = common::backend().compile(&s.kernels()[0].kernel).unwrap();
            let mut ys = vec![0.0f64; n];
            let args = [
                KernelArg::new(ys.as_mut_ptr() as *mut u8, DType::F64, &[1]),
                KernelArg::new(xs.as_mut_ptr() as *mut u8, DType::F64, &[1]),
            ];
            // SAFETY: both buffers hold n contiguous elements.
            unsafe { ew.run(&args).unwrap() };
            let want = sum2(&ys);
            let abs = sum2(&ys.iter().map(|y| y.abs()).collect::<Vec<_>>());
            let k = full_math_kernel(op, ReduceOp::Sum, n);
            let red = common::backend().compile(&k).unwrap();
            let mut got = 0.0f64;
            let args = [
                KernelArg::new(xs.as_mut_ptr() as *mut u8, DType::F64, &[1]),
                KernelArg::new(&mut got as *mut f64 as *mut u8, DType::F64, &[]),
            ];
            // SAFETY: `xs` holds n contiguous elements, `got` one.
            unsafe { red.run(&args).unwrap() };
            let bound = if op == UnaryOp::Exp {
                6.0 * eps * want.abs()
            } else {
                eps * (3.0 * abs + 3.0 * want.abs())
            };
            assert!(
                (got - want).abs() <= bound,
                "{op:?} sum of {n}: got {got:e}, want {want:e}, error {:e} > {bound:e}",
                (got - want).abs()
            );
        }
    }
}
