//! The tiled matrix product of the CUDA backend without a GPU: which kernels take it, and the
//! grid simulator running its tiles, shared-memory slices, thread mapping and barriers
//! against the interpreter (exactly, on integer-valued inputs) and against a float64
//! reference (random floats): odd sizes that are not multiples of the tile, `k = 1` and
//! `k = 0`, float32 and float64, transposed and padded views, batched products with a batched
//! or a shared right operand.

#[path = "common/mod.rs"]
mod common;
mod cuda_common;

use common::{values, Rng};
use cuda_common::{matmul, matmul_bias_relu};
use ember_codegen::cuda::gemm::{BK, BM, BN};
use ember_codegen::cuda::grid::{plan_of, simulate, SimStats};
use ember_codegen::cuda::plan::Mode;
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::interp::{self, Buffer};
use ember_ir::kernel::Kernel;
use ember_ir::{BinaryOp, DType, ReduceOp};

/// How a matrix operand is laid out in its buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    /// C order.
    C,
    /// The last two axes swapped in memory (a transposed view: column-major matrices).
    T,
    /// Rows padded and the view starting past the buffer's first elements.
    Padded,
    /// The first (batch) axis broadcast with stride 0.
    Broadcast,
}

/// A buffer viewing `vals` (C order over `shape`) with `layout`.
fn laid_out(dt: DType, shape: &[usize], vals: &[f64], layout: Layout) -> Buffer {
    let nd = shape.len();
    let mut strides = vec![0isize; nd];
    let offset = if layout == Layout::Padded { 3 } else { 0 };
    let mut order: Vec<usize> = (0..nd).collect();
    if layout == Layout::T && nd >= 2 {
        order.swap(nd - 1, nd - 2);
    }
    // Innermost memory axis first.
    let mut s: isize = 1;
    for &d in order.iter().rev() {
        if layout == Layout::Broadcast && d == 0 {
            continue;
        }
        strides[d] = s;
        let pad = if layout == Layout::Padded && d + 1 == nd {
            5
        } else {
            0
        };
        s *= (shape[d] + pad) as isize;
    }
    let len = offset + s as usize;
    let mut data = vec![0.0; len.max(1)];
    for (flat, &v) in vals.iter().enumerate() {
        let mut rem = flat;
        let mut at = offset as isize;
        for d in (0..nd).rev() {
            at += (rem % shape[d]) as isize * strides[d];
            rem /= shape[d];
        }
        data[at as usize] = v;
    }
    let mut b = Buffer::from_f64s(dt, &[data.len()], &data);
    b.offset = offset;
    b.strides = strides;
    b
}

/// Values for `shape` (integers in [-9, 9] when `ints`), equal along axis 0 for a broadcast
/// layout.
fn operand(rng: &mut Rng, dt: DType, shape: &[usize], ints: bool, layout: Layout) -> Vec<f64> {
    let n: usize = shape.iter().product();
    let per = if layout == Layout::Broadcast {
        n / shape[0].max(1)
    } else {
        n
    };
    let mut v = values(rng, dt, per.max(1), -9.0, 9.0);
    if ints {
        v.iter_mut().for_each(|x| *x = x.round());
    }
    (0..n).map(|i| v[i % per.max(1)]).collect()
}

/// Runs `k` on the interpreter and on the simulated grid; returns both outputs (the last
/// argument) and the simulator's statistics.
fn run_both(k: &Kernel, ins: Vec<Buffer>, max_blocks: u32) -> (Vec<f64>, Vec<f64>, SimStats) {
    let out = k.args.last().expect("an output");
    let mut bufs = ins;
    bufs.push(Buffer::zeros(out.dtype, &out.shape));
    let mut want = bufs.clone();
    interp::run(k, &mut want).unwrap_or_else(|e| panic!("interpreter: {e}\n{k}"));
    let stats =
        simulate(k, &mut bufs, max_blocks).unwrap_or_else(|e| panic!("simulator: {e}\n{k}"));
    let last = bufs.len() - 1;
    (want[last].to_f64s(), bufs[last].to_f64s(), stats)
}

fn shape(batch: Option<usize>, r: usize, c: usize) -> Vec<usize> {
    batch.into_iter().chain([r, c]).collect()
}

