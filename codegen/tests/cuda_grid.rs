//! The CUDA lowering's grid logic on the CPU: every test kernel runs through the grid simulator
//! (blocks, threads, grid- and block-stride loops, vector path and tail, warp-shuffle and
//! shared-memory reductions) with several grid sizes, and must match the interpreter.
//! Inputs are integer-valued (or powers of two for products) so every summation order is
//! exact: a missed, doubled or misrouted element shows up as a difference, not as rounding.

#[path = "common/mod.rs"]
mod common;
mod cuda_common;

use common::{buffer, ulps, values, Rng};
use ember_codegen::cuda::grid::{plan_of, simulate, SimStats};
use ember_codegen::cuda::plan::Mode;
use ember_ir::kernel::interp::{self, Buffer};
use ember_ir::kernel::Kernel;
use ember_ir::{DType, ReduceOp};

/// Input buffers for the kernel's inputs: integer values in [lo, hi] (floats too), strided
/// (non-contiguous) when asked.
fn inputs(k: &Kernel, rng: &mut Rng, lo: f64, hi: f64, strided: bool) -> Vec<Buffer> {
    k.args
        .iter()
        .filter(|a| !a.output)
        .map(|a| {
            let n = a.shape.iter().product();
            let v: Vec<f64> = values(rng, a.dtype, n, lo, hi)
                .iter()
                .map(|x| x.round())
                .collect();
            buffer(a.dtype, &a.shape, &v, strided && !a.shape.is_empty())
        })
        .collect()
}

/// Runs the interpreter and the simulator (with at most `max_blocks` blocks) and compares
/// every output within `max_ulps` (exactly for non-floats).
fn check(k: &Kernel, ins: &[Buffer], max_blocks: u32, max_ulps: f64) -> SimStats {
    check_tol(k, ins, max_blocks, max_ulps, 0.0)
}

/// [`check`] that also accepts an absolute difference up to `abs_tol` (for float sums with
/// cancellation, whose error scales with the sum of magnitudes, not with the result).
fn check_tol(k: &Kernel, ins: &[Buffer], max_blocks: u32, max_ulps: f64, abs_tol: f64) -> SimStats {
    let mut bufs = Vec::new();
    let mut it = ins.iter();
    for a in &k.args {
        bufs.push(if a.output {
            Buffer::zeros(a.dtype, &a.shape)
        } else {
            it.next().expect("an input per input argument").clone()
        });
    }
    let mut want = bufs.clone();
    interp::run(k, &mut want).unwrap_or_else(|e| panic!("interpreter: {e}\n{k}"));
    let stats =
        simulate(k, &mut bufs, max_blocks).unwrap_or_else(|e| panic!("simulator: {e}\n{k}"));
    for (i, a) in k.args.iter().enumerate() {
        if !a.output {
            continue;
        }
        let (w, g) = (want[i].to_f64s(), bufs[i].to_f64s());
        for (j, (x, y)) in w.iter().zip(&g).enumerate() {
            let ok = if a.dtype.is_float() {
                ulps(a.dtype, *x, *y) <= max_ulps || (x - y).abs() <= abs_tol
            } else {
                x == y
            };
            assert!(
                ok,
                "output {i}[{j}]: interpreter {x:e}, simulated grid {y:e} (grid {} x {}, {:?})\n{k}",
                stats.grid,
                stats.block,
                plan_of(k).map(|p| p.mode)
            );
        }
    }
    stats
}

#[test]
fn every_test_kernel_matches_the_interpreter_on_several_grids() {
    let mut rng = Rng(21);
    for (label, k) in cuda_common::all_kernels() {
        let prod = label.contains("prod");
        let pow = label.contains("power");
        for max_blocks in [1, 3, 1 << 16] {
            for strided in [false, true] {
                let (lo, hi) = if prod || pow { (0.0, 2.0) } else { (-9.0, 9.0) };
                let ins = inputs(&k, &mut rng, lo, hi, strided);
                // The simulator computes every op with the interpreter's functions, so only
                // a summation order could differ: exact on integers, a few ULP on softmax's
                // sum of exponentials.
                let tol = if label.contains("softmax") { 4.0 } else { 0.0 };
                check(&k, &ins, max_blocks, tol);
            }
        }
    }
}

#[test]
fn grid_stride_and_vector_path_cover_every_element_once() {
    let mut rng = Rng(5);
    for n in [0, 1, 3, 4, 5, 255, 256, 257, 1023, 1025, 4099] {
        let k = cuda_common::cast(DType::I32, DType::I64, n);
        for max_blocks in [1, 2, 7] {
            let ins = inputs(&k, &mut rng, -100.0, 100.0, false);
            let s = check(&k, &ins, max_blocks, 0.0);
            // Contiguous, aligned: the vector path takes the multiples of 4, the tail the rest.
            assert_eq!(s.vector_iterations, n / 4, "n = {n}");
            assert_eq!(s.scalar_iterations, n % 4, "n = {n}");
            assert!(s.grid as usize <= (n.div_ceil(256)).max(1));
            // Strided: the run-time test fails and the scalar loop does everything.
            let ins = inputs(&k, &mut rng, -100.0, 100.0, true);
            let s = check(&k, &ins, max_blocks, 0.0);
            assert_eq!((s.vector_iterations, s.scalar_iterations), (0, n));
        }
    }
}

#[test]
fn block_reductions_over_odd_shapes_and_grids() {
    let mut rng = Rng(8);
    let shapes = [
        (1, 32),
        (3, 33),
        (5, 64),
        (2, 100),
        (7, 255),
        (4, 256),
        (3, 257),
        (2, 1000),
        (5, 2049),
    ];
    for dt in [DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool] {
        for &op in ReduceOp::ALL {
            for (r, c) in shapes {
                let k = cuda_common::row_reduce(op, dt, r, c, true);
                assert_eq!(plan_of(&k).expect("plan").mode, Mode::Block);
                for max_blocks in [1, 2, 64] {
                    let (lo, hi) = if op == ReduceOp::Prod {
                        (1.0, 2.0)
                    } else {
                        (-50.0, 50.0)
                    };
                    let ins = inputs(&k, &mut rng, lo, hi, c % 2 == 1);
                    let s = check(&k, &ins, max_blocks, 0.0);
                    let warps = s.block as usize / 32;
                    let bool_acc = matches!(op, ReduceOp::Any | ReduceOp::All)
                        || (dt == DType::Bool && matches!(op, ReduceOp::Max | ReduceOp::Min));
                    if bool_acc {
                        // One __syncthreads_or / __syncthreads_and per row, no shuffles.
                        assert_eq!((s.barriers, s.shuffles), (r, 0), "{} {dt}", op.name());
                        continue;
                    }
                    // Per row: 3 barriers and 5 shuffle rounds in each warp plus 5 in warp 0.
                    assert_eq!(s.barriers, 3 * r, "{} {dt} {r}x{c}", op.name());
                    assert_eq!(
                        s.shuffles,
                        5 * (warps + 1) * r,
                        "{} {dt} {r}x{c}",
                        op.name()
                    );
                }
            }
        }
    }
}

#[test]
fn argmax_ties_and_nans_follow_the_first_one() {
    let mut rng = Rng(17);
    for dt in [DType::F32, DType::F64] {
        for op in [
            ReduceOp::ArgMax,
            ReduceOp::ArgMin,
            ReduceOp::Max,
            ReduceOp::Min,
        ] {
            for (r, c) in [(4, 100), (3, 700)] {
                let k = cuda_common::row_reduce(op, dt, r, c, true);
                for trial in 0..6 {
                    // Few distinct values: many ties across threads and warps.
                    let mut v: Vec<f64> = (0..r * c).map(|_| (rng.below(4) as f64) - 2.0).collect();
                    if trial % 2 == 1 {
                        for _ in 0..(trial + 1) {
                            let at = rng.below(r * c);
                            v[at] = f64::NAN;
                        }
                    }
                    let ins = vec![buffer(dt, &[r, c], &v, false)];
                    check(&k, &ins, 2, 0.0);
                }
            }
        }
    }
}

#[test]
fn float_sums_stay_within_a_few_ulps_of_the_reference() {
    let mut rng = Rng(99);
    for (r, c) in [(3, 1000), (2, 100_000)] {
        let k = cuda_common::row_reduce(ReduceOp::Sum, DType::F32, r, c, true);
        // Positive values: no cancellation, so the relative error bound is meaningful.
        let v = values(&mut rng, DType::F32, r * c, 0.0, 1.0);
        check(&k, &[buffer(DType::F32, &[r, c], &v, false)], 4, 2.0);
    }
    let k = cuda_common::softmax(16, 300);
    let v = values(&mut rng, DType::F32, 16 * 300, -20.0, 20.0);
    check(&k, &[buffer(DType::F32, &[16, 300], &v, false)], 3, 4.0);
    let k = cuda_common::full_sum(DType::F32, 50_000);
    let v = values(&mut rng, DType::F32, 50_000, 0.0, 1.0);
    check(&k, &[buffer(DType::F32, &[50_000], &v, false)], 1, 2.0);
}

#[test]
fn canonical_kernels_on_random_floats() {
    let mut rng = Rng(4);
    for (label, k) in cuda_common::canonical() {
        let ins: Vec<Buffer> = k
            .args
            .iter()
            .filter(|a| !a.output)
            .map(|a| {
                let n = a.shape.iter().product();
                let v = values(&mut rng, a.dtype, n, -3.0, 3.0);
                buffer(a.dtype, &a.shape, &v, false)
            })
            .collect();
        if label.contains("int_ops") {
            continue;
        }
        // Sums of signed values: the error bound scales with the sum of magnitudes.
        check_tol(&k, &ins, 5, 4.0, 1e-4);
    }
}

/// Reductions over an empty extent store their identity (outputs start as zeros here, so
/// products, max, min and all show a missed store), in every grid shape.
#[test]
fn reductions_over_nothing_store_the_identity() {
    let mut rng = Rng(17);
    for (op, dt) in [
        (ReduceOp::Prod, DType::F32),
        (ReduceOp::Max, DType::F64),
        (ReduceOp::Min, DType::I32),
        (ReduceOp::All, DType::Bool),
        (ReduceOp::Prod, DType::I64),
    ] {
        for (rows, parallel) in [(5, true), (300, true), (1, false)] {
            let k = cuda_common::row_reduce(op, dt, rows, 0, parallel);
            let ins = inputs(&k, &mut rng, -3.0, 3.0, false);
            for blocks in [1, 2, 7] {
                check(&k, &ins, blocks, 0.0);
            }
        }
    }
}