#[test]
fn products_take_the_tiled_plan() {
    for dt in [DType::F32, DType::F64] {
        let k = matmul(dt, None, 7, 33, 70, false);
        let plan = plan_of(&k).expect("plan");
        assert_eq!(plan.mode, Mode::Gemm);
        let g = plan.gemm.expect("gemm");
        assert_eq!((g.i.1, g.j.1, g.p.1, g.batches()), (7, 70, 33, 1));
        let k = matmul(dt, Some(3), 5, 2, 9, false);
        assert_eq!(
            plan_of(&k).expect("plan").gemm.map(|g| g.batches()),
            Some(3)
        );
        assert_eq!(
            plan_of(&matmul_bias_relu(dt, 3, 4, 5)).expect("plan").mode,
            Mode::Gemm
        );
    }
    // Integer products, and bodies that are not a plain product, keep the generic plans.
    let int = matmul(DType::I64, None, 40, 40, 40, false);
    assert_ne!(plan_of(&int).expect("plan").mode, Mode::Gemm);
    assert_ne!(plan_of(&max_plus(40)).expect("plan").mode, Mode::Gemm);
    assert_ne!(plan_of(&row_store(40)).expect("plan").mode, Mode::Gemm);
}

/// `c[i, j] = max_p a[i, p] + b[p, j]`: a k loop of another shape.
fn max_plus(n: usize) -> Kernel {
    let dt = DType::F32;
    let mut b = Builder::new("max_plus");
    let (x, y) = (b.arg(dt, &[n, n], false), b.arg(dt, &[n, n], false));
    let out = b.arg(dt, &[n, n], true);
    let i = b.open_loop(n, true);
    let j = b.open_loop(n, false);
    let acc = b.acc(ReduceOp::Max, dt);
    let p = b.open_loop(n, false);
    let (u, v) = (b.load(x, &[i, p]), b.load(y, &[p, j]));
    let s = b.binary(BinaryOp::Add, u, v);
    b.update(acc, s);
    b.close_loop();
    b.store(out, &[i, j], acc);
    b.close_loop();
    b.close_loop();
    b.finish()
}

/// A product whose result is stored per row only (every column's thread would write it).
fn row_store(n: usize) -> Kernel {
    let dt = DType::F32;
    let mut b = Builder::new("row_store");
    let (x, y) = (b.arg(dt, &[n, n], false), b.arg(dt, &[n, n], false));
    let out = b.arg(dt, &[n], true);
    let i = b.open_loop(n, true);
    let j = b.open_loop(n, false);
    let acc = b.acc(ReduceOp::Sum, dt);
    let p = b.open_loop(n, false);
    let (u, v) = (b.load(x, &[i, p]), b.load(y, &[p, j]));
    let s = b.binary(BinaryOp::Mul, u, v);
    b.update(acc, s);
    b.close_loop();
    b.store(out, &[i], acc);
    b.close_loop();
    b.close_loop();
    b.finish()
}

#[test]
fn odd_sizes_and_layouts_match_the_interpreter_exactly() {
    let mut rng = Rng(3);
    let layouts = [Layout::C, Layout::T, Layout::Padded];
    for dt in [DType::F32, DType::F64] {
        for (m, kk, n) in [
            (1, 1, 1),
            (7, 1, 70),
            (64, 16, 64),
            (65, 33, 129),
            (130, 47, 3),
            (3, 100, 1),
            (4, 0, 5),
        ] {
            for (la, lb) in layouts
                .iter()
                .flat_map(|a| layouts.iter().map(move |b| (*a, *b)))
            {
                let k = matmul(dt, None, m, kk, n, false);
                let a = operand(&mut rng, dt, &[m, kk], true, la);
                let b = operand(&mut rng, dt, &[kk, n], true, lb);
                let ins = vec![
                    laid_out(dt, &[m, kk], &a, la),
                    laid_out(dt, &[kk, n], &b, lb),
                ];
                // Every grid size on one layout; the layouts on one grid-stride size.
                let grids: &[u32] = if (la, lb) == (Layout::C, Layout::C) {
                    &[1, 3, 1 << 16]
                } else {
                    &[3]
                };
                for &max_blocks in grids {
                    let (want, got, s) = run_both(&k, ins.clone(), max_blocks);
                    assert_eq!(
                        want, got,
                        "{dt} {m}x{kk}x{n} {la:?} @ {lb:?}, {max_blocks} blocks"
                    );
                    let tiles = m.div_ceil(BM) * n.div_ceil(BN);
                    assert_eq!(s.tiles, tiles);
                    assert_eq!(s.slices, tiles * kk.div_ceil(BK));
                    assert_eq!(s.barriers, 2 * s.slices);
                    assert_eq!(s.grid as usize, tiles.clamp(1, max_blocks as usize));
                    assert_eq!(s.block, 256);
                }
            }
        }
    }
}

#[test]
fn batched_products_with_batched_shared_and_broadcast_operands() {
    let mut rng = Rng(9);
    for dt in [DType::F32, DType::F64] {
        let (nb, m, kk, n) = (3, 67, 20, 9);
        for (b_batched, lb) in [
            (true, Layout::C),
            (true, Layout::T),
            (true, Layout::Broadcast),
            (false, Layout::C),
            (false, Layout::T),
        ] {
            for la in [Layout::C, Layout::T] {
                let k = matmul(dt, Some(nb), m, kk, n, b_batched);
                let bs = shape(b_batched.then_some(nb), kk, n);
                let a = operand(&mut rng, dt, &[nb, m, kk], true, la);
                let b = operand(&mut rng, dt, &bs, true, lb);
                let ins = vec![
                    laid_out(dt, &[nb, m, kk], &a, la),
                    laid_out(dt, &bs, &b, lb),
                ];
                for max_blocks in [1, 4] {
                    let (want, got, s) = run_both(&k, ins.clone(), max_blocks);
                    assert_eq!(want, got, "{dt} {la:?} @ {lb:?} (b batched: {b_batched})");
                    assert_eq!(s.tiles, nb * m.div_ceil(BM) * n.div_ceil(BN));
                }
            }
        }
    }
}

#[test]
fn random_floats_stay_close_to_a_float64_reference() {
    let mut rng = Rng(17);
    for (dt, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-14)] {
        let (m, kk, n) = (70, 300, 66);
        let k = matmul(dt, None, m, kk, n, false);
        let a = operand(&mut rng, dt, &[m, kk], false, Layout::C);
        let b = operand(&mut rng, dt, &[kk, n], false, Layout::T);
        let ins = vec![
            laid_out(dt, &[m, kk], &a, Layout::C),
            laid_out(dt, &[kk, n], &b, Layout::T),
        ];
        let (_, got, _) = run_both(&k, ins, 8);
        for i in 0..m {
            for j in 0..n {
                let (mut exact, mut scale) = (0.0, 0.0);
                for p in 0..kk {
                    exact += a[i * kk + p] * b[p * n + j];
                    scale += (a[i * kk + p] * b[p * n + j]).abs();
                }
                let err = (got[i * n + j] - exact).abs();
                assert!(
                    err <= tol * scale * (kk as f64).sqrt(),
                    "{dt} [{i}, {j}]: {} vs {exact}",
                    got[i * n + j]
                );
            }
        }
    }
}

#[test]
fn the_epilogue_runs_once_per_element_with_strided_bias() {
    let mut rng = Rng(29);
    for dt in [DType::F32, DType::F64] {
        let (m, kk, n) = (66, 19, 131);
        let k = matmul_bias_relu(dt, m, kk, n);
        let a = operand(&mut rng, dt, &[m, kk], true, Layout::T);
        let b = operand(&mut rng, dt, &[kk, n], true, Layout::Padded);
        let bias = operand(&mut rng, dt, &[n], true, Layout::Padded);
        let ins = vec![
            laid_out(dt, &[m, kk], &a, Layout::T),
            laid_out(dt, &[kk, n], &b, Layout::Padded),
            laid_out(dt, &[n], &bias, Layout::Padded),
        ];
        let (want, got, _) = run_both(&k, ins, 5);
        assert_eq!(want, got, "{dt}");
        assert!(got.iter().all(|&x| x >= 0.0) && got.iter().any(|&x| x > 0.0));
    }
}

#[test]
fn a_view_outside_its_buffer_is_an_error_not_a_wrong_answer() {
    let dt = DType::F32;
    let k = matmul(dt, None, 5, 6, 7, false);
    let mut a = laid_out(dt, &[5, 6], &[1.0; 30], Layout::C);
    a.strides = vec![7, 1];
    let b = laid_out(dt, &[6, 7], &[1.0; 42], Layout::C);
    let mut bufs = vec![a, b, Buffer::zeros(dt, &[5, 7])];
    let e = simulate(&k, &mut bufs, 4).expect_err("out of bounds");
    assert!(e.to_string().contains("outside"), "{e}");
}
